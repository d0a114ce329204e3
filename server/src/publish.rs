//! `POST /publish`, the form of the publish page (`app::pages::publish`): checks the form, asks the
//! access policy, writes the audit log and publishes on Lookout's publishing connection
//! ([`Publisher`]), then sends the browser back to the page with the outcome in the session
//! (never the payload: see `app::domain::publish::Draft`).
//!
//! The audit log. A `publish` row is written before anything goes to the broker; if it cannot be
//! written, nothing is published. Should the message then not be taken after all (the
//! connection dropped a moment before), a `publish_failed` row follows. Every refusal writes
//! `publish_refused` with its reason. The detail names the topic, QoS, retain flag and the
//! payload's size and SHA-256 digest, never the payload: payloads can carry secrets (credentials
//! provisioned to a device) that readers of the audit log need not see, and can be large, while
//! the log is kept forever. The digest still tells which payload was sent, given a candidate
//! (the message table holds it when Lookout subscribes to the topic). Refused topics are cut to
//! [`REFUSED_TOPIC_BYTES`]: a refused one may be any junk.

use crate::admin::Acting;
use crate::ingest::{PublishError, Publisher, RECONNECT_GRACE};
use app::domain::publish::Delivery;
use app::domain::publish::{Draft, Flash, Refusal, FLASH_KEY, PUBLISH};
use app::domain::topic_filter::{check_topic_name, InvalidTopicName, MAX_TOPIC_BYTES};
use app::server::state::AppState;
use app::server::store::audit::{Actor, AuditEntry};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use rumqttc::QoS;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tower_sessions::Session;

/// How long a publish waits for the broker's acknowledgement before the page says it is still
/// on its way. A person is waiting for the answer.
pub const CONFIRMATION_WAIT: Duration = Duration::from_secs(10);

/// How much of a refused topic the audit log keeps.
pub const REFUSED_TOPIC_BYTES: usize = 256;

/// Every field is optional, so that a malformed post gets the form back with a message.
#[derive(Deserialize)]
pub struct PublishForm {
    #[serde(default)]
    topic: String,
    #[serde(default)]
    payload: String,
    #[serde(default)]
    qos: String,
    /// Checkboxes: sent when ticked, absent when not.
    retain: Option<String>,
    confirm_retain: Option<String>,
}

impl PublishForm {
    fn retain(&self) -> bool {
        self.retain.is_some()
    }

    fn qos(&self) -> Result<(QoS, u8), Refusal> {
        match self.qos.trim() {
            "0" => Ok((QoS::AtMostOnce, 0)),
            "1" => Ok((QoS::AtLeastOnce, 1)),
            "2" => Ok((QoS::ExactlyOnce, 2)),
            _ => Err(Refusal::BadQos),
        }
    }

    /// The QoS to publish with, if the form may be published as it is.
    fn check(&self, payload_limit: usize) -> Result<(QoS, u8), Refusal> {
        check_topic_name(&self.topic).map_err(refusal_of)?;
        if self.topic.starts_with('$') {
            return Err(Refusal::ReservedTopic);
        }
        let qos = self.qos()?;
        if self.payload.len() > payload_limit {
            return Err(Refusal::PayloadTooLarge {
                bytes: self.payload.len(),
                limit: payload_limit,
            });
        }
        if self.retain() && self.confirm_retain.is_none() {
            return Err(Refusal::RetainNotConfirmed);
        }
        Ok(qos)
    }

    /// The form as it comes back after a refusal: without the payload, and the retain
    /// confirmation is asked again. A topic over the limit is not kept either: it would make the
    /// session row as large as the post, and it has to be typed again anyway.
    fn into_draft(self) -> Draft {
        let qos = self.qos().map_or(1, |(_, number)| number);
        let retain = self.retain();
        let mut topic = self.topic;
        if topic.len() > MAX_TOPIC_BYTES {
            topic.clear();
        }
        Draft {
            topic,
            qos,
            retain,
            payload_bytes: self.payload.len(),
        }
    }

    /// What the audit log says about a refused attempt: the form as typed, cut to size.
    fn refused_detail(&self, reason: &str) -> serde_json::Value {
        json!({
            "reason": reason,
            "topic": cut(&self.topic, REFUSED_TOPIC_BYTES),
            "qos": cut(&self.qos, 8),
            "retain": self.retain(),
            "payload_bytes": self.payload.len(),
        })
    }
}

fn refusal_of(invalid: InvalidTopicName) -> Refusal {
    match invalid {
        InvalidTopicName::Empty => Refusal::EmptyTopic,
        InvalidTopicName::TooLong => Refusal::TopicTooLong,
        InvalidTopicName::NulCharacter => Refusal::NulCharacter,
        InvalidTopicName::Wildcard => Refusal::Wildcard,
        InvalidTopicName::ControlCharacter(c) => Refusal::ControlCharacter {
            code_point: c.into(),
        },
        InvalidTopicName::NonCharacter(c) => Refusal::NonCharacter {
            code_point: c.into(),
        },
    }
}

/// The longest prefix of `text` of at most `bytes` bytes that ends on a character boundary.
fn cut(text: &str, bytes: usize) -> &str {
    let mut end = bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `POST /publish`: topic, payload, qos (0, 1 or 2), retain and confirm_retain (checkboxes).
#[tracing::instrument(skip_all, fields(user = %acting.actor().name.unwrap_or_default()))]
pub async fn publish(
    State(state): State<AppState>,
    Extension(publisher): Extension<Arc<Publisher>>,
    acting: Acting,
    session: Session,
    Form(form): Form<PublishForm>,
) -> Response {
    let rules = match state.access.rules().await {
        Ok(rules) => rules,
        Err(error) => {
            tracing::error!(%error, "loading the rules for a publish failed");
            return back(&session, refused(Refusal::Unavailable, form)).await;
        }
    };
    let visitor = acting.visitor();
    if rules.publish_scope(&visitor).is_nowhere() {
        refuse(&state, &acting, &form, "not_allowed").await;
        return (
            StatusCode::FORBIDDEN,
            "Your role may not publish. Nothing was published.",
        )
            .into_response();
    }
    let (qos, qos_number) = match form.check(publisher.payload_limit()) {
        Ok(qos) => qos,
        Err(refusal) => {
            refuse(&state, &acting, &form, refusal.code()).await;
            return back(&session, refused(refusal, form)).await;
        }
    };
    // Whatever the form offered: the policy decides.
    if !rules.may_publish(&visitor, &form.topic) {
        refuse(&state, &acting, &form, "not_allowed").await;
        return (
            StatusCode::FORBIDDEN,
            "Your role may not publish to that topic. Nothing was published.",
        )
            .into_response();
    }
    if !publisher.connected_within(RECONNECT_GRACE).await {
        let refusal = Refusal::NotConnected;
        refuse(&state, &acting, &form, refusal.code()).await;
        return back(&session, refused(refusal, form)).await;
    }

    let retain = form.retain();
    let bytes = form.payload.len();
    let outgoing = Outgoing {
        topic: &form.topic,
        payload: form.payload.as_bytes(),
        qos,
        qos_number,
        retain,
    };
    match send_audited(&state, &publisher, acting.actor(), &outgoing, json!({})).await {
        Ok(delivery) => {
            let flash = Flash::Published {
                topic: form.topic,
                qos: qos_number,
                retain,
                bytes,
                delivery,
            };
            back(&session, flash).await
        }
        Err(refusal) => back(&session, refused(refusal, form)).await,
    }
}

/// One message a signed-in person sends, through the publish page or a board's control.
pub struct Outgoing<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub qos: QoS,
    pub qos_number: u8,
    pub retain: bool,
}

/// Sends `outgoing` for `actor` on Lookout's publishing connection, once the access policy has
/// let them: the `publish` row of the audit log first (with `context`'s fields, such as the
/// board and control a press came from), and nothing goes out if it cannot be written; a
/// `publish_failed` row if the connection did not take it. The delivery says whether the broker
/// acknowledged it within [`CONFIRMATION_WAIT`].
pub async fn send_audited(
    state: &AppState,
    publisher: &Publisher,
    actor: Actor<'_>,
    outgoing: &Outgoing<'_>,
    context: serde_json::Value,
) -> Result<Delivery, Refusal> {
    let bytes = outgoing.payload.len();
    let mut detail = json!({
        "topic": outgoing.topic,
        "qos": outgoing.qos_number,
        "retain": outgoing.retain,
        "payload_bytes": bytes,
        "payload_sha256": format!("{:x}", Sha256::digest(outgoing.payload)),
    });
    if let (Some(detail), serde_json::Value::Object(context)) = (detail.as_object_mut(), context) {
        detail.extend(context);
    }
    let audited = state
        .store
        .audit(&AuditEntry::new(actor, "publish", detail.clone()))
        .await;
    if let Err(error) = audited {
        tracing::error!(%error, "writing the audit log failed; nothing published");
        return Err(Refusal::Unavailable);
    }
    let sent = publisher
        .publish(
            outgoing.topic,
            outgoing.payload.to_vec(),
            outgoing.qos,
            outgoing.retain,
        )
        .await;
    match sent {
        Ok(delivery) => {
            tracing::info!(
                topic = %outgoing.topic,
                qos = outgoing.qos_number,
                retain = outgoing.retain,
                bytes,
                delivery = delivery.code(),
                "published for a person"
            );
            Ok(delivery)
        }
        Err(error) => {
            let refusal = match error {
                PublishError::NotConnected => Refusal::NotConnected,
                PublishError::QueueFull => Refusal::QueueFull,
                PublishError::TooLarge => Refusal::PayloadTooLarge {
                    bytes,
                    limit: publisher.payload_limit(),
                },
                PublishError::InvalidTopic(invalid) => refusal_of(invalid),
            };
            tracing::warn!(topic = %outgoing.topic, %error, "a publish for a person failed");
            detail["reason"] = refusal.code().into();
            let entry = AuditEntry::new(actor, "publish_failed", detail);
            if let Err(error) = state.store.audit(&entry).await {
                tracing::error!(%error, "writing the audit log failed");
            }
            Err(refusal)
        }
    }
}

fn refused(refusal: Refusal, form: PublishForm) -> Flash {
    Flash::Refused {
        refusal,
        draft: form.into_draft(),
    }
}

async fn refuse(state: &AppState, acting: &Acting, form: &PublishForm, reason: &str) {
    tracing::info!(reason, "a publish from the dashboard was refused");
    let detail = form.refused_detail(reason);
    audit_refusal(state, acting, "publish_refused", detail).await;
}

async fn audit_refusal(state: &AppState, acting: &Acting, action: &str, detail: serde_json::Value) {
    // Nothing was published, so there is nothing to hold back; the gap is logged loudly.
    let entry = AuditEntry::new(acting.actor(), action, detail);
    if let Err(error) = state.store.audit(&entry).await {
        tracing::error!(%error, action, "writing the audit log failed");
    }
}

/// Back to the page (post/redirect/get), with the outcome for it to show once.
async fn back(session: &Session, flash: Flash) -> Response {
    if let Err(error) = session.insert(FLASH_KEY, flash).await {
        tracing::warn!(%error, "keeping the publish outcome in the session failed");
    }
    Redirect::to(PUBLISH).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(topic: &str, payload: &str, qos: &str, retain: bool, confirmed: bool) -> PublishForm {
        PublishForm {
            topic: topic.to_owned(),
            payload: payload.to_owned(),
            qos: qos.to_owned(),
            retain: retain.then(|| "on".to_owned()),
            confirm_retain: confirmed.then(|| "on".to_owned()),
        }
    }

    #[test]
    fn a_form_is_published_only_when_every_field_is_right() {
        assert_eq!(
            form("plant/valve", "open", "1", false, false).check(10),
            Ok((QoS::AtLeastOnce, 1))
        );
        assert_eq!(
            form("plant/valve", "open", " 2 ", true, true).check(10),
            Ok((QoS::ExactlyOnce, 2))
        );
        for (form, refusal) in [
            (form("", "x", "0", false, false), Refusal::EmptyTopic),
            (form("plant/+", "x", "0", false, false), Refusal::Wildcard),
            (form("plant/#", "x", "0", false, false), Refusal::Wildcard),
            (form("a\0b", "x", "0", false, false), Refusal::NulCharacter),
            (
                form(&"a".repeat(MAX_TOPIC_BYTES + 1), "x", "0", false, false),
                Refusal::TopicTooLong,
            ),
            (
                form("plant/\u{7}", "x", "0", false, false),
                Refusal::ControlCharacter { code_point: 7 },
            ),
            (
                form("plant/\u{ffff}", "x", "0", false, false),
                Refusal::NonCharacter { code_point: 0xFFFF },
            ),
            (
                form("$SYS/x", "x", "0", false, false),
                Refusal::ReservedTopic,
            ),
            (form("a", "x", "3", false, false), Refusal::BadQos),
            (form("a", "x", "", false, false), Refusal::BadQos),
            (
                form("a", "elevenbytes", "0", false, false),
                Refusal::PayloadTooLarge {
                    bytes: 11,
                    limit: 10,
                },
            ),
            (
                form("a", "x", "1", true, false),
                Refusal::RetainNotConfirmed,
            ),
        ] {
            assert_eq!(form.check(10), Err(refusal), "{}", form.topic);
        }
    }

    #[test]
    fn refused_topics_are_cut_on_a_character_boundary() {
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("aé", 3), "aé");
        let long = form(&"ü".repeat(400), "", "9", true, false);
        let detail = long.refused_detail("wildcard");
        assert_eq!(detail["topic"].as_str().unwrap().len(), REFUSED_TOPIC_BYTES);
        assert_eq!(detail["reason"], "wildcard");
        assert_eq!(detail["retain"], true);
    }

    #[test]
    fn a_refused_form_comes_back_with_its_values_but_not_its_payload() {
        let draft = form("plant/valve", "open", "2", true, false).into_draft();
        assert_eq!(
            draft,
            Draft {
                topic: "plant/valve".to_owned(),
                qos: 2,
                retain: true,
                payload_bytes: 4,
            }
        );
        assert_eq!(form("a", "", "x", false, false).into_draft().qos, 1);
        let too_long = "a".repeat(MAX_TOPIC_BYTES + 1);
        assert_eq!(
            form(&too_long, "", "1", false, false).into_draft().topic,
            ""
        );
    }
}
