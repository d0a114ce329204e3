-- Numbers inside JSON payloads, named by admins: a JSON pointer into the payloads of the topics a
-- filter matches, with a label and a unit. The batch writer rolls each up under its id
-- (`value_rollup.series`; 0 stays the payload's own number). The filter and the pointer are what
-- the rollups were made of, so they never change: a different field is a new series.
create table value_series (
    id          integer generated always as identity (start with 1) primary key,
    topic_filter text        not null check (char_length(topic_filter) between 1 and 256),
    pointer      text        not null check (char_length(pointer) between 2 and 200
                                             and left(pointer, 1) = '/'),
    label        text        not null check (char_length(label) between 1 and 64),
    unit         text        not null default '' check (char_length(unit) <= 16),
    created_at   timestamptz not null default now(),
    unique (topic_filter, pointer)
);

-- A deleted series' rollups are deleted by maintenance in batches (a busy series may have
-- millions of buckets; one statement would hold ingest up), found through this index. Only
-- named series' rows carry it, so the payloads' own numbers cost no extra index.
create index value_rollup_named_series on value_rollup (series) where series <> 0;
