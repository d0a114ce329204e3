-- Public status pages (issue 6): pages an admin builds from widgets, each widget bound to one
-- topic (or, for a table, a topic filter) and one field of its payload.

create table status_page (
    id          bigint generated always as identity primary key,
    -- The address: /status/<slug>. No dots, so /status/<slug>.json is never another page.
    slug        text        not null unique
                check (slug ~ '^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$'),
    title       text        not null,
    description text        not null default '',
    -- A draft is a 404 for everyone but admins.
    published   boolean     not null default false,
    updated_at  timestamptz not null default now()
);

create table status_widget (
    id          bigint generated always as identity primary key,
    page_id     bigint      not null references status_page (id) on delete cascade,
    position    integer     not null,
    kind        text        not null
                check (kind in ('value', 'status', 'last_seen', 'sparkline', 'history', 'table')),
    label       text        not null,
    -- A topic name; a topic filter for a table; empty for a status that follows a device.
    topic       text        not null default '',
    -- The JSON pointer of the one payload field shown (empty: the payload itself).
    pointer     text        not null default '',
    unit        text        not null default '',
    worse       text        not null default 'above' check (worse in ('above', 'below')),
    degraded_at double precision,
    down_at     double precision,
    -- A status widget that follows a device's liveness names it here.
    device      text,
    range       text        not null default '24h',
    -- The status last recorded in status_change, so each change is recorded once.
    last_level  text
);

create index status_widget_page on status_widget (page_id, position);

-- The Atom feed of status changes.
create table status_change (
    id          bigint generated always as identity primary key,
    widget_id   bigint      not null references status_widget (id) on delete cascade,
    at          timestamptz not null,
    from_level  text,
    to_level    text        not null
);

create index status_change_widget_time on status_change (widget_id, at desc);
