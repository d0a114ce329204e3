//! Admins' changes to alert rules and channels, each checked (`domain::alert_rule`) before it
//! is stored and written to the audit log. The alert engine reads the rules again at each look
//! of the uptime watcher (every 10 s), so a change applies within that on whichever instance
//! evaluates.

use crate::domain::alert_rule::{
    sample_notice, AlertChannel, AlertProblem, AlertRule, ChannelText, RuleText,
};
use crate::server::store::alerts::AlertAdded;
use crate::server::store::audit::{Actor, AuditEntry};
use crate::server::store::Store;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AlertEditError {
    #[error("{0}")]
    Invalid(AlertProblem),
    #[error("a rule or channel of that name exists already")]
    NameTaken,
    #[error("as many rules or channels exist as may")]
    Full,
    #[error("there is no such rule or channel")]
    Unknown,
    #[error("that rule or channel is kept in the config file")]
    FromConfig,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<AlertProblem> for AlertEditError {
    fn from(problem: AlertProblem) -> Self {
        AlertEditError::Invalid(problem)
    }
}

type Result<T, E = AlertEditError> = std::result::Result<T, E>;

/// Refuses to change what the config file keeps: the file would undo it at the next start.
async fn refuse_config_kept(store: &Store, channel: Option<i64>, rule: Option<i64>) -> Result<()> {
    let (channels, rules) = store.config_alerts().await?;
    let kept = channel.is_some_and(|id| channels.contains(&id))
        || rule.is_some_and(|id| rules.contains(&id));
    if kept {
        return Err(AlertEditError::FromConfig);
    }
    Ok(())
}

fn describe_channel(channel: &AlertChannel) -> serde_json::Value {
    // The address may hold a token (Slack's, Telegram's): the audit log names only its host.
    let after_scheme = channel.url.split_once("://").map_or("", |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    json!({
        "channel_id": channel.id,
        "name": channel.name,
        "format": channel.format.as_str(),
        "host": host,
        "own_template": channel.template.is_some(),
        "enabled": channel.enabled,
    })
}

fn describe_rule(rule: &AlertRule) -> serde_json::Value {
    json!({
        "rule_id": rule.id,
        "name": rule.name,
        "condition": rule.condition,
        "timing": rule.timing,
        "severity": rule.severity.as_str(),
        "enabled": rule.enabled,
        "channels": rule.channels,
    })
}

pub async fn add_channel(store: &Store, actor: Actor<'_>, text: ChannelText<'_>) -> Result<i64> {
    let mut channel = text.check(0)?;
    channel.id = match store.add_alert_channel(&channel).await? {
        AlertAdded::Added(id) => id,
        AlertAdded::Duplicate => return Err(AlertEditError::NameTaken),
        AlertAdded::Full => return Err(AlertEditError::Full),
    };
    store
        .audit(&AuditEntry::new(
            actor,
            "alert_channel_added",
            describe_channel(&channel),
        ))
        .await?;
    Ok(channel.id)
}

pub async fn change_channel(
    store: &Store,
    actor: Actor<'_>,
    id: i64,
    text: ChannelText<'_>,
    enabled: bool,
) -> Result<()> {
    refuse_config_kept(store, Some(id), None).await?;
    let mut channel = text.check(id)?;
    channel.enabled = enabled;
    match store.change_alert_channel(&channel).await? {
        Some(true) => {}
        Some(false) => return Err(AlertEditError::Unknown),
        None => return Err(AlertEditError::NameTaken),
    }
    store
        .audit(&AuditEntry::new(
            actor,
            "alert_channel_changed",
            describe_channel(&channel),
        ))
        .await?;
    Ok(())
}

pub async fn delete_channel(store: &Store, actor: Actor<'_>, id: i64) -> Result<()> {
    refuse_config_kept(store, Some(id), None).await?;
    if !store.delete_alert_channel(id).await? {
        return Err(AlertEditError::Unknown);
    }
    store
        .audit(&AuditEntry::new(
            actor,
            "alert_channel_deleted",
            json!({ "channel_id": id }),
        ))
        .await?;
    Ok(())
}

/// Queues a test notice to channel `id`; the outbox sends it as any other.
pub async fn test_channel(store: &Store, actor: Actor<'_>, id: i64) -> Result<i64> {
    let mut notice = sample_notice();
    notice.subject = format!(
        "this channel (asked by {})",
        actor.name.unwrap_or("an admin")
    );
    let queued = store
        .queue_test_notice(id, &notice)
        .await?
        .ok_or(AlertEditError::Unknown)?;
    store
        .audit(&AuditEntry::new(
            actor,
            "alert_channel_tested",
            json!({ "channel_id": id, "notice_id": queued }),
        ))
        .await?;
    Ok(queued)
}

pub async fn add_rule(
    store: &Store,
    actor: Actor<'_>,
    text: RuleText<'_>,
    channels: Vec<i64>,
) -> Result<i64> {
    let mut rule = text.check(0, channels)?;
    check_device_rule(store, &rule).await?;
    rule.id = match store.add_alert_rule(&rule).await? {
        AlertAdded::Added(id) => id,
        AlertAdded::Duplicate => return Err(AlertEditError::NameTaken),
        AlertAdded::Full => return Err(AlertEditError::Full),
    };
    store
        .audit(&AuditEntry::new(
            actor,
            "alert_rule_added",
            describe_rule(&rule),
        ))
        .await?;
    Ok(rule.id)
}

pub async fn change_rule(
    store: &Store,
    actor: Actor<'_>,
    id: i64,
    text: RuleText<'_>,
    channels: Vec<i64>,
    enabled: bool,
) -> Result<()> {
    refuse_config_kept(store, None, Some(id)).await?;
    let mut rule = text.check(id, channels)?;
    rule.enabled = enabled;
    check_device_rule(store, &rule).await?;
    match store.change_alert_rule(&rule).await? {
        Some(true) => {}
        Some(false) => return Err(AlertEditError::Unknown),
        None => return Err(AlertEditError::NameTaken),
    }
    store
        .audit(&AuditEntry::new(
            actor,
            "alert_rule_changed",
            describe_rule(&rule),
        ))
        .await?;
    Ok(())
}

pub async fn delete_rule(store: &Store, actor: Actor<'_>, id: i64) -> Result<()> {
    refuse_config_kept(store, None, Some(id)).await?;
    if !store.delete_alert_rule(id).await? {
        return Err(AlertEditError::Unknown);
    }
    store
        .audit(&AuditEntry::new(
            actor,
            "alert_rule_deleted",
            json!({ "rule_id": id }),
        ))
        .await?;
    Ok(())
}

/// A device rule's alert must name a device rule that exists.
async fn check_device_rule(store: &Store, rule: &AlertRule) -> Result<()> {
    if let crate::domain::alert_rule::Condition::DeviceOffline { device_rule, .. } = rule.condition
    {
        let exists = store
            .liveness_rules()
            .await?
            .iter()
            .any(|known| known.id == device_rule);
        if !exists {
            return Err(AlertProblem::DeviceRule.into());
        }
    }
    Ok(())
}
