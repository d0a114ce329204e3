-- Board controls (issue 21): a button sends one payload, a switch its "on" or its "off", to a
-- command topic; the widget's topic and pointer are what it shows (the state as the device
-- reports it). Exactly controls have a command topic and an "on"; exactly switches an "off".
alter table status_widget drop constraint status_widget_kind_check;
alter table status_widget add constraint status_widget_kind_check
    check (kind in ('value', 'status', 'last_seen', 'sparkline', 'history', 'table',
                    'uptime_bar', 'uptime', 'gauge', 'text', 'button', 'switch'));
alter table status_widget
    add column command_topic text,
    add column payload_on    text,
    add column payload_off   text,
    add constraint status_widget_control_check check (
        (kind in ('button', 'switch')) = (command_topic is not null and payload_on is not null)
        and (kind = 'switch') = (payload_off is not null)
        and (command_topic is null or octet_length(command_topic) between 1 and 65535)
        and octet_length(coalesce(payload_on, '')) <= 4096
        and octet_length(coalesce(payload_off, '')) <= 4096);
