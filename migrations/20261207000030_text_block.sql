-- Status pages' text block: Markdown an admin wrote, bound to no topic; only a text block has it.
alter table status_widget drop constraint status_widget_kind_check;
alter table status_widget add constraint status_widget_kind_check
    check (kind in ('value', 'status', 'last_seen', 'sparkline', 'history', 'table',
                    'uptime_bar', 'uptime', 'gauge', 'text'));
alter table status_widget
    add column markdown text,
    add constraint status_widget_markdown_check check (
        (kind = 'text') = (markdown is not null)
        and (kind <> 'text' or (topic = '' and char_length(markdown) between 1 and 4000)));
