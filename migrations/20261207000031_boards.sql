-- Boards (issue 21): a status page is a board, and says who may open it once published. Every
-- page that existed is a public board open to every signed-in role, so its address, exports and
-- caching stay as they were.
alter table status_page
    -- Anonymous visitors get its public view: only widgets inside the public audience.
    add column public  boolean   not null default true,
    -- Signed-in users of this role and above get their own view; admins always may.
    add column open_to user_role not null default 'viewer';
