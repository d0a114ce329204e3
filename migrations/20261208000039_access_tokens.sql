-- Personal access tokens (issue 22): what MQTT tools give as their password to reach Lookout's
-- MQTT endpoint as a user. Only the SHA-256 of a secret is kept (a secret is 256 random bits, so
-- a fast hash is enough and the check costs nothing); the secret is shown once.
create table access_token (
    id           bigint generated always as identity primary key,
    user_id      bigint      not null references app_user (id),
    name         text        not null,
    secret_hash  bytea       not null unique,
    -- 'read', or 'read_publish': never more than the user's own rules allow.
    scope        text        not null check (scope in ('read', 'read_publish')),
    -- Topic filters narrowing the token below its user's rules; empty: as the user.
    filters      text[]      not null default '{}',
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    last_used_at timestamptz,
    -- Revoked, not deleted: the account page and the audit log keep naming it.
    revoked_at   timestamptz
);

create index access_token_user on access_token (user_id, created_at);
