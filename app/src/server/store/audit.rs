//! The SQL of the audit log: who logged in, published or changed what, and from where.

use super::Store;
use crate::domain::accounts::User;
use chrono::{DateTime, Utc};

/// Who makes a change or attempts a login, as the audit log records it.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    pub user_id: Option<i64>,
    pub name: Option<&'a str>,
    pub client_addr: Option<&'a str>,
}

impl Actor<'static> {
    /// Whoever runs `lookout user ...` on the server: trusted, as they can reach the database.
    pub const CLI: Actor<'static> = Actor {
        user_id: None,
        name: Some("cli"),
        client_addr: None,
    };
}

impl<'a> Actor<'a> {
    /// A logged-in user acting from `client_addr`.
    pub fn user(user: &'a User, client_addr: Option<&'a str>) -> Self {
        Actor {
            user_id: Some(user.id),
            name: Some(&user.name),
            client_addr,
        }
    }
}

/// One row for the audit log.
#[derive(Clone, Debug)]
pub struct AuditEntry<'a> {
    pub actor_user_id: Option<i64>,
    pub actor_name: Option<&'a str>,
    pub client_addr: Option<&'a str>,
    /// `login`, `login_failed`, `logout`, `user_added`, `password_changed`, ...
    pub action: &'a str,
    /// What the action was about; never a password.
    pub detail: serde_json::Value,
}

impl<'a> AuditEntry<'a> {
    pub fn new(actor: Actor<'a>, action: &'a str, detail: serde_json::Value) -> Self {
        AuditEntry {
            actor_user_id: actor.user_id,
            actor_name: actor.name,
            client_addr: actor.client_addr,
            action,
            detail,
        }
    }
}

/// One row of the audit log as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_user_id: Option<i64>,
    pub actor_name: Option<String>,
    pub client_addr: Option<String>,
    pub action: String,
    pub detail: serde_json::Value,
}

impl Store {
    /// Appends one row to the audit log.
    pub async fn audit(&self, entry: &AuditEntry<'_>) -> Result<(), sqlx::Error> {
        // jsonb travels as text: sqlx's `json` feature would be a dependency for this one column.
        sqlx::query!(
            "insert into audit_log (actor_user_id, actor_name, client_addr, action, detail) \
             values ($1, $2, $3, $4, $5::text::jsonb)",
            entry.actor_user_id,
            entry.actor_name,
            entry.client_addr,
            entry.action,
            entry.detail.to_string(),
        )
        .execute(&self.pool)
        .await
        .map(drop)
    }

    /// The newest `limit` audit rows, newest first.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditRecord>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select id, at as "at: DateTime<Utc>", actor_user_id, actor_name, client_addr, action,
                      detail::text as "detail!"
               from audit_log order by at desc, id desc limit $1"#,
            limit,
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(AuditRecord {
                    detail: serde_json::from_str(&row.detail)
                        .map_err(|error| sqlx::Error::Decode(Box::new(error)))?,
                    id: row.id,
                    at: row.at,
                    actor_user_id: row.actor_user_id,
                    actor_name: row.actor_name,
                    client_addr: row.client_addr,
                    action: row.action,
                })
            })
            .collect()
    }
}
