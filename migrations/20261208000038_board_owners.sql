-- Boards operators build (issue 21). A rule of the new permission `compose` lets its role's
-- operators create boards of their own and bind their widgets to the topics its filter matches
-- (and they may read). Viewers and the public never compose, whatever a rule says.
alter type access_permission add value if not exists 'compose';

-- Who created a board, when it was an operator composing by a rule: they, and admins, edit it.
-- Boards an admin created, and every board from before, have none: only admins edit them.
alter table status_page add column owner_id bigint references app_user (id) on delete set null;
