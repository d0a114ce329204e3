-- The table of tower-sessions' PostgreSQL store, as that store makes it (schema `tower_sessions`,
-- table `session`), made here too so the schema is whole without the web server having run: the
-- queries that end a user's sessions are checked against it at compile time, and the CLI ends
-- sessions in a database the web server never opened. The store's own `create ... if not
-- exists` then finds it made.
create schema if not exists tower_sessions;

create table if not exists tower_sessions.session (
    id          text        primary key not null,
    data        bytea       not null,
    expiry_date timestamptz not null
);
