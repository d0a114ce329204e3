-- How to tell whether devices are alive: each rule names its devices with a topic filter whose one
-- `+` level is the device's name, how often a device is expected to send, and optionally the
-- status topic where it reports online or offline (its last will, typically). The application
-- checks every field on entry (app::liveness); the checks here only keep out what it never writes.
create table liveness_rule (
    id               bigint generated always as identity primary key,
    name             text        not null check (name <> ''),
    -- e.g. 'sensors/+/#': every topic under sensors/boiler/ belongs to the device 'boiler'.
    device_filter    text        not null unique,
    -- e.g. 'sensors/+/status'; null when devices report no status.
    status_topic     text,
    interval_seconds integer     not null check (interval_seconds > 0),
    -- The status payloads meaning online and offline (compared ignoring letter case).
    online_payload   text        not null default 'online',
    offline_payload  text        not null default 'offline',
    created_at       timestamptz not null default now()
);
