//! Sends a status page's news to its followers (`page_delivery`, queued by `status_edits` and by
//! a sign-up's confirmation): e-mail through the page's mail channel's server and sender, with
//! the subscriber's own links and a one-click unsubscribe; webhooks as a JSON POST of the news.
//! The alert outbox's loop (`alert_outbox::run`) claims these as it claims notices, with the
//! same lease, backoff and limit on sends at once.

use crate::alert_outbox::{backoff, MAX_ATTEMPTS};
use crate::notify::{Delivery, Mail, Sender};
use app::domain::notice::EmailAddress;
use app::domain::subscription::{FollowerKind, MailLinks};
use app::server::store::followers::DueDelivery;
use app::server::store::Store;
use chrono::Utc;
use url::Url;

/// Sends one delivery and records how it went. `link_base` is the public address the links in
/// e-mails start with.
pub async fn deliver(store: &Store, sender: &Sender, link_base: &str, due: DueDelivery) {
    let delivery = attempt(sender, link_base, &due).await;
    let failure = match &delivery {
        Delivery::Delivered { .. } => {
            tracing::info!(id = due.id, kind = due.kind.as_str(), "page news delivered");
            None
        }
        Delivery::Refused { status, reason } => {
            tracing::warn!(id = due.id, kind = due.kind.as_str(), status, %reason,
                "a follower's address refused page news; not retried");
            Some((format!("refused ({status}): {reason}"), None))
        }
        Delivery::Failed { reason } => {
            let attempts = due.attempts + 1;
            let retry_at = (attempts < MAX_ATTEMPTS).then(|| Utc::now() + backoff(attempts));
            tracing::warn!(id = due.id, kind = due.kind.as_str(), %reason, attempts,
                retry_at = ?retry_at, "sending page news failed");
            Some((reason.clone(), retry_at))
        }
    };
    let recorded = store
        .delivery_done(
            due.id,
            failure
                .as_ref()
                .map(|(reason, retry_at)| (reason.as_str(), *retry_at)),
        )
        .await;
    if let Err(error) = recorded {
        // The lease runs out and it is sent again: at least once.
        tracing::warn!(id = due.id, %error, "recording a page delivery failed");
    }
}

async fn attempt(sender: &Sender, link_base: &str, due: &DueDelivery) -> Delivery {
    match due.kind {
        FollowerKind::Webhook => match Url::parse(&due.address) {
            Ok(url) => {
                let body = serde_json::to_string(&due.news).unwrap_or_default();
                sender.post_json(&url, body).await
            }
            Err(error) => Delivery::Refused {
                status: 0,
                reason: format!("the webhook's address cannot be read: {error}"),
            },
        },
        FollowerKind::Email => {
            // The page's mail channel may have been removed since: tried again later, when an
            // admin may have chosen another.
            let Some(channel) = &due.mail_channel else {
                return Delivery::Failed {
                    reason: "the page has no (enabled) mail channel".to_owned(),
                };
            };
            let address = match EmailAddress::parse(channel) {
                Ok(address) => address,
                Err(problem) => {
                    return Delivery::Failed {
                        reason: format!("the page's mail channel: {problem}"),
                    }
                }
            };
            let links = MailLinks::new(link_base, due.news.slug(), &due.token);
            let to = [due.address.clone()];
            let mail = Mail {
                to: &to,
                subject: due.news.subject(),
                body: due.news.mail_text(&links),
                unsubscribe: Some(&links.unsubscribe),
            };
            sender.send_mail(&address, mail).await
        }
    }
}
