//! Admins' changes to the liveness rules: each rule checked ([`LivenessRule::check`]) before it is
//! stored, each change written to the audit log. Pages read the rules fresh on every request, so
//! a change applies at once on every instance.

use crate::domain::liveness::{LivenessRule, RuleProblem, RuleText};
use crate::server::store::audit::{Actor, AuditEntry};
use crate::server::store::{RuleChange, Store};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum LivenessRuleError {
    #[error("not a valid liveness rule: {0}")]
    Invalid(#[from] RuleProblem),
    #[error("a rule for these device topics exists already")]
    Duplicate,
    #[error("there is no such rule")]
    NoSuchRule,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

type Result<T, E = LivenessRuleError> = std::result::Result<T, E>;

fn describe(rule: &LivenessRule) -> serde_json::Value {
    json!({
        "rule_id": rule.id,
        "name": rule.name,
        "device_filter": rule.devices.as_str(),
        "status_topic": rule.status.as_ref().map(|status| status.as_str()),
        "interval_seconds": rule.interval_seconds,
        "online_payload": rule.words.online,
        "offline_payload": rule.words.offline,
    })
}

/// Adds a rule and returns its id.
#[tracing::instrument(skip_all, fields(devices = text.devices))]
pub async fn add_rule(store: &Store, actor: Actor<'_>, text: RuleText<'_>) -> Result<i64> {
    let mut rule = LivenessRule::check(0, text)?;
    rule.id = store
        .add_liveness_rule(&rule)
        .await?
        .ok_or(LivenessRuleError::Duplicate)?;
    store
        .audit(&AuditEntry::new(
            actor,
            "liveness_rule_added",
            describe(&rule),
        ))
        .await?;
    Ok(rule.id)
}

/// Rewrites rule `id`.
#[tracing::instrument(skip_all, fields(id, devices = text.devices))]
pub async fn change_rule(
    store: &Store,
    actor: Actor<'_>,
    id: i64,
    text: RuleText<'_>,
) -> Result<()> {
    let rule = LivenessRule::check(id, text)?;
    let before = rule_now(store, id).await?;
    match store.update_liveness_rule(&rule).await? {
        RuleChange::Done => {}
        RuleChange::NoSuchRule => return Err(LivenessRuleError::NoSuchRule),
        RuleChange::Duplicate => return Err(LivenessRuleError::Duplicate),
    }
    let detail =
        json!({ "rule_id": id, "from": before.as_ref().map(describe), "to": describe(&rule) });
    store
        .audit(&AuditEntry::new(actor, "liveness_rule_changed", detail))
        .await?;
    Ok(())
}

/// Deletes rule `id`.
#[tracing::instrument(skip_all, fields(id))]
pub async fn delete_rule(store: &Store, actor: Actor<'_>, id: i64) -> Result<()> {
    let before = rule_now(store, id).await?;
    if !store.delete_liveness_rule(id).await? {
        return Err(LivenessRuleError::NoSuchRule);
    }
    let detail = before
        .as_ref()
        .map(describe)
        .unwrap_or(json!({ "rule_id": id }));
    store
        .audit(&AuditEntry::new(actor, "liveness_rule_deleted", detail))
        .await?;
    Ok(())
}

/// The rule as it is now, for the audit log.
async fn rule_now(store: &Store, id: i64) -> Result<Option<LivenessRule>> {
    let rules = store.liveness_rules().await?;
    Ok(rules.into_iter().find(|rule| rule.id == id))
}
