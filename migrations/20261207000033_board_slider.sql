-- Board sliders (issue 21): a control that sends a number between scale_min and scale_max (the
-- columns a gauge's dial uses) on a step of scale_step, to its command topic; payload_on is its
-- template ('{value}' stands for the number; empty sends the number alone).
alter table status_widget drop constraint status_widget_kind_check;
alter table status_widget add constraint status_widget_kind_check
    check (kind in ('value', 'status', 'last_seen', 'sparkline', 'history', 'table',
                    'uptime_bar', 'uptime', 'gauge', 'text', 'button', 'switch', 'slider'));
alter table status_widget drop constraint status_widget_scale_check;
alter table status_widget add constraint status_widget_scale_check check (
    (kind in ('gauge', 'slider')) = (scale_min is not null and scale_max is not null)
    and (kind not in ('gauge', 'slider') or scale_min < scale_max));
alter table status_widget drop constraint status_widget_control_check;
alter table status_widget
    add column scale_step double precision,
    add constraint status_widget_control_check check (
        (kind in ('button', 'switch', 'slider')) = (command_topic is not null and payload_on is not null)
        and (kind = 'switch') = (payload_off is not null)
        and (kind = 'slider') = (scale_step is not null)
        and (scale_step is null or scale_step > 0)
        and (command_topic is null or octet_length(command_topic) between 1 and 65535)
        and octet_length(coalesce(payload_on, '')) <= 4096
        and octet_length(coalesce(payload_off, '')) <= 4096);
