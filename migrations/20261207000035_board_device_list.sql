-- Boards' device list (issue 21): the devices with topics under the widget's filter, each with
-- its liveness.
alter table status_widget drop constraint status_widget_kind_check;
alter table status_widget add constraint status_widget_kind_check
    check (kind in ('value', 'status', 'last_seen', 'sparkline', 'history', 'table',
                    'uptime_bar', 'uptime', 'gauge', 'text', 'button', 'switch', 'slider',
                    'devices'));
