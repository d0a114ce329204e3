-- Who may do what with which topics: role × MQTT topic filter × read or publish. Admins may do
-- everything whatever the rules say; anonymous visitors never match a rule (they only ever see
-- published status pages).
create type access_permission as enum ('read', 'publish');

create table access_rule (
    id         bigint generated always as identity primary key,
    role       user_role         not null,
    -- An MQTT topic filter (`+` one level, `#` the rest), checked by the application on entry.
    filter     text              not null,
    permission access_permission not null,
    created_at timestamptz       not null default now(),
    unique (role, filter, permission)
);

-- A fresh install lets everyone who logs in watch every topic, and nobody but admins publish:
-- reading is what a dashboard is for, publishing reaches devices and must be granted.
insert into access_rule (role, filter, permission) values
    ('viewer', '#', 'read'),
    ('operator', '#', 'read');
