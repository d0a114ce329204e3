-- Uptime of a value against thresholds: an uptime widget bound to a topic (rather than to a
-- device) counts its bound field's level over time, as a status widget with the same settings
-- decides it. Every change of that level is recorded at the time of the message that made it.
-- `watch` names the topic, field and thresholds together
-- (app::domain::status_page::ThresholdWatch::key): widgets with equal settings share one record,
-- and changed settings start a new one.
create table threshold_transition (
    id    bigint generated always as identity primary key,
    watch text        not null,
    at    timestamptz not null,
    level text        not null check (level in ('up', 'degraded', 'down', 'unknown')),
    -- The value that made it, in words ("85 (down at 80)").
    cause text        not null
);

create index threshold_transition_watch_time on threshold_transition (watch, at desc);
