-- Arranging boards (issue 21): how much of a row each widget takes where the screen is wide
-- enough ('normal': one column, 'wide': two, 'full': the whole row).
alter table status_widget
    add column width text not null default 'normal'
        constraint status_widget_width_check check (width in ('normal', 'wide', 'full'));
