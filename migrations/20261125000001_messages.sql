-- Every topic ever seen. Messages refer to it by id so the big table does not repeat names.
create table topic (
    id            bigint generated always as identity primary key,
    name          text        not null unique,
    first_seen    timestamptz not null default now(),
    last_seen     timestamptz not null default now(),
    message_count bigint      not null default 0
);

-- What a payload is, decided once on receipt: valid JSON, other UTF-8 text, or bytes.
create type payload_kind as enum ('binary', 'text', 'json');

-- Every message received. Partitioned by receive time so that retention drops whole partitions
-- instead of deleting rows; the application creates daily partitions ahead of time.
create table message (
    topic_id    bigint           not null references topic (id),
    received_at timestamptz      not null,
    -- Exactly the bytes received, whatever the kind (JSON is kept byte for byte, not normalised).
    payload     bytea            not null,
    kind        payload_kind     not null,
    qos         smallint         not null check (qos between 0 and 2),
    retain      boolean          not null,
    -- The payload as a number when it is one (or a JSON object with a top-level number), so charts
    -- need no parsing.
    value       double precision
) partition by range (received_at);

-- Catches rows outside the prepared daily partitions (a clock far off), so an insert never fails.
create table message_default partition of message default;

create index message_topic_time on message (topic_id, received_at desc);

-- The newest message per topic: what every page starts from.
create table latest (
    topic_id    bigint primary key references topic (id),
    received_at timestamptz      not null,
    payload     bytea            not null,
    kind        payload_kind     not null,
    qos         smallint         not null,
    retain      boolean          not null,
    value       double precision
);

-- JSON payloads as jsonb, for queries (`where payload_json->>'state' = 'open'`). Only rows the
-- writer classified as JSON, so the cast cannot fail.
create view message_json as
select topic_id, received_at, convert_from(payload, 'UTF8')::jsonb as payload_json, qos, retain, value
from message
where kind = 'json';
