-- Boards' multi-series chart (issue 21): 1 to 6 series, each a topic, a field (a JSON pointer)
-- and a label, drawn on one time axis and one value axis. The series are only ever read and
-- written with their widget, so they are a column of it (a jsonb array of
-- {"label", "topic", "pointer"}) rather than a table of their own; every other kind keeps it
-- null, so existing widgets are untouched. A chart is bound to its series: its topic is empty.
alter table status_widget drop constraint status_widget_kind_check;
alter table status_widget add constraint status_widget_kind_check
    check (kind in ('value', 'status', 'last_seen', 'sparkline', 'history', 'table',
                    'uptime_bar', 'uptime', 'gauge', 'text', 'button', 'switch', 'slider',
                    'devices', 'incidents', 'chart'));
alter table status_widget add column chart_series jsonb;
-- Nested cases, so jsonb_array_length never sees anything but an array.
alter table status_widget add constraint status_widget_chart_series_check check (
    case
        when kind <> 'chart' then chart_series is null
        when topic <> '' or jsonb_typeof(chart_series) is distinct from 'array' then false
        else jsonb_array_length(chart_series) between 1 and 6
    end);
