-- Each topic's message count moves to `latest`, whose row every batch upserts anyway: one row
-- written per topic per batch instead of two, the largest per-batch cost after the messages
-- themselves (bench/results/ingest.md). `topic.last_seen` was always `latest.received_at`.
alter table latest add column message_count bigint not null default 0;

update latest l set message_count = t.message_count from topic t where t.id = l.topic_id;

alter table topic drop column message_count, drop column last_seen;
