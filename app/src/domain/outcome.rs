//! What an admin's form post came to: the server redirects back with the outcome's code, and the
//! page shows the fixed text of that code. Shared by the admin pages and the server's form
//! handlers (`server/src/admin.rs`).

use crate::domain::alert_rule::AlertProblem;
use crate::domain::incident::IncidentProblem;
use crate::domain::maintenance::MaintenanceProblem;
use crate::domain::status_page::{OutsideAudience, SpecProblem};
use crate::domain::tokens::TokenProblem;

/// What the last form post came to. The server redirects back with `?done=CODE` or
/// `?error=CODE`; the page maps the code to a fixed text, so a crafted link cannot put words of
/// its own on an admin page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    UserAdded,
    RoleChanged,
    PasswordReset,
    UserDisabled,
    UserEnabled,
    RuleAdded,
    RuleChanged,
    RuleDeleted,
    NameTaken,
    BadName,
    WeakPassword,
    LastAdmin,
    UnknownUser,
    BadFilter,
    DuplicateRule,
    UnknownRule,
    DeviceRuleAdded,
    DeviceRuleChanged,
    DeviceRuleDeleted,
    BadDeviceRuleName,
    BadDeviceFilter,
    BadStatusTopic,
    BadInterval,
    BadStatusWords,
    DuplicateDeviceRule,
    UnknownDeviceRule,
    SeriesAdded,
    SeriesRenamed,
    SeriesDeleted,
    BadSeriesTopics,
    BadSeriesField,
    BadSeriesLabel,
    BadSeriesUnit,
    DuplicateSeries,
    TooManySeries,
    UnknownSeries,
    PageAdded,
    PageChanged,
    PageDeleted,
    WidgetAdded,
    WidgetChanged,
    WidgetDeleted,
    WidgetMoved,
    WidgetsArranged,
    /// An arrangement that does not name each of the page's widgets once: the editor it came
    /// from was opened before a widget was added or deleted.
    StaleArrangement,
    TooManyWidgets,
    /// A board another user composes, or an admin's, changed by an operator.
    NotYourBoard,
    /// A widget an operator bound outside their compose rules or what they read.
    NotComposable,
    /// An operator's board made public, or closed to their own role.
    BoardOpensBeyondRights,
    SlugTaken,
    UnknownPage,
    UnknownWidget,
    /// A page or widget setting the editor refused, with the reason.
    Spec(SpecProblem),
    /// A widget bound outside the public audience, refused by the editor.
    OutsideAudience(OutsideAudience),
    /// A rule letting the public publish.
    PublicPublish,
    AlertRuleAdded,
    AlertRuleChanged,
    AlertRuleDeleted,
    ChannelAdded,
    ChannelChanged,
    ChannelDeleted,
    ChannelTestQueued,
    /// A rule or channel of that name exists already.
    AlertNameTaken,
    TooManyAlerts,
    UnknownAlert,
    /// A rule or channel the config file keeps, changed on the page.
    AlertFromConfig,
    /// An alert rule or channel setting refused, with the reason.
    Alert(AlertProblem),
    IncidentOpened,
    IncidentUpdated,
    IncidentDeleted,
    UnknownIncident,
    TooManyUpdates,
    ProposalDismissed,
    UnknownProposal,
    MailChannelSet,
    WebhookAdded,
    FollowerDeleted,
    NotAMailChannel,
    BadWebhook,
    TooManyWebhooks,
    UnknownFollower,
    /// An incident's title, status or message refused.
    Incident(IncidentProblem),
    MaintenancePlanned,
    MaintenanceDeleted,
    UnknownMaintenance,
    TooManyMaintenance,
    /// A maintenance window's setting refused.
    Maintenance(MaintenanceProblem),
    /// An access token was made (its secret is shown once, from the session).
    TokenCreated,
    TokenRevoked,
    /// An access token's setting refused.
    Token(TokenProblem),
    TooManyTokens,
    UnknownToken,
    BadForm,
    Unavailable,
}

impl Outcome {
    pub const ALL: [Outcome; 88] = [
        Outcome::UserAdded,
        Outcome::RoleChanged,
        Outcome::PasswordReset,
        Outcome::UserDisabled,
        Outcome::UserEnabled,
        Outcome::RuleAdded,
        Outcome::RuleChanged,
        Outcome::RuleDeleted,
        Outcome::NameTaken,
        Outcome::BadName,
        Outcome::WeakPassword,
        Outcome::LastAdmin,
        Outcome::UnknownUser,
        Outcome::BadFilter,
        Outcome::DuplicateRule,
        Outcome::UnknownRule,
        Outcome::DeviceRuleAdded,
        Outcome::DeviceRuleChanged,
        Outcome::DeviceRuleDeleted,
        Outcome::BadDeviceRuleName,
        Outcome::BadDeviceFilter,
        Outcome::BadStatusTopic,
        Outcome::BadInterval,
        Outcome::BadStatusWords,
        Outcome::DuplicateDeviceRule,
        Outcome::UnknownDeviceRule,
        Outcome::SeriesAdded,
        Outcome::SeriesRenamed,
        Outcome::SeriesDeleted,
        Outcome::BadSeriesTopics,
        Outcome::BadSeriesField,
        Outcome::BadSeriesLabel,
        Outcome::BadSeriesUnit,
        Outcome::DuplicateSeries,
        Outcome::TooManySeries,
        Outcome::UnknownSeries,
        Outcome::AlertRuleAdded,
        Outcome::AlertRuleChanged,
        Outcome::AlertRuleDeleted,
        Outcome::ChannelAdded,
        Outcome::ChannelChanged,
        Outcome::ChannelDeleted,
        Outcome::ChannelTestQueued,
        Outcome::AlertNameTaken,
        Outcome::TooManyAlerts,
        Outcome::UnknownAlert,
        Outcome::AlertFromConfig,
        Outcome::IncidentOpened,
        Outcome::IncidentUpdated,
        Outcome::IncidentDeleted,
        Outcome::UnknownIncident,
        Outcome::TooManyUpdates,
        Outcome::ProposalDismissed,
        Outcome::UnknownProposal,
        Outcome::MailChannelSet,
        Outcome::WebhookAdded,
        Outcome::FollowerDeleted,
        Outcome::NotAMailChannel,
        Outcome::BadWebhook,
        Outcome::TooManyWebhooks,
        Outcome::UnknownFollower,
        Outcome::MaintenancePlanned,
        Outcome::MaintenanceDeleted,
        Outcome::UnknownMaintenance,
        Outcome::TooManyMaintenance,
        Outcome::PageAdded,
        Outcome::PageChanged,
        Outcome::PageDeleted,
        Outcome::WidgetAdded,
        Outcome::WidgetChanged,
        Outcome::WidgetDeleted,
        Outcome::WidgetMoved,
        Outcome::WidgetsArranged,
        Outcome::StaleArrangement,
        Outcome::TooManyWidgets,
        Outcome::NotYourBoard,
        Outcome::NotComposable,
        Outcome::BoardOpensBeyondRights,
        Outcome::SlugTaken,
        Outcome::UnknownPage,
        Outcome::UnknownWidget,
        Outcome::PublicPublish,
        Outcome::TokenCreated,
        Outcome::TokenRevoked,
        Outcome::TooManyTokens,
        Outcome::UnknownToken,
        Outcome::BadForm,
        Outcome::Unavailable,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Outcome::UserAdded => "user_added",
            Outcome::RoleChanged => "role_changed",
            Outcome::PasswordReset => "password_reset",
            Outcome::UserDisabled => "user_disabled",
            Outcome::UserEnabled => "user_enabled",
            Outcome::RuleAdded => "rule_added",
            Outcome::RuleChanged => "rule_changed",
            Outcome::RuleDeleted => "rule_deleted",
            Outcome::NameTaken => "name_taken",
            Outcome::BadName => "bad_name",
            Outcome::WeakPassword => "weak_password",
            Outcome::LastAdmin => "last_admin",
            Outcome::UnknownUser => "unknown_user",
            Outcome::BadFilter => "bad_filter",
            Outcome::DuplicateRule => "duplicate_rule",
            Outcome::UnknownRule => "unknown_rule",
            Outcome::DeviceRuleAdded => "device_rule_added",
            Outcome::DeviceRuleChanged => "device_rule_changed",
            Outcome::DeviceRuleDeleted => "device_rule_deleted",
            Outcome::BadDeviceRuleName => "bad_device_rule_name",
            Outcome::BadDeviceFilter => "bad_device_filter",
            Outcome::BadStatusTopic => "bad_status_topic",
            Outcome::BadInterval => "bad_interval",
            Outcome::BadStatusWords => "bad_status_words",
            Outcome::DuplicateDeviceRule => "duplicate_device_rule",
            Outcome::UnknownDeviceRule => "unknown_device_rule",
            Outcome::SeriesAdded => "series_added",
            Outcome::SeriesRenamed => "series_renamed",
            Outcome::SeriesDeleted => "series_deleted",
            Outcome::BadSeriesTopics => "bad_series_topics",
            Outcome::BadSeriesField => "bad_series_field",
            Outcome::BadSeriesLabel => "bad_series_label",
            Outcome::BadSeriesUnit => "bad_series_unit",
            Outcome::DuplicateSeries => "duplicate_series",
            Outcome::TooManySeries => "too_many_series",
            Outcome::UnknownSeries => "unknown_series",
            Outcome::PageAdded => "page_added",
            Outcome::PageChanged => "page_changed",
            Outcome::PageDeleted => "page_deleted",
            Outcome::WidgetAdded => "widget_added",
            Outcome::WidgetChanged => "widget_changed",
            Outcome::WidgetDeleted => "widget_deleted",
            Outcome::WidgetMoved => "widget_moved",
            Outcome::WidgetsArranged => "widgets_arranged",
            Outcome::StaleArrangement => "stale_arrangement",
            Outcome::TooManyWidgets => "too_many_widgets",
            Outcome::NotYourBoard => "not_your_board",
            Outcome::NotComposable => "not_composable",
            Outcome::BoardOpensBeyondRights => "board_opens_beyond_rights",
            Outcome::SlugTaken => "slug_taken",
            Outcome::UnknownPage => "unknown_page",
            Outcome::UnknownWidget => "unknown_widget",
            Outcome::Spec(problem) => problem.code(),
            Outcome::OutsideAudience(outside) => outside.code(),
            Outcome::PublicPublish => "public_publish",
            Outcome::AlertRuleAdded => "alert_rule_added",
            Outcome::AlertRuleChanged => "alert_rule_changed",
            Outcome::AlertRuleDeleted => "alert_rule_deleted",
            Outcome::ChannelAdded => "channel_added",
            Outcome::ChannelChanged => "channel_changed",
            Outcome::ChannelDeleted => "channel_deleted",
            Outcome::ChannelTestQueued => "channel_test_queued",
            Outcome::AlertNameTaken => "alert_name_taken",
            Outcome::TooManyAlerts => "too_many_alerts",
            Outcome::UnknownAlert => "unknown_alert",
            Outcome::AlertFromConfig => "alert_from_config",
            Outcome::Alert(problem) => problem.code(),
            Outcome::IncidentOpened => "incident_opened",
            Outcome::IncidentUpdated => "incident_updated",
            Outcome::IncidentDeleted => "incident_deleted",
            Outcome::UnknownIncident => "unknown_incident",
            Outcome::ProposalDismissed => "proposal_dismissed",
            Outcome::UnknownProposal => "unknown_proposal",
            Outcome::MailChannelSet => "mail_channel_set",
            Outcome::WebhookAdded => "webhook_added",
            Outcome::FollowerDeleted => "follower_deleted",
            Outcome::NotAMailChannel => "not_a_mail_channel",
            Outcome::BadWebhook => "bad_webhook",
            Outcome::TooManyWebhooks => "too_many_webhooks",
            Outcome::UnknownFollower => "unknown_follower",
            Outcome::TooManyUpdates => "too_many_updates",
            Outcome::Incident(problem) => problem.code(),
            Outcome::MaintenancePlanned => "maintenance_planned",
            Outcome::MaintenanceDeleted => "maintenance_deleted",
            Outcome::UnknownMaintenance => "unknown_maintenance",
            Outcome::TooManyMaintenance => "too_many_maintenance",
            Outcome::Maintenance(problem) => problem.code(),
            Outcome::TokenCreated => "token_created",
            Outcome::TokenRevoked => "token_revoked",
            Outcome::Token(problem) => problem.code(),
            Outcome::TooManyTokens => "too_many_tokens",
            Outcome::UnknownToken => "unknown_token",
            Outcome::BadForm => "bad_form",
            Outcome::Unavailable => "unavailable",
        }
    }

    pub fn is_error(self) -> bool {
        !matches!(
            self,
            Outcome::UserAdded
                | Outcome::RoleChanged
                | Outcome::PasswordReset
                | Outcome::UserDisabled
                | Outcome::UserEnabled
                | Outcome::RuleAdded
                | Outcome::RuleChanged
                | Outcome::RuleDeleted
                | Outcome::DeviceRuleAdded
                | Outcome::DeviceRuleChanged
                | Outcome::DeviceRuleDeleted
                | Outcome::SeriesAdded
                | Outcome::SeriesRenamed
                | Outcome::SeriesDeleted
                | Outcome::PageAdded
                | Outcome::PageChanged
                | Outcome::PageDeleted
                | Outcome::WidgetAdded
                | Outcome::WidgetChanged
                | Outcome::WidgetDeleted
                | Outcome::WidgetMoved
                | Outcome::WidgetsArranged
                | Outcome::AlertRuleAdded
                | Outcome::AlertRuleChanged
                | Outcome::AlertRuleDeleted
                | Outcome::ChannelAdded
                | Outcome::ChannelChanged
                | Outcome::ChannelDeleted
                | Outcome::ChannelTestQueued
                | Outcome::IncidentOpened
                | Outcome::IncidentUpdated
                | Outcome::IncidentDeleted
                | Outcome::ProposalDismissed
                | Outcome::MailChannelSet
                | Outcome::WebhookAdded
                | Outcome::FollowerDeleted
                | Outcome::MaintenancePlanned
                | Outcome::MaintenanceDeleted
                | Outcome::TokenCreated
                | Outcome::TokenRevoked
        )
    }

    pub fn text(self) -> &'static str {
        match self {
            Outcome::UserAdded => "The user was added.",
            Outcome::RoleChanged => "The role was changed.",
            Outcome::PasswordReset => "The password was set, and that user's sessions ended.",
            Outcome::UserDisabled => "The user was disabled, and their sessions ended.",
            Outcome::UserEnabled => "The user was enabled.",
            Outcome::RuleAdded => "The rule was added; it applies now.",
            Outcome::RuleChanged => "The rule was changed; the change applies now.",
            Outcome::RuleDeleted => "The rule was deleted; it no longer applies.",
            Outcome::NameTaken => "A user with that name exists already (names ignore case).",
            Outcome::BadName => {
                "That is not a valid user name: 1 to 64 characters, no spaces or control characters."
            }
            Outcome::WeakPassword => {
                "That password was refused: it needs at least 10 characters (at most 1024 bytes)."
            }
            Outcome::LastAdmin => {
                "Refused: that is the last enabled admin. Make another user admin first."
            }
            Outcome::UnknownUser => "There is no such user (any more).",
            Outcome::BadFilter => {
                "That is not an MQTT topic filter: it cannot be empty, '+' and '#' must fill a \
                 whole level, and '#' may only be the last level (as in plant/+/temperature or \
                 plant/#)."
            }
            Outcome::DuplicateRule => "That rule exists already.",
            Outcome::UnknownRule => "There is no such rule (any more).",
            Outcome::DeviceRuleAdded => "The device rule was added.",
            Outcome::DeviceRuleChanged => "The device rule was changed.",
            Outcome::DeviceRuleDeleted => "The device rule was deleted.",
            Outcome::BadDeviceRuleName => {
                "A device rule needs a name of 1 to 80 characters, without control characters."
            }
            Outcome::BadDeviceFilter => {
                "The device topics must be an MQTT topic filter with exactly one '+', the level \
                 that names the device (as in sensors/+/# or plant/+/temperature)."
            }
            Outcome::BadStatusTopic => {
                "The status topic must be empty or a topic with exactly one '+' for the device \
                 and no '#' (as in sensors/+/status)."
            }
            Outcome::BadInterval => {
                "The expected interval is a whole number of seconds from 1 to 604800 (a week)."
            }
            Outcome::BadStatusWords => {
                "The online and offline payloads must differ (ignoring case) and have at most 64 \
                 characters."
            }
            Outcome::DuplicateDeviceRule => "A device rule for those device topics exists already.",
            Outcome::UnknownDeviceRule => "There is no such device rule (any more).",
            Outcome::SeriesAdded => "The series was added: its values are rolled up from the next message on.",
            Outcome::SeriesRenamed => "The series was renamed.",
            Outcome::SeriesDeleted => "The series was deleted, with its history.",
            Outcome::BadSeriesTopics => {
                "The topics must be an MQTT topic filter of at most 256 characters ('+' and '#' \
                 fill a whole level, '#' only last, as in sensors/+/climate)."
            },
            Outcome::BadSeriesField => {
                "The field must be a JSON pointer such as /temperature or /sensors/0/value (a \
                 payload's own number is charted anyway)."
            },
            Outcome::BadSeriesLabel => "A series needs a label of 1 to 64 characters, without control characters.",
            Outcome::BadSeriesUnit => "A unit has at most 16 characters, without control characters.",
            Outcome::DuplicateSeries => "That field of those topics is a series already.",
            Outcome::TooManySeries => "At most 100 series can be named: delete one first.",
            Outcome::UnknownSeries => "There is no such series (any more).",
            Outcome::PageAdded => "The page was created as a draft: add widgets, then publish it.",
            Outcome::PageChanged => "The page was saved; visitors get the change from now on.",
            Outcome::PageDeleted => "The page was deleted.",
            Outcome::WidgetAdded => "The widget was added.",
            Outcome::WidgetChanged => "The widget was saved.",
            Outcome::WidgetDeleted => "The widget was deleted.",
            Outcome::WidgetMoved => "The widget was moved.",
            Outcome::WidgetsArranged => "The widgets were arranged.",
            Outcome::StaleArrangement => {
                "Widgets were added or deleted since this editor was opened, so nothing was \
                 moved. Arrange them again."
            }
            Outcome::TooManyWidgets => "A page holds at most 200 widgets.",
            Outcome::NotYourBoard => {
                "Only its admins and the operator who composes it may change this board."
            }
            Outcome::NotComposable => {
                "A board you compose may show only topics your role's compose rules cover and \
                 you may read; ask an admin for a rule."
            }
            Outcome::BoardOpensBeyondRights => {
                "Only an admin makes a board public, and a board you compose opens for \
                 operators at least."
            }
            Outcome::SlugTaken => "Another page has that address already.",
            Outcome::UnknownPage => "There is no such status page (any more).",
            Outcome::UnknownWidget => "There is no such widget on this page (any more).",
            Outcome::Spec(problem) => problem.describe(),
            Outcome::OutsideAudience(outside) => outside.describe(),
            Outcome::PublicPublish => {
                "The public may only read: anonymous visitors see topics through published \
                 status pages, and never publish nor compose boards."
            }
            Outcome::BadForm => "The form was incomplete; nothing was changed.",
            Outcome::AlertRuleAdded => "The alert rule was added; it is evaluated from now on.",
            Outcome::AlertRuleChanged => "The alert rule was saved; a changed condition starts afresh.",
            Outcome::AlertRuleDeleted => "The alert rule was deleted.",
            Outcome::ChannelAdded => "The channel was added: send it a test to check it.",
            Outcome::ChannelChanged => "The channel was saved.",
            Outcome::ChannelDeleted => "The channel was deleted, with its queued notices.",
            Outcome::ChannelTestQueued => "A test notice was queued: its outcome shows below within seconds.",
            Outcome::AlertNameTaken => "A rule or channel of that name exists already.",
            Outcome::TooManyAlerts => "There are as many rules or channels as Lookout allows (10,000 rules, 100 channels).",
            Outcome::UnknownAlert => "There is no such alert rule or channel (any more).",
            Outcome::AlertFromConfig => "That rule or channel is kept in the config file: change it there (the file is read again at each start).",
            Outcome::Alert(problem) => problem.describe(),
            Outcome::IncidentOpened => "The incident was opened: the page shows it now.",
            Outcome::IncidentUpdated => "The update was posted: the page shows it now.",
            Outcome::IncidentDeleted => "The incident was deleted.",
            Outcome::UnknownIncident => "There is no such incident on this page (any more).",
            Outcome::TooManyUpdates => "That incident has 100 updates already: open a new one.",
            Outcome::ProposalDismissed => {
                "Dismissed: the desk no longer proposes it, unless the alert fires again."
            }
            Outcome::UnknownProposal => {
                "That alert proposes no incident on that page any more (it resolved, or someone answered it)."
            }
            Outcome::MailChannelSet => "Saved: subscribers are written to through that channel.",
            Outcome::WebhookAdded => "The webhook was added: it gets the page's news from now on.",
            Outcome::FollowerDeleted => "Removed: it gets nothing more from this page.",
            Outcome::NotAMailChannel => "Choose one of the e-mail channels (or none).",
            Outcome::BadWebhook => {
                "A webhook's address must start with https:// or http:// and hold no spaces (at most 2048 characters)."
            }
            Outcome::TooManyWebhooks => "This page has that webhook already, or 20 webhooks.",
            Outcome::UnknownFollower => "There is no such follower of this page (any more).",
            Outcome::Incident(problem) => problem.describe(),
            Outcome::MaintenancePlanned => {
                "The maintenance window was planned: the page announces it, and alerts about what it covers are muted while it lasts."
            }
            Outcome::MaintenanceDeleted => "The maintenance window was deleted.",
            Outcome::UnknownMaintenance => "There is no such maintenance window on this page (any more).",
            Outcome::TooManyMaintenance => "This page has 50 maintenance windows already: delete one first.",
            Outcome::Maintenance(problem) => problem.describe(),
            Outcome::TokenCreated => {
                "The token was made. Copy it now: it is shown this once, and only its hash is kept."
            }
            Outcome::TokenRevoked => {
                "The token was revoked: connections made with it end within seconds."
            }
            Outcome::Token(problem) => problem.describe(),
            Outcome::TooManyTokens => {
                "A user keeps at most 20 tokens in force: revoke one you no longer use first."
            }
            Outcome::UnknownToken => "There is no such token (any more), or it is not yours.",
            Outcome::Unavailable => "Lookout cannot reach its database right now; try again.",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Outcome::ALL
            .into_iter()
            .chain(SpecProblem::ALL.map(Outcome::Spec))
            .chain(OutsideAudience::ALL.map(Outcome::OutsideAudience))
            .chain(AlertProblem::ALL.map(Outcome::Alert))
            .chain(IncidentProblem::ALL.map(Outcome::Incident))
            .chain(MaintenanceProblem::ALL.map(Outcome::Maintenance))
            .chain(TokenProblem::ALL.map(Outcome::Token))
            .find(|outcome| outcome.code() == code)
    }

    /// The query that carries this outcome back to a page.
    pub fn query(self) -> String {
        let key = if self.is_error() { "error" } else { "done" };
        format!("{key}={}", self.code())
    }

    /// The query that carries this outcome back to the page of the form that was posted, naming
    /// that form (its [`FORM_ID`] field) when the refusal is about one of its fields, so the page
    /// can mark that field and say why below it.
    pub fn query_for(self, form_id: &str) -> String {
        match self.field() {
            Some(_) if self.is_error() && is_form_id(form_id) => {
                format!("{}&{FORM_ID}={form_id}", self.query())
            }
            _ => self.query(),
        }
    }

    /// The form field (its `name`) a refusal is about, when it is about one.
    pub fn field(self) -> Option<&'static str> {
        Some(match self {
            Outcome::NameTaken | Outcome::BadName | Outcome::BadDeviceRuleName => "name",
            Outcome::WeakPassword => "password",
            Outcome::BadFilter
            | Outcome::DuplicateRule
            | Outcome::BadDeviceFilter
            | Outcome::DuplicateDeviceRule => "filter",
            Outcome::PublicPublish => "permission",
            Outcome::BadStatusTopic => "status_topic",
            Outcome::BadInterval => "interval",
            Outcome::BadStatusWords => "online",
            Outcome::SlugTaken => "slug",
            Outcome::NotComposable => "topic",
            Outcome::BoardOpensBeyondRights => "public",
            Outcome::BadSeriesTopics | Outcome::DuplicateSeries => "filter",
            Outcome::BadSeriesField => "pointer",
            Outcome::BadSeriesLabel => "label",
            Outcome::BadSeriesUnit => "unit",
            Outcome::Spec(problem) => problem.field(),
            Outcome::Alert(problem) => problem.field(),
            Outcome::Incident(problem) => problem.field(),
            Outcome::Maintenance(problem) => problem.field(),
            Outcome::Token(problem) => problem.field(),
            Outcome::AlertNameTaken => "name",
            Outcome::BadWebhook => "url",
            Outcome::NotAMailChannel => "channel",
            Outcome::OutsideAudience(OutsideAudience::Device) => "device",
            Outcome::OutsideAudience(OutsideAudience::Topic | OutsideAudience::Filter) => "topic",
            _ => return None,
        })
    }
}

/// The hidden field that names a form on a page with several (`id` of the form element), and the
/// query key that names it again after the redirect.
pub const FORM_ID: &str = "form_id";

/// Whether a posted form id may go back into the redirect's query as it is: a crafted one is
/// dropped (the outcome still shows at the top of the page), so the query needs no escaping.
pub fn is_form_id(form_id: &str) -> bool {
    (1..=80).contains(&form_id.len())
        && form_id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

#[cfg(test)]
mod tests {
    use super::{Outcome, OutsideAudience, SpecProblem};

    #[test]
    fn every_outcome_comes_back_from_its_code_under_the_right_key() {
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::from_code(outcome.code()), Some(outcome));
            let key = if outcome.is_error() {
                "error="
            } else {
                "done="
            };
            assert!(outcome.query().starts_with(key), "{outcome:?}");
        }
        // A widget's refusal whose code another outcome had would come back as that one.
        for problem in SpecProblem::ALL {
            let outcome = Outcome::from_code(problem.code());
            assert_eq!(outcome, Some(Outcome::Spec(problem)), "{problem:?}");
        }
        for outside in OutsideAudience::ALL {
            let outcome = Outcome::from_code(outside.code()).unwrap();
            assert_eq!(outcome, Outcome::OutsideAudience(outside));
            assert!(outcome.is_error());
        }
        assert_eq!(Outcome::from_code("<script>"), None);
    }

    #[test]
    fn a_refused_field_names_its_form_and_a_crafted_form_id_is_dropped() {
        assert_eq!(
            Outcome::WeakPassword.query_for("password-3"),
            "error=weak_password&form_id=password-3"
        );
        assert_eq!(
            Outcome::WeakPassword.query_for("x&done=user_added"),
            "error=weak_password"
        );
        assert_eq!(Outcome::WeakPassword.query_for(""), "error=weak_password");
        // Only refusals about a field name a form.
        assert_eq!(Outcome::UserAdded.query_for("add-user"), "done=user_added");
        assert_eq!(
            Outcome::Unavailable.query_for("add-user"),
            "error=unavailable"
        );
        for problem in SpecProblem::ALL {
            assert!(Outcome::Spec(problem).field().is_some(), "{problem:?}");
        }
    }

    #[test]
    fn the_messages_state_the_limits_the_accounts_module_enforces() {
        use crate::domain::accounts::{MAX_NAME_CHARS, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
        let password = Outcome::WeakPassword.text();
        assert!(password.contains(&format!("at least {MIN_PASSWORD_CHARS} characters")));
        assert!(password.contains(&format!("at most {MAX_PASSWORD_BYTES} bytes")));
        assert!(Outcome::BadName
            .text()
            .contains(&format!("1 to {MAX_NAME_CHARS} characters")));
        use crate::domain::liveness;
        assert!(Outcome::BadDeviceRuleName
            .text()
            .contains(&format!("1 to {} characters", liveness::MAX_NAME_CHARS)));
        assert!(Outcome::BadInterval
            .text()
            .contains(&format!("1 to {}", liveness::MAX_INTERVAL_SECONDS)));
        assert!(Outcome::BadStatusWords
            .text()
            .contains(&format!("at most {} characters", liveness::MAX_WORD_CHARS)));
    }
}
