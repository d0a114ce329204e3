-- The widgets an incident affects (none: the page as a whole), so a visitor sees which parts of
-- a page it is about. A widget deleted later drops out when read, as for maintenance windows.
alter table incident add column widgets bigint[] not null default '{}'
    check (cardinality(widgets) <= 200);

-- A page of past incidents per month reads one page's incidents by when they were opened.
-- (incident_of_page already orders them so.)
