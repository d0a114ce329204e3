-- Alert channels and rules kept in the config file: made or updated at each start from the file,
-- deleted when they leave it, and not changed from the admin page (the file would undo it).

alter table alert_channel add column from_config boolean not null default false;
alter table alert_rule add column from_config boolean not null default false;
