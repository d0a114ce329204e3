-- Numeric values rolled up per topic and minute, hour and UTC day, so a chart of any range reads
-- a bounded number of rows instead of every stored value. The batch writer merges each batch's
-- values into all three levels in the transaction that stores the messages, so a rollup never
-- lags or double counts: a batch is in both or in neither.
--
-- One table, partitioned by level, so one statement merges a batch into every level and each
-- level keeps its own retention (maintenance deletes old buckets level by level).
create table value_rollup (
    topic_id    bigint           not null references topic (id),
    -- Which numbers of the topic: 0 is the payload's own number (`message.value`). Other series
    -- (named fields of JSON payloads) are to come; the key has room for them.
    series      integer          not null default 0,
    -- 1: minutes, 2: hours, 3: UTC days (`app::domain::history::Resolution`).
    level       smallint         not null,
    -- The start of the bucket: a whole minute, hour or UTC day.
    bucket      timestamptz      not null,
    count       bigint           not null check (count > 0),
    min         double precision not null,
    max         double precision not null,
    sum         double precision not null,
    first_at    timestamptz      not null,
    first_value double precision not null,
    last_at     timestamptz      not null,
    last_value  double precision not null,
    primary key (topic_id, series, level, bucket)
) partition by list (level);

create table value_rollup_minute partition of value_rollup for values in (1);
create table value_rollup_hour partition of value_rollup for values in (2);
create table value_rollup_day partition of value_rollup for values in (3);

-- Retention deletes by age. Buckets arrive roughly in time order, which is what a BRIN index
-- needs: a few pages instead of a second b-tree to keep up on every merge.
create index value_rollup_age on value_rollup using brin (bucket);

-- Messages stored before this migration have no rollups yet: maintenance rolls them up in the
-- background, one daily partition per transaction (with its progress, so a crash repeats
-- nothing), up to `cutoff`, the moment the writer began to roll up. Until `finished`, charts
-- reaching before `cutoff` read the raw rows. A new database has nothing to roll up.
create table rollup_backfill (
    only_row      boolean     primary key default true check (only_row),
    cutoff        timestamptz not null,
    -- Raw rows received before this are rolled up (null: none yet).
    done_before   timestamptz,
    finished      timestamptz
);

insert into rollup_backfill (cutoff, finished)
select now(), case when exists (select 1 from message) then null else now() end;
