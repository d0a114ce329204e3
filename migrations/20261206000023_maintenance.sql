-- Maintenance windows of status pages: planned time in which a page, or some of its widgets, is
-- expected to be down. Alerts about what a window covers are muted while it is in effect, the
-- page announces it, and uptime leaves it out unless `counted`. A window happens once, or again
-- every day or week at the same UTC time until `until`.

create table maintenance (
    id bigint generated always as identity primary key,
    page_id bigint not null references status_page on delete cascade,
    title text not null check (char_length(title) between 1 and 120),
    message text not null default '' check (char_length(message) <= 4000),
    starts_at timestamptz not null,
    duration_minutes integer not null check (duration_minutes between 1 and 10080),
    repeat text not null check (repeat in ('once', 'daily', 'weekly')),
    -- No occurrence starts after this; null: it repeats until deleted.
    until timestamptz,
    -- Whether uptime counts the time as it was; otherwise it is left out like time not seen.
    counted boolean not null default false,
    -- The widgets it covers; null: the whole page. A widget deleted later drops out when read.
    widgets bigint[] check (cardinality(widgets) between 1 and 200),
    -- Who planned it, for the audit trail; never shown to visitors.
    author text,
    created_at timestamptz not null default now()
);

create index maintenance_of_page on maintenance (page_id);
