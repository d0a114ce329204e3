-- Following a status page. E-mail subscribers sign up on the public page and are written to
-- only once they confirm (double opt-in); webhooks are added by an admin. Each has a secret
-- token: the links in its e-mails (confirm, unsubscribe) carry it, so it is kept as it is.
alter table status_page
    -- The e-mail channel (its server and sender) that writes to the page's subscribers; null:
    -- the page takes no e-mail subscriptions.
    add column mail_channel_id bigint references alert_channel on delete set null;

create table page_follower (
    id bigint generated always as identity primary key,
    page_id bigint not null references status_page on delete cascade,
    kind text not null check (kind in ('email', 'webhook')),
    -- An e-mail address, or a webhook's URL.
    address text not null check (char_length(address) <= 2048),
    token text not null unique check (char_length(token) = 32),
    -- Null while an e-mail subscription waits for its confirmation.
    confirmed_at timestamptz,
    created_at timestamptz not null default now(),
    -- When its confirmation was last sent, so typing an address again does not flood it.
    asked_at timestamptz,
    unique (page_id, kind, address)
);

create index page_follower_signups on page_follower (page_id, created_at) where confirmed_at is null;

-- What is owed to followers: one row per follower and piece of news, sent by every instance's
-- outbox sender under a lease and retried with backoff, as alert notices are (`alert_notice`).
create table page_delivery (
    id bigint generated always as identity primary key,
    follower_id bigint not null references page_follower on delete cascade,
    -- app::domain::subscription::PageNews.
    news jsonb not null,
    created_at timestamptz not null default now(),
    status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    attempts integer not null default 0,
    next_attempt timestamptz not null default now(),
    last_error text check (char_length(last_error) <= 500),
    finished_at timestamptz
);

create index page_delivery_due on page_delivery (next_attempt) where status = 'pending';
create index page_delivery_finished on page_delivery (finished_at) where status <> 'pending';
