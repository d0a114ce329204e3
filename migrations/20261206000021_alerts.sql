-- Alerts: channels that notices go to, rules that watch, each rule's state per subject, and the
-- outbox of notices. The engine (server/src/alerts.rs, on the one instance holding the uptime
-- watch) writes a subject's new state and the notices it causes in one transaction, so an
-- instance that takes over reads where the last one stopped and tells nothing twice; senders on
-- any instance drain the outbox (server/src/alert_outbox.rs).

create table alert_channel (
    id bigint generated always as identity primary key,
    name text not null unique check (char_length(name) between 1 and 64),
    format text not null check (format in ('webhook', 'slack', 'discord', 'teams', 'telegram',
                                           'ntfy', 'gotify', 'matrix', 'email')),
    url text not null check (char_length(url) between 1 and 2048),
    -- Null: the format's default (app::domain::notice::ChannelFormat::default_template).
    template text check (octet_length(template) <= 4096),
    enabled boolean not null default true,
    -- Since when its sends have failed without a delivery between, and the last reason: shown on
    -- the overview, so a channel that keeps failing is not found out by a missed alert.
    failing_since timestamptz,
    last_error text check (char_length(last_error) <= 500),
    created_at timestamptz not null default now()
);

create table alert_rule (
    id bigint generated always as identity primary key,
    name text not null unique check (char_length(name) between 1 and 64),
    -- What is bad (app::domain::alerting::Condition) and how its state moves (Timing), checked
    -- by the domain before they are stored.
    condition jsonb not null,
    timing jsonb not null,
    severity text not null check (severity in ('info', 'warning', 'critical')),
    enabled boolean not null default true,
    created_at timestamptz not null default now()
);

create table alert_rule_channel (
    rule_id bigint not null references alert_rule on delete cascade,
    channel_id bigint not null references alert_channel on delete cascade,
    primary key (rule_id, channel_id)
);

-- One rule's state for one subject (a device, a topic; '' for a rule about one thing), written
-- when its firing changes or it tells something.
create table alert_state (
    rule_id bigint not null references alert_rule on delete cascade,
    subject text not null check (char_length(subject) <= 2048),
    state jsonb not null,
    firing boolean not null,
    -- Since when it fires, while it does.
    since timestamptz,
    -- The value that decided last, as read.
    value text not null default '' check (char_length(value) <= 200),
    updated_at timestamptz not null,
    primary key (rule_id, subject)
);

create table alert_notice (
    id bigint generated always as identity primary key,
    -- Null for a channel's test, and once the rule is deleted.
    rule_id bigint references alert_rule on delete set null,
    channel_id bigint not null references alert_channel on delete cascade,
    -- app::domain::notice::Notice without its id, which is this row's.
    notice jsonb not null,
    created_at timestamptz not null default now(),
    status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    attempts integer not null default 0,
    -- When a sender may take it next: a retry's backoff, or a claim's lease while it is sent.
    next_attempt timestamptz not null default now(),
    last_error text check (char_length(last_error) <= 500),
    finished_at timestamptz
);

create index alert_notice_due on alert_notice (next_attempt) where status = 'pending';
create index alert_notice_of_rule on alert_notice (rule_id, id desc);
create index alert_notice_finished on alert_notice (finished_at) where status <> 'pending';
