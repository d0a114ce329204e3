-- Status pages' gauge widget: the bound value on a dial from scale_min to scale_max, which only a
-- gauge has.
alter table status_widget drop constraint status_widget_kind_check;
alter table status_widget add constraint status_widget_kind_check
    check (kind in ('value', 'status', 'last_seen', 'sparkline', 'history', 'table',
                    'uptime_bar', 'uptime', 'gauge'));
alter table status_widget
    add column scale_min double precision,
    add column scale_max double precision,
    add constraint status_widget_scale_check check (
        (kind = 'gauge') = (scale_min is not null and scale_max is not null)
        and (kind <> 'gauge' or scale_min < scale_max));
