-- What each batch adds to the rollups, appended in the batch's own transaction: one row per
-- topic, series and minute of the batch, a plain insert with no index to keep and no row to find
-- and update. One instance at a time folds them into value_rollup's minutes, hours and days
-- every few seconds (`Store::fold_rollup_deltas`), deleting what it merged in the same
-- transaction, so a value is counted in the rollups exactly once however either of them fails.
-- Merging every batch into three levels in place made each message cost three row updates and
-- ingest several times slower.
create table rollup_delta (
    topic_id    bigint           not null,
    series      integer          not null,
    -- The whole minute the values were received in.
    bucket      timestamptz      not null,
    count       bigint           not null check (count > 0),
    min         double precision not null,
    max         double precision not null,
    sum         double precision not null,
    first_at    timestamptz      not null,
    first_value double precision not null,
    last_at     timestamptz      not null,
    last_value  double precision not null
);

-- Rows live for seconds: vacuum as soon as a fold has deleted a few thousand, so the next fold's
-- scan does not walk what earlier ones left.
alter table rollup_delta set (autovacuum_vacuum_scale_factor = 0,
                              autovacuum_vacuum_threshold = 5000,
                              autovacuum_vacuum_cost_delay = 0);
