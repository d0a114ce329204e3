//! What a publish from the publish page can come to, shared by the page and the server that
//! takes its form (`server/src/publish.rs`) and hands it to ingest's broker connection: the form's
//! values kept for a second try, how far the message got, why a form was refused, and the
//! outcome the page shows once.

use crate::domain::topic_filter::MAX_TOPIC_BYTES;
use serde::{Deserialize, Serialize};

/// The page, and where its form posts.
pub const PUBLISH: &str = "/publish";

/// The session key of the outcome the page shows once.
pub const FLASH_KEY: &str = "publish_flash";

/// The form's values, to fill it in again after a refusal. Not the payload: the draft waits in
/// the session, which PostgreSQL keeps, and a payload may be large or a secret meant for a
/// device. Its size is kept, so the page can ask for it again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub topic: String,
    pub qos: u8,
    pub retain: bool,
    pub payload_bytes: usize,
}

/// How far a publish got. rumqttc reports what happened to a message only as the broker's
/// acknowledgements arrive, so this says exactly what is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    /// QoS 1 or 2: the broker acknowledged it (PUBACK, or PUBCOMP for QoS 2).
    Acknowledged,
    /// QoS 0: written to the broker connection. QoS 0 has no acknowledgement.
    Written,
    /// Queued on the connection, but no acknowledgement arrived within the wait. It is still
    /// queued or in flight and may reach the broker later.
    Unconfirmed,
    /// The connection dropped before the broker acknowledged it and the broker had not kept
    /// Lookout's session, so it will not be sent again. It may or may not have arrived.
    Lost,
    /// The connection dropped before it was sent and the broker had not kept Lookout's
    /// session, so it was never sent.
    NotSent,
}

impl Delivery {
    pub fn code(self) -> &'static str {
        match self {
            Delivery::Acknowledged => "acknowledged",
            Delivery::Written => "written",
            Delivery::Unconfirmed => "unconfirmed",
            Delivery::Lost => "lost",
            Delivery::NotSent => "not_sent",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Delivery::Acknowledged => "The broker acknowledged it.",
            Delivery::Written => {
                "It was sent to the broker; QoS 0 has no acknowledgement, so whether the broker \
                 took it is not known."
            }
            Delivery::Unconfirmed => {
                "The broker has not acknowledged it yet: it is still queued on Lookout's \
                 connection and may reach the broker later."
            }
            Delivery::Lost => {
                "The connection to the broker dropped before the broker acknowledged it, and \
                 Lookout does not send it again. It may or may not have arrived. Brokers close \
                 the connection over a message they refuse (one larger than they accept, say)."
            }
            Delivery::NotSent => {
                "The connection to the broker dropped before it was sent, and Lookout does not \
                 send it again: it was never sent."
            }
        }
    }

    /// Whether the page should warn: the broker may not have the message.
    pub fn is_warning(self) -> bool {
        !matches!(self, Delivery::Acknowledged | Delivery::Written)
    }
}

/// Why a form was sent back and nothing published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    EmptyTopic,
    Wildcard,
    NulCharacter,
    TopicTooLong,
    /// `$SYS/...` and other topics starting with `$` belong to the broker.
    ReservedTopic,
    /// A code point brokers refuse in a topic (see `topic_filter::check_topic_name`).
    ControlCharacter {
        code_point: u32,
    },
    NonCharacter {
        code_point: u32,
    },
    PayloadTooLarge {
        bytes: usize,
        limit: usize,
    },
    BadQos,
    RetainNotConfirmed,
    NotConnected,
    QueueFull,
    /// The audit log could not be written, and nothing is published unaudited.
    Unavailable,
}

impl Refusal {
    /// As the audit log records it.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::EmptyTopic => "empty_topic",
            Refusal::Wildcard => "wildcard",
            Refusal::NulCharacter => "nul_character",
            Refusal::TopicTooLong => "topic_too_long",
            Refusal::ReservedTopic => "reserved_topic",
            Refusal::ControlCharacter { .. } => "control_character",
            Refusal::NonCharacter { .. } => "non_character",
            Refusal::PayloadTooLarge { .. } => "payload_too_large",
            Refusal::BadQos => "bad_qos",
            Refusal::RetainNotConfirmed => "retain_not_confirmed",
            Refusal::NotConnected => "not_connected",
            Refusal::QueueFull => "queue_full",
            Refusal::Unavailable => "unavailable",
        }
    }

    /// The publish form's field this refusal is about, when it is about one.
    pub fn field(self) -> Option<&'static str> {
        match self {
            Refusal::EmptyTopic
            | Refusal::Wildcard
            | Refusal::NulCharacter
            | Refusal::TopicTooLong
            | Refusal::ReservedTopic
            | Refusal::ControlCharacter { .. }
            | Refusal::NonCharacter { .. } => Some("topic"),
            Refusal::PayloadTooLarge { .. } => Some("payload"),
            Refusal::BadQos => Some("qos"),
            Refusal::RetainNotConfirmed => Some("confirm_retain"),
            Refusal::NotConnected | Refusal::QueueFull | Refusal::Unavailable => None,
        }
    }

    pub fn text(self) -> String {
        match self {
            Refusal::EmptyTopic => "Enter the topic to publish to.".to_owned(),
            Refusal::Wildcard => {
                "A message goes to one topic: '+' and '#' are wildcards for subscribing and \
                 cannot be part of a topic to publish to."
                    .to_owned()
            }
            Refusal::NulCharacter => "A topic cannot contain the character U+0000.".to_owned(),
            Refusal::TopicTooLong => format!(
                "A topic is at most {MAX_TOPIC_BYTES} bytes, the longest topic Lookout stores."
            ),
            Refusal::ControlCharacter { code_point } => format!(
                "The topic contains U+{code_point:04X}, a control character. Brokers refuse \
                 topics with control characters (U+0000 to U+001F and U+007F to U+009F) and may \
                 drop the connection over them."
            ),
            Refusal::NonCharacter { code_point } => format!(
                "The topic contains U+{code_point:04X}, a Unicode non-character. Brokers refuse \
                 topics with non-characters (U+FDD0 to U+FDEF, and U+FFFE and U+FFFF in every \
                 plane) and may drop the connection over them."
            ),
            Refusal::ReservedTopic => {
                "Topics starting with '$' (such as $SYS/...) belong to the broker; clients do \
                 not publish to them."
                    .to_owned()
            }
            Refusal::PayloadTooLarge { bytes, limit } => format!(
                "The payload is {bytes} bytes; Lookout publishes at most {limit} bytes (the \
                 configured mqtt.max_payload_bytes)."
            ),
            Refusal::BadQos => "QoS is 0, 1 or 2.".to_owned(),
            Refusal::RetainNotConfirmed => {
                "A retained message stays on the broker and goes to every future subscriber of \
                 the topic until it is replaced. Tick the confirmation to publish it retained."
                    .to_owned()
            }
            Refusal::NotConnected => {
                "Lookout is not connected to the broker right now, so nothing was published. \
                 Try again once it has reconnected."
                    .to_owned()
            }
            Refusal::QueueFull => {
                "Lookout's broker connection is not taking requests right now (its queue is \
                 full), so nothing was published. Try again shortly."
                    .to_owned()
            }
            Refusal::Unavailable => {
                "Lookout cannot write its audit log right now, and publishes nothing it cannot \
                 record. Try again shortly."
                    .to_owned()
            }
        }
    }
}

/// What the last post to [`PUBLISH`] came to, shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flash {
    Published {
        topic: String,
        qos: u8,
        retain: bool,
        bytes: usize,
        delivery: Delivery,
    },
    Refused {
        refusal: Refusal,
        draft: Draft,
    },
}
