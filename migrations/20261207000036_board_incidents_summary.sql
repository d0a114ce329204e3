-- Boards' incidents summary (issue 21): the open incidents of the boards its visitor may open,
-- and for operators and admins the alerts firing. Bound to no topic.
alter table status_widget drop constraint status_widget_kind_check;
alter table status_widget add constraint status_widget_kind_check
    check (kind in ('value', 'status', 'last_seen', 'sparkline', 'history', 'table',
                    'uptime_bar', 'uptime', 'gauge', 'text', 'button', 'switch', 'slider',
                    'devices', 'incidents'));
alter table status_widget add constraint status_widget_incidents_check
    check (kind <> 'incidents' or topic = '');
