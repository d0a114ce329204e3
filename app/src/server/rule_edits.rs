//! Admins' changes to the access rules: each filter checked before it is stored, each change
//! written to the audit log and in force on this instance at once (others see it within
//! [`crate::server::access::RULES_FRESH_FOR`]). What the rules mean is decided in
//! [`crate::server::access`].

use crate::domain::roles::{AccessRule, Audience, Permission};
use crate::domain::topic_filter::{InvalidFilter, TopicFilter};
use crate::server::access::AccessPolicy;
use crate::server::store::audit::{Actor, AuditEntry};
use crate::server::store::{RuleChange, Store};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("not a topic filter: {0}")]
    BadFilter(#[from] InvalidFilter),
    #[error("the same rule exists already")]
    Duplicate,
    #[error("the public may only read, and only through status pages")]
    PublicPublish,
    #[error("there is no such rule")]
    NoSuchRule,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

type Result<T, E = RuleError> = std::result::Result<T, E>;

fn describe(rule: &AccessRule) -> serde_json::Value {
    json!({
        "rule_id": rule.id,
        "role": rule.audience,
        "filter": rule.filter.as_str(),
        "permission": rule.permission,
    })
}

/// Adds a rule and returns its id.
#[tracing::instrument(skip_all, fields(%audience, %filter, permission = permission.as_str()))]
pub async fn add_rule(
    store: &Store,
    policy: &AccessPolicy,
    actor: Actor<'_>,
    audience: Audience,
    filter: &str,
    permission: Permission,
) -> Result<i64> {
    let filter = checked(audience, filter, permission)?;
    let id = store
        .add_access_rule(audience, &filter, permission)
        .await?
        .ok_or(RuleError::Duplicate)?;
    policy.reload().await?;
    let rule = AccessRule {
        id,
        audience,
        filter,
        permission,
    };
    store
        .audit(&AuditEntry::new(actor, "rule_added", describe(&rule)))
        .await?;
    Ok(id)
}

/// Rewrites rule `id` with another audience, filter or permission.
#[tracing::instrument(skip_all, fields(id, %audience, %filter, permission = permission.as_str()))]
pub async fn change_rule(
    store: &Store,
    policy: &AccessPolicy,
    actor: Actor<'_>,
    id: i64,
    audience: Audience,
    filter: &str,
    permission: Permission,
) -> Result<()> {
    let filter = checked(audience, filter, permission)?;
    // The rule as it was, for the audit log; read fresh rather than from the cache.
    let before = rule_now(policy, id).await?;
    match store
        .update_access_rule(id, audience, &filter, permission)
        .await?
    {
        RuleChange::Done => {}
        RuleChange::NoSuchRule => return Err(RuleError::NoSuchRule),
        RuleChange::Duplicate => return Err(RuleError::Duplicate),
    }
    policy.reload().await?;
    let after = AccessRule {
        id,
        audience,
        filter,
        permission,
    };
    let detail =
        json!({ "rule_id": id, "from": before.as_ref().map(describe), "to": describe(&after) });
    store
        .audit(&AuditEntry::new(actor, "rule_changed", detail))
        .await?;
    Ok(())
}

/// Deletes rule `id`.
#[tracing::instrument(skip_all, fields(id))]
pub async fn delete_rule(
    store: &Store,
    policy: &AccessPolicy,
    actor: Actor<'_>,
    id: i64,
) -> Result<()> {
    let before = rule_now(policy, id).await?;
    if !store.delete_access_rule(id).await? {
        return Err(RuleError::NoSuchRule);
    }
    policy.reload().await?;
    let detail = before
        .as_ref()
        .map(describe)
        .unwrap_or(json!({ "rule_id": id }));
    store
        .audit(&AuditEntry::new(actor, "rule_deleted", detail))
        .await?;
    Ok(())
}

/// The filter of a rule as typed, when the rule can be: the public only reads.
fn checked(audience: Audience, filter: &str, permission: Permission) -> Result<TopicFilter> {
    let filter = TopicFilter::parse(filter)?;
    if audience == Audience::Public && permission != Permission::Read {
        return Err(RuleError::PublicPublish);
    }
    Ok(filter)
}

async fn rule_now(policy: &AccessPolicy, id: i64) -> Result<Option<AccessRule>> {
    let rules = policy.reload().await?;
    Ok(rules.all().iter().find(|rule| rule.id == id).cloned())
}
