-- Uptime: every change of a device's liveness, with its cause, and the stretches of time in
-- which Lookout could see at all, so availability over any window is computed exactly from
-- moments rather than sampled, and a window Lookout could not see is "no data", never up or
-- down (app::domain::uptime decides; server::uptime_watch records).

-- One row per change of state of one device of one liveness rule. The times are those the
-- change happened (the message that brought it back, the report that took it down, the moment
-- its silence passed the rule's grace), not when Lookout noticed.
create table device_transition (
    id      bigint generated always as identity primary key,
    rule_id bigint      not null references liveness_rule (id) on delete cascade,
    device  text        not null check (device <> ''),
    at      timestamptz not null,
    state   text        not null check (state in ('online', 'offline', 'unknown')),
    -- Why, in words a status page can show ("reported offline", "silent for 90 s").
    cause   text        not null
);

create index device_transition_device_time on device_transition (device, at desc);
create index device_transition_time on device_transition using brin (at);

-- The stretches in which the watching instance ran with the broker connected and storage
-- working. The watcher extends its open stretch every few seconds; whatever lies between two
-- stretches (Lookout stopped, the broker away, storage failing) is a blind window.
create table watch_span (
    id         bigint generated always as identity primary key,
    started_at timestamptz not null,
    seen_until timestamptz not null,
    check (seen_until >= started_at)
);

create index watch_span_until on watch_span (seen_until);

-- Status pages' uptime widgets: a bar of one cell per day over the last 30, 60 or 90 days, and
-- the uptime percentages over 24 hours to 90 days, both of a device.
alter table status_widget drop constraint status_widget_kind_check;
alter table status_widget add constraint status_widget_kind_check
    check (kind in ('value', 'status', 'last_seen', 'sparkline', 'history', 'table',
                    'uptime_bar', 'uptime'));
alter table status_widget
    add column uptime_days smallint not null default 90 check (uptime_days in (30, 60, 90));
