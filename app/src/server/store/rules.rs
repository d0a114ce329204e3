//! The SQL of access rules: what each role, and the public audience, may read or publish. What
//! the rules allow is decided by the access policy (`server::access`), never here.

use super::{rule_change, RuleChange, Store};
use crate::domain::roles::{AccessRule, Audience, Permission};
use crate::domain::topic_filter::TopicFilter;

impl Store {
    /// Every access rule, by audience, permission and filter. A stored rule that no longer
    /// parses (none should: they are checked on entry) is skipped with a warning rather than
    /// granting anything.
    pub async fn access_rules(&self) -> Result<Vec<AccessRule>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select id, role, filter, permission::text as "permission!" from access_rule
               order by role, permission, filter"#
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let (id, audience, filter, permission) =
                    (row.id, row.role, row.filter, row.permission);
                let parsed = (
                    audience.parse::<Audience>().ok(),
                    TopicFilter::parse(&filter).ok(),
                    permission.parse::<Permission>().ok(),
                );
                match parsed {
                    (Some(audience), Some(filter), Some(permission)) => Some(AccessRule {
                        id,
                        audience,
                        filter,
                        permission,
                    }),
                    _ => {
                        tracing::warn!(id, %filter, "an access rule cannot be read; ignored");
                        None
                    }
                }
            })
            .collect())
    }

    /// Adds a rule and returns its id, or `None` when the same rule exists already.
    pub async fn add_access_rule(
        &self,
        audience: Audience,
        filter: &TopicFilter,
        permission: Permission,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar!(
            "insert into access_rule (role, filter, permission) \
             values ($1, $2, $3::text::access_permission) \
             on conflict (role, filter, permission) do nothing returning id",
            audience.as_str(),
            filter.as_str(),
            permission.as_str(),
        )
        .fetch_optional(&self.pool)
        .await
    }

    /// Rewrites rule `id`.
    pub async fn update_access_rule(
        &self,
        id: i64,
        audience: Audience,
        filter: &TopicFilter,
        permission: Permission,
    ) -> Result<RuleChange, sqlx::Error> {
        let updated = sqlx::query!(
            "update access_rule set role = $2, filter = $3, \
                 permission = $4::text::access_permission \
             where id = $1",
            id,
            audience.as_str(),
            filter.as_str(),
            permission.as_str(),
        )
        .execute(&self.pool)
        .await;
        // A duplicate would become a copy of another rule.
        rule_change(updated)
    }

    /// Deletes rule `id`; `false` when there was no such rule.
    pub async fn delete_access_rule(&self, id: i64) -> Result<bool, sqlx::Error> {
        let deleted = sqlx::query!("delete from access_rule where id = $1", id)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }
}
