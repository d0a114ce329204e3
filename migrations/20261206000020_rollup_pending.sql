-- What each batch adds to the rollups, now one row per batch: its folds per topic, series and
-- minute encoded in one value (`store::history::RollupDeltas::encode`). One row per fold
-- (migration 19) made the writer insert, and the fold delete, as many rows as a batch had
-- topic-minutes: a second message table in all but name, which cost a quarter of ingest.
create table rollup_pending (
    id        bigint      generated always as identity primary key,
    -- How many folds `folds` holds, so a fold transaction can bound what it takes without
    -- reading them, and the overview can say how much waits.
    fold_count integer    not null check (fold_count > 0),
    -- When the oldest value of the batch was received: how far the rollups lag.
    oldest     timestamptz not null,
    folds      bytea       not null
);

-- Folds are dense binary numbers: compressing them costs the writer time and saves little.
alter table rollup_pending alter column folds set storage external;

-- Rows live for seconds: vacuum as soon as folds have deleted a few hundred (and their
-- out-of-line chunks), so the table and its TOAST stay small.
alter table rollup_pending set (autovacuum_vacuum_scale_factor = 0,
                                autovacuum_vacuum_threshold = 200,
                                autovacuum_vacuum_cost_delay = 0,
                                toast.autovacuum_vacuum_scale_factor = 0,
                                toast.autovacuum_vacuum_threshold = 2000,
                                toast.autovacuum_vacuum_cost_delay = 0);

-- What waited in the old table is folded here, as `Store::fold_rollup_deltas` would have, into
-- each level's bucket (days and hours counted from the Unix epoch, as `Resolution::bucket_of`
-- does). Of equal receive times the first and last value are picked by either.
insert into value_rollup as r (topic_id, series, level, bucket, count, min, max, sum,
                               first_at, first_value, last_at, last_value)
select d.topic_id, d.series, l.level, date_bin(l.width, d.bucket, timestamptz 'epoch'),
       sum(d.count), min(d.min), max(d.max), sum(d.sum),
       min(d.first_at), (array_agg(d.first_value order by d.first_at))[1],
       max(d.last_at), (array_agg(d.last_value order by d.last_at desc))[1]
from rollup_delta d
cross join (values (1::int2, interval '1 minute'),
                   (2::int2, interval '1 hour'),
                   (3::int2, interval '1 day')) as l (level, width)
group by d.topic_id, d.series, l.level, date_bin(l.width, d.bucket, timestamptz 'epoch')
on conflict (topic_id, series, level, bucket) do update set
    count = r.count + excluded.count,
    min = least(r.min, excluded.min),
    max = greatest(r.max, excluded.max),
    sum = r.sum + excluded.sum,
    first_at = least(r.first_at, excluded.first_at),
    first_value = case when excluded.first_at < r.first_at
                  then excluded.first_value else r.first_value end,
    last_at = greatest(r.last_at, excluded.last_at),
    last_value = case when excluded.last_at >= r.last_at
                 then excluded.last_value else r.last_value end;

drop table rollup_delta;
