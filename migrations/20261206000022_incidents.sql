-- Incidents on status pages: what people tell visitors, in their own words, with a status that
-- moves from investigating to resolved and an update for each change. An incident belongs to
-- one page and goes with it.

create table incident (
    id bigint generated always as identity primary key,
    page_id bigint not null references status_page on delete cascade,
    title text not null check (char_length(title) between 1 and 120),
    status text not null check (status in ('investigating', 'identified', 'monitoring', 'resolved')),
    opened_at timestamptz not null default now(),
    -- When it was last resolved; null while it is open.
    resolved_at timestamptz
);

create index incident_of_page on incident (page_id, opened_at desc);

create table incident_update (
    id bigint generated always as identity primary key,
    incident_id bigint not null references incident on delete cascade,
    status text not null check (status in ('investigating', 'identified', 'monitoring', 'resolved')),
    message text not null check (char_length(message) between 1 and 4000),
    at timestamptz not null default now(),
    -- Who wrote it, for the audit trail; never shown to visitors.
    author text
);

create index incident_update_of_incident on incident_update (incident_id, at desc);
