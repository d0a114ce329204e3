-- What a logged-in person may do; the access policy maps each role to pages and topics. An enum,
-- not free text, so a typo in SQL or code cannot invent a role that the policy does not know.
create type user_role as enum ('viewer', 'operator', 'admin');

-- People who log in. The password is only ever stored as an argon2id PHC string (algorithm,
-- parameters and salt included), so parameters can be raised later without a schema change.
create table app_user (
    id                  bigint generated always as identity primary key,
    name                text        not null,
    password_hash       text        not null,
    role                user_role   not null,
    -- Disabled rather than deleted: the audit log keeps pointing at who did what.
    disabled            boolean     not null default false,
    created_at          timestamptz not null default now(),
    password_changed_at timestamptz not null default now()
);

-- "Alice" and "alice" are one person: a login typed in another case must find the same row, and
-- nobody may register a look-alike of an existing name. Also the index of the login look-up.
create unique index app_user_name_key on app_user (lower(name));

-- Who is logged in where. tower-sessions keeps its sessions opaque (in schema tower_sessions),
-- so this maps each session id to its user: changing a password or disabling a user must end
-- all of that user's sessions, and that needs a way to find them.
create table user_session (
    session_id text        primary key,
    user_id    bigint      not null references app_user (id) on delete cascade,
    created_at timestamptz not null default now()
);

create index user_session_user on user_session (user_id);

-- Logins, failures, logouts, publishes and admin changes, newest last. Rows are only ever added.
create table audit_log (
    id            bigint generated always as identity primary key,
    at            timestamptz not null default now(),
    -- Null when nobody known acted: a failed login for a name that does not exist, the CLI.
    actor_user_id bigint      references app_user (id),
    -- The name as typed (a failed login's), or a stand-in such as 'cli'; kept even when it matches
    -- no user, which is what an attack looks like.
    actor_name    text,
    client_addr   text,
    -- 'login', 'login_failed', 'logout', 'user_added', 'password_changed', 'user_disabled',
    -- 'user_enabled', 'role_changed', 'publish', ... Text rather than an enum so a new kind of
    -- event needs no migration.
    action        text        not null,
    -- What the action was about (the target user, the topic), never a password.
    detail        jsonb       not null default '{}'
);

-- The audit page and any clean-up read by time.
create index audit_log_at on audit_log (at);
