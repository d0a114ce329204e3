-- Every topic ever seen. Messages refer to it by id so the big table does not repeat names.
create table topic (
    id            bigint generated always as identity primary key,
    name          text        not null unique,
    first_seen    timestamptz not null default now(),
    last_seen     timestamptz not null default now(),
    message_count bigint      not null default 0
);

-- Every message received. Partitioned by receive time so that retention drops whole partitions
-- instead of deleting rows; the application creates daily partitions ahead of time.
create table message (
    topic_id    bigint           not null references topic (id),
    received_at timestamptz      not null,
    payload     bytea            not null,
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
    qos         smallint         not null,
    retain      boolean          not null,
    value       double precision
);
