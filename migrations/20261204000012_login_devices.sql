-- Browsers that have logged in as a user before ("device cookies", as OWASP describes them). A
-- login that presents one for the name it types is throttled per that browser only, so an
-- attacker tripping the throttle of a name cannot lock its owner out. A row grants no access:
-- the password is still checked. Only a SHA-256 of the cookie's random token is kept, so a copy
-- of this table cannot be replayed as cookies. In PostgreSQL rather than in memory so that every
-- instance behind a load balancer knows every device.
create table login_device (
    token_hash   bytea       primary key,
    user_id      bigint      not null references app_user (id) on delete cascade,
    created_at   timestamptz not null default now(),
    -- Rows unused for the device lifetime are worthless and deleted.
    last_used_at timestamptz not null default now(),
    -- Wrong passwords typed with this cookie since its last success, on any instance: at the
    -- limit the row is deleted, so a stolen cookie buys only a few guesses.
    failures     integer     not null default 0
);

-- Keeping each user's newest few devices, and forgetting them all at a password change.
create index login_device_user on login_device (user_id, last_used_at);

-- A failed login for a name that matches no user no longer keeps what was typed (it is often a
-- password typed into the name field): its row has no actor name, and the detail holds a short
-- keyed tag instead. Rows written before keep typed text, so it goes here too.
update audit_log a
set actor_name = null,
    detail = a.detail || '{"unknown_name": "removed"}'
where a.action = 'login_failed'
  and a.actor_user_id is null
  and a.actor_name is not null
  and not exists (select 1 from app_user u where lower(u.name) = lower(a.actor_name));
