-- Incidents proposed by firing alerts are worked out when the incident desk is read (from the
-- firing states and the pages' widgets); what is kept is what a person did with one: opened an
-- incident from it, or dismissed it. Keyed by the firing (its rule, subject and since when), so
-- the same alert firing again later proposes again.
create table incident_proposal_settled (
    rule_id bigint not null references alert_rule on delete cascade,
    subject text not null check (char_length(subject) <= 2048),
    page_id bigint not null references status_page on delete cascade,
    since timestamptz not null,
    outcome text not null check (outcome in ('opened', 'dismissed')),
    incident_id bigint references incident on delete set null,
    settled_at timestamptz not null default now(),
    primary key (rule_id, subject, page_id, since)
);

-- The desk reads the newest firings.
create index alert_state_firing on alert_state (since desc) where firing;
