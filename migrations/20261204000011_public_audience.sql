-- The public audience (issue 16): the topics anonymous visitors may ever see through a published
-- status page, kept as access rules like a role's, under the name 'public'. No user ever has that
-- role, so the column leaves the user_role type for text with a check of its own.
alter table access_rule alter column role type text using role::text;
alter table access_rule add constraint access_rule_audience
    check (role in ('public', 'viewer', 'operator', 'admin'));
-- The public only ever reads, and only through pages.
alter table access_rule add constraint access_rule_public_reads_only
    check (role <> 'public' or permission = 'read');

-- Until now a published page showed whatever its widgets were bound to. So that an upgrade hides
-- nothing that is public today, the audience starts with exactly what published pages use: each
-- bound topic, each table's filter, and the topics that tell a followed device's state (every
-- liveness rule's device and status filters with the device's level filled in, as
-- app::access::device_filters does). Drafts add nothing: they were never public. A fresh install
-- has no pages, so its audience starts empty and nothing is public until an admin says so.
insert into access_rule (role, filter, permission)
select distinct 'public', w.topic, 'read'::access_permission
from status_widget w
join status_page p on p.id = w.page_id
where p.published and w.topic <> ''
on conflict do nothing;

insert into access_rule (role, filter, permission)
select distinct 'public', filled.filter, 'read'::access_permission
from status_widget w
join status_page p on p.id = w.page_id
cross join liveness_rule r
cross join lateral (values (r.device_filter), (r.status_topic)) as pattern (source)
cross join lateral (
    select array_to_string(
        array(
            select case when part = '+' then w.device else part end
            from unnest(string_to_array(pattern.source, '/')) with ordinality as l (part, n)
            order by n
        ),
        '/'
    ) as filter
) as filled
where p.published
  and w.kind = 'status'
  and pattern.source is not null
  -- A name that is not one whole topic level names no device.
  and w.device <> ''
  and w.device !~ '[/+#]'
on conflict do nothing;
