-- A count of the changes to the alert rules and the channels each tells, so that the alert engine
-- reads the rules again only when they changed rather than all of them (up to 10,000) at every
-- look of the uptime watcher. Statement triggers count every change, whatever makes it (the
-- admin forms, the config file at start, a channel's deletion cascading to its rules), inside the
-- changing transaction: a reader that sees a new count sees the rules it counted.

create table alert_rules_revision (
    only_row boolean primary key default true check (only_row),
    revision bigint not null
);
insert into alert_rules_revision (revision) values (0);

create function count_alert_rules_change() returns trigger language plpgsql as $$
begin
    update alert_rules_revision set revision = revision + 1;
    return null;
end $$;

create trigger alert_rule_changed
    after insert or update or delete or truncate on alert_rule
    for each statement execute function count_alert_rules_change();
create trigger alert_rule_channel_changed
    after insert or update or delete or truncate on alert_rule_channel
    for each statement execute function count_alert_rules_change();
