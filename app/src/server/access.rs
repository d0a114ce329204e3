//! The one place that decides access. Every page, server function, stream and JSON route asks
//! it; nothing else decides on its own.
//!
//! - Anonymous visitors get published status pages from cached snapshots, and nothing live.
//! - Viewers read live the topics their role's rules allow.
//! - Operators also publish to the topics their rules allow.
//! - Admins may do everything, including managing users and rules.
//! - The public audience, a set of rules like a role's, says which topics anonymous visitors may
//!   ever see through a published page. It is empty on a fresh install: public means chosen.

use crate::domain::accounts::User;
use crate::domain::liveness::LivenessRule;
use crate::domain::roles::{AccessRule, Audience, Permission, Role};
use crate::domain::status_page::{
    ChartSeries, OutsideAudience, Visibility, WidgetKind, WidgetSpec,
};
use crate::domain::topic_filter::TopicFilter;
use crate::server::store::Store;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visitor {
    Anonymous,
    SignedIn(User),
}

impl Visitor {
    pub fn user(&self) -> Option<&User> {
        match self {
            Visitor::Anonymous => None,
            Visitor::SignedIn(user) => Some(user),
        }
    }

    fn role(&self) -> Option<Role> {
        self.user().map(|user| user.role)
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }
}

/// What part of the site a route belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// Anyone: public status pages, the login page, health and metrics; and what no route takes
    /// (the site's files and the 404 page).
    Public,
    /// Signed-in users: the live dashboard and everything it reads.
    Dashboard,
    /// Operators and admins: what the people on duty do for everyone else (incidents on the
    /// status pages).
    Operations,
    /// The board editor: admins, and operators a `compose` rule lets build boards of their own
    /// (which boards and topics each may touch is [`BoardRights`]' to say, per change).
    Boards,
    /// Admins: users, rules, alerts, and a board's incidents, maintenance and followers.
    Admin,
}

/// The answer for a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Anonymous, and the route needs a login: send them to log in.
    LogIn,
    /// Signed in, but not allowed.
    Forbidden,
}

/// The area of a request for `path`. `routed` says whether one of the router's routes took it.
/// A request that none took ends in the fallback, which only serves the site's files (a build
/// without them inside serves them from disk) or the 404 page: public, and they show nothing
/// private, so an anonymous visitor gets the same 404 page as anyone for an address that does
/// not exist.
pub fn area_of_request(path: &str, routed: bool) -> Area {
    if routed {
        area_of(path)
    } else {
        Area::Public
    }
}

/// The area of a route's path. Closed by default: a route nobody classified here needs a
/// signed-in user, so a new route is never public by accident (and the route matrix test,
/// which lists every route of the router, fails until it has an expectation).
pub fn area_of(path: &str) -> Area {
    let path = path.trim_end_matches('/');
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "admin" if is_board_editor(path) => Area::Boards,
        "admin" => Area::Admin,
        // The incident desk and its forms.
        "incidents" => Area::Operations,
        // Logging in and out, and what a supervisor, a load balancer and Prometheus ask.
        "login" | "logout" | "healthz" | "readyz" | "metrics" => Area::Public,
        // The colour theme every page offers, status pages too (`server/src/theme.rs`).
        "theme" | "theme.css" => Area::Public,
        // Boards (status pages) and their exports: who gets which view, or none, is decided per
        // board (`board_view`), topics per widget (`Rules::widget_for`).
        "status" => Area::Public,
        "api" => match path.trim_start_matches("/api/") {
            // The login page asks whether any user exists yet, before anyone is signed in.
            "login_hints" | "current_visitor" => Area::Public,
            "admin_status_pages" | "admin_status_page" => Area::Boards,
            endpoint if endpoint.starts_with("admin_") => Area::Admin,
            endpoint if endpoint.starts_with("ops_") => Area::Operations,
            _ => Area::Dashboard,
        },
        // The dashboard's pages ("", devices, topics, topic, publish) and anything unlisted.
        _ => Area::Dashboard,
    }
}

/// Whether `path` is the board editor's: the list, one board's editor, and the forms that change
/// a board's settings and widgets. A board's incidents, maintenance and followers stay admins'.
fn is_board_editor(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/admin/pages") else {
        return false;
    };
    match rest.trim_start_matches('/').split('/').next().unwrap_or("") {
        "incidents" | "maintenance" | "followers" => false,
        "" | "add" | "change" | "delete" | "widgets" => true,
        // `/admin/pages/<id>`: one board's editor.
        id => id.bytes().all(|byte| byte.is_ascii_digit()),
    }
}

/// What a role may do with topics: the rules as loaded, for one decision or many.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    rules: Vec<AccessRule>,
}

impl Rules {
    pub fn new(rules: Vec<AccessRule>) -> Self {
        Self { rules }
    }

    pub fn all(&self) -> &[AccessRule] {
        &self.rules
    }

    /// May `visitor` open a route of `area`?
    pub fn route(&self, visitor: &Visitor, area: Area) -> Decision {
        match (area, visitor) {
            (Area::Public, _) => Decision::Allow,
            (_, Visitor::Anonymous) => Decision::LogIn,
            (Area::Dashboard, Visitor::SignedIn(_)) => Decision::Allow,
            (Area::Operations, Visitor::SignedIn(user)) if user.role >= Role::Operator => {
                Decision::Allow
            }
            (Area::Operations, Visitor::SignedIn(_)) => Decision::Forbidden,
            (Area::Boards, visitor) if self.board_rights(visitor) != BoardRights::Nothing => {
                Decision::Allow
            }
            (Area::Boards, Visitor::SignedIn(_)) => Decision::Forbidden,
            (Area::Admin, visitor) if visitor.is_admin() => Decision::Allow,
            (Area::Admin, Visitor::SignedIn(_)) => Decision::Forbidden,
        }
    }

    /// Live views (the dashboard, the stream) are for signed-in users; anyone else gets only
    /// cached public snapshots.
    pub fn sees_live(&self, visitor: &Visitor) -> bool {
        visitor.user().is_some()
    }

    /// May `visitor` read `topic` live (its values, history, stream)?
    pub fn may_read(&self, visitor: &Visitor, topic: &str) -> bool {
        self.allows(visitor, topic, Permission::Read)
    }

    /// May `visitor` publish to `topic`? Operators and admins only, and operators only where a
    /// rule of their role allows it.
    pub fn may_publish(&self, visitor: &Visitor, topic: &str) -> bool {
        self.allows(visitor, topic, Permission::Publish)
    }

    fn allows(&self, visitor: &Visitor, topic: &str, permission: Permission) -> bool {
        visitor
            .role()
            .is_some_and(|role| self.audience_allows(role.into(), topic, permission))
    }

    fn audience_allows(&self, audience: Audience, topic: &str, permission: Permission) -> bool {
        match self.granted(audience, permission) {
            None => true,
            Some(mut filters) => filters.any(|filter| filter.matches(topic)),
        }
    }

    /// May a board's view for `audience` (the public, or a signed-in role) show `topic`
    /// (anything of it: a value, a time, a device state it tells)?
    pub fn audience_may_read(&self, audience: Audience, topic: &str) -> bool {
        self.audience_allows(audience, topic, Permission::Read)
    }

    /// May a board's view for `audience` offer a control that publishes to `topic`?
    pub fn audience_may_publish(&self, audience: Audience, topic: &str) -> bool {
        self.audience_allows(audience, topic, Permission::Publish)
    }

    /// Where the topics `filter` matches that `audience` may read lie: the literal start of each
    /// of the audience's filters that shares a topic with it, or of `filter` where that is
    /// longer (just `filter`'s for an audience that reads everything). Storage narrows a table's
    /// search to these; [`Rules::audience_may_read`] still decides each topic. Shorter starts
    /// absorb the longer ones they begin.
    pub fn starts_for(&self, audience: Audience, filter: &TopicFilter) -> Vec<String> {
        let start = |filter: &TopicFilter| {
            let text = filter.as_str();
            let literal = &text[..text.find(['+', '#']).unwrap_or(text.len())];
            literal.strip_suffix('/').unwrap_or(literal).to_owned()
        };
        let Some(readable) = self.granted(audience, Permission::Read) else {
            return vec![start(filter)];
        };
        let mut starts: Vec<String> = readable
            .filter(|readable| overlap(readable, filter))
            .map(|readable| std::cmp::max_by_key(start(readable), start(filter), String::len))
            .collect();
        starts.sort_unstable();
        starts.dedup_by(|longer, shorter| longer.starts_with(shorter.as_str()));
        starts
    }

    /// May a widget show on a public page, and if not, why: [`Rules::widget_for`] the public.
    /// The editor asks this of every widget of a public board.
    pub fn public_widget(
        &self,
        spec: &WidgetSpec,
        device_rules: &[LivenessRule],
    ) -> Result<(), OutsideAudience> {
        self.widget_for(Audience::Public, spec, device_rules)
    }

    /// May a widget show in a board's view for `audience`, and if not, why. Its topic must be
    /// readable by the audience. A table's filter and a device (the topics that tell its state,
    /// from `device_rules`) must share at least one topic with what it reads: they then show
    /// only the topics inside it, decided again at every snapshot
    /// ([`Rules::audience_may_read`]).
    pub fn widget_for(
        &self,
        audience: Audience,
        spec: &WidgetSpec,
        device_rules: &[LivenessRule],
    ) -> Result<(), OutsideAudience> {
        let overlaps = |filter: &TopicFilter| match self.granted(audience, Permission::Read) {
            None => true,
            Some(mut readable) => readable.any(|f| overlap(f, filter)),
        };
        let may_read = |topic: &str| self.audience_may_read(audience, topic);
        match (&spec.kind, spec.device()) {
            (_, Some(name)) => {
                let mut filters = device_filters(device_rules, name);
                // A topic beside the device still gives the widget its history export.
                if !spec.topic.is_empty() && !may_read(&spec.topic) {
                    Err(OutsideAudience::Topic)
                } else if filters.any(|filter| overlaps(&filter)) {
                    Ok(())
                } else {
                    Err(OutsideAudience::Device)
                }
            }
            // Bound to no topic: it shows the words an admin wrote for the page, or incidents
            // and alerts chosen for the audience when the view is built.
            (kind, _) if kind.is_unbound() && spec.topic.is_empty() => Ok(()),
            // A chart shows when any of its series does, and shows only those
            // ([`Rules::readable_series`]).
            (WidgetKind::Chart, _) => {
                if spec.series.iter().any(|series| may_read(&series.topic)) {
                    Ok(())
                } else {
                    Err(OutsideAudience::Topic)
                }
            }
            // A control is for people who signed in: never in the public view.
            (kind, _) if kind.is_control() && audience == Audience::Public => {
                Err(OutsideAudience::Topic)
            }
            (kind, _) if kind.takes_filter() => match TopicFilter::parse(&spec.topic) {
                Ok(filter) if overlaps(&filter) => Ok(()),
                _ => Err(OutsideAudience::Filter),
            },
            _ if may_read(&spec.topic) => Ok(()),
            _ => Err(OutsideAudience::Topic),
        }
    }

    /// The series of a chart `audience` may read, in their order: a view leaves the others
    /// out whole (never sent), as it leaves out widgets [`Rules::widget_for`] refuses.
    pub fn readable_series(&self, audience: Audience, series: &[ChartSeries]) -> Vec<ChartSeries> {
        series
            .iter()
            .filter(|series| self.audience_may_read(audience, &series.topic))
            .cloned()
            .collect()
    }

    /// What `visitor` may do in the board editor: every board for an admin; for an operator
    /// whose role has `compose` rules, the boards they created, bound to what those rules
    /// cover; nothing for anyone else.
    pub fn board_rights(&self, visitor: &Visitor) -> BoardRights {
        let Some(user) = visitor.user() else {
            return BoardRights::Nothing;
        };
        let Some(compose) = self.granted(user.role.into(), Permission::Compose) else {
            return BoardRights::Every;
        };
        let compose: Vec<TopicFilter> = compose.cloned().collect();
        if compose.is_empty() {
            return BoardRights::Nothing;
        }
        BoardRights::Own {
            user: user.id,
            compose,
            read: self.read_filters(visitor),
        }
    }

    /// The filters that grant `audience` a `permission`, or `None` when it needs no rule:
    /// admins need none; viewers and the public never publish nor compose, whatever a rule says.
    fn granted(
        &self,
        audience: Audience,
        permission: Permission,
    ) -> Option<impl Iterator<Item = &TopicFilter>> {
        if audience == Audience::Role(Role::Admin) {
            return None;
        }
        let never = permission != Permission::Read && audience <= Audience::Role(Role::Viewer);
        Some(
            self.rules
                .iter()
                .filter(move |rule| {
                    !never && rule.audience == audience && rule.permission == permission
                })
                .map(|rule| &rule.filter),
        )
    }

    /// The filters of the topics `visitor` may read, for a query to narrow a list by before
    /// [`Rules::may_read`] decides each topic; `None` when every topic is readable.
    pub fn read_filters(&self, visitor: &Visitor) -> Option<Vec<TopicFilter>> {
        match visitor.role() {
            Some(role) => self
                .granted(role.into(), Permission::Read)
                .map(|filters| filters.cloned().collect()),
            None => Some(Vec::new()),
        }
    }

    /// Where `visitor` may publish, as the publish page explains it.
    pub fn publish_scope(&self, visitor: &Visitor) -> PublishScope {
        let granted = visitor
            .role()
            .map(|role| self.granted(role.into(), Permission::Publish));
        match granted {
            Some(None) => PublishScope::Everything,
            Some(Some(filters)) => PublishScope::Filters(filters.cloned().collect()),
            None => PublishScope::Filters(Vec::new()),
        }
    }

    /// Who may read `topic` (the public through pages, roles live), and which roles may publish
    /// to it: the "who can see topic X" preview of the rules page.
    pub fn who_may(&self, topic: &str) -> (Vec<Audience>, Vec<Audience>) {
        let pick = |permission: Permission| {
            Audience::ALL
                .into_iter()
                .filter(|audience| self.audience_allows(*audience, topic, permission))
                .collect()
        };
        (pick(Permission::Read), pick(Permission::Publish))
    }
}

/// Which view of a board `visitor` gets, or `None` for the same 404 as for a board that does not
/// exist. A draft opens only for admins and the operator who composes it (`owner`). Anonymous
/// visitors get the public view of a public board. A signed-in user whose role the board opens
/// for gets their role's view (every widget the role may read), or the public view when they
/// ask for it (`asks_public`, an admin's check of what visitors see) on a public board; one
/// whose role it does not open for gets the public view of a public board, like anyone.
pub fn board_view(
    visitor: &Visitor,
    published: bool,
    visibility: Visibility,
    asks_public: bool,
    owner: Option<i64>,
) -> Option<Audience> {
    let Some(user) = visitor.user() else {
        return (published && visibility.public).then_some(Audience::Public);
    };
    let role = user.role;
    if !published && role != Role::Admin {
        // An owner's draft is never public, and opens for their role (`BoardRights::may_open`).
        return (owner == Some(user.id)).then_some(Audience::Role(role));
    }
    let own = visibility.opens_for(role);
    if visibility.public && (asks_public || !own) {
        Some(Audience::Public)
    } else {
        own.then_some(Audience::Role(role))
    }
}

/// Whose personal access tokens `visitor` may list and revoke besides their own: everyone's,
/// for an admin. (Each user makes tokens only for themselves.)
pub fn manages_every_token(visitor: &Visitor) -> bool {
    visitor.is_admin()
}

/// May `audience` open a published board of `visibility` in its own view (an incidents summary
/// names only such boards' incidents)?
pub fn board_opens_for(audience: Audience, visibility: Visibility) -> bool {
    match audience {
        Audience::Public => visibility.public,
        Audience::Role(role) => visibility.opens_for(role),
    }
}

/// May `audience` see the alerts firing? Those who work the incident desk: operators and admins.
pub fn audience_sees_alerts(audience: Audience) -> bool {
    audience >= Audience::Role(Role::Operator)
}

/// The filters of the topics that tell the state of device `name` under `rules`: each rule's
/// device and status filters with the device's level filled in (`sensors/+/#` for `boiler` is
/// `sensors/boiler/#`). None for a name that is not one whole topic level, which names no device.
pub fn device_filters<'r>(
    rules: &'r [LivenessRule],
    name: &'r str,
) -> impl Iterator<Item = TopicFilter> + 'r {
    let names_a_level = !name.is_empty() && !name.contains(['/', '+', '#']);
    rules
        .iter()
        .filter(move |_| names_a_level)
        .flat_map(|rule| std::iter::once(&rule.devices).chain(rule.status.as_ref()))
        .filter_map(move |pattern| {
            let filled: Vec<&str> = pattern
                .as_str()
                .split('/')
                .map(|level| if level == "+" { name } else { level })
                .collect();
            TopicFilter::parse(&filled.join("/")).ok()
        })
}

/// What a user may do in the board editor ([`Rules::board_rights`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BoardRights {
    /// An admin: every board, bound to any topic, opened to anyone.
    Every,
    /// An operator composing by a rule: the boards `user` created, bound only to topics that
    /// `compose` covers and they may `read` (`None`: every topic), opened to signed-in roles
    /// that include their own, never to the public (what anonymous visitors see, an admin
    /// chooses).
    Own {
        user: i64,
        compose: Vec<TopicFilter>,
        read: Option<Vec<TopicFilter>>,
    },
    Nothing,
}

impl BoardRights {
    /// May they change a board that `owner` created (`None`: an admin's, or one from before
    /// boards had owners)?
    pub fn may_edit(&self, owner: Option<i64>) -> bool {
        match self {
            BoardRights::Every => true,
            BoardRights::Own { user, .. } => owner == Some(*user),
            BoardRights::Nothing => false,
        }
    }

    /// Who a board they create belongs to: them, when they compose by a rule.
    pub fn owner_of_new(&self) -> Option<i64> {
        match self {
            BoardRights::Own { user, .. } => Some(*user),
            _ => None,
        }
    }

    /// Who a board that opens as `before` opens for once they ask for `asked`, or `None` when
    /// they may not. Only admins decide whether a board is public: an operator's form has no
    /// public switch, so their save keeps what an admin chose, and asking to make a board
    /// public is refused. An operator's board opens for operators at least, so they never lock
    /// themselves out of it.
    pub fn may_open(&self, before: Visibility, asked: Visibility) -> Option<Visibility> {
        match self {
            BoardRights::Every => Some(asked),
            BoardRights::Own { .. } if asked.public && !before.public => None,
            BoardRights::Own { .. } => asked.opens_for(Role::Operator).then_some(Visibility {
                public: before.public,
                open_to: asked.open_to,
            }),
            BoardRights::Nothing => None,
        }
    }

    /// Who a board they create opens for until they say otherwise: as every status page did
    /// for an admin; for an operator, operators and admins, and not the public.
    pub fn new_board_visibility(&self) -> Visibility {
        match self {
            BoardRights::Own { .. } => Visibility {
                public: false,
                open_to: Role::Operator,
            },
            _ => Visibility::default(),
        }
    }

    /// The compose filters, for the editor to say what they may bind; `None` for everything.
    pub fn compose_filters(&self) -> Option<&[TopicFilter]> {
        match self {
            BoardRights::Every => None,
            BoardRights::Own { compose, .. } => Some(compose),
            BoardRights::Nothing => Some(&[]),
        }
    }

    /// May they bind a widget as `spec` says? Each topic it shows or publishes to must be
    /// covered by a compose filter and readable by them; each filter it lists topics of (a
    /// table's, a device list's, a device's) must lie wholly inside a compose filter and share
    /// topics with what they read.
    pub fn may_bind(
        &self,
        spec: &WidgetSpec,
        device_rules: &[LivenessRule],
    ) -> Result<(), OutsideAudience> {
        let (compose, read) = match self {
            BoardRights::Every => return Ok(()),
            BoardRights::Own { compose, read, .. } => (compose, read.as_deref()),
            BoardRights::Nothing => return Err(OutsideAudience::Topic),
        };
        let readable = |topic: &str| read.is_none_or(|read| read.iter().any(|f| f.matches(topic)));
        let topic_ok = |topic: &str| compose.iter().any(|f| f.matches(topic)) && readable(topic);
        let filter_ok = |filter: &TopicFilter| {
            compose.iter().any(|outer| covers(outer, filter))
                && read.is_none_or(|read| read.iter().any(|f| overlap(f, filter)))
        };
        let mut topics: Vec<&str> = spec.series.iter().map(|s| s.topic.as_str()).collect();
        if let Some(control) = &spec.control {
            topics.push(&control.command_topic);
        }
        if let Some(name) = spec.device() {
            let mut filters = device_filters(device_rules, name).peekable();
            if filters.peek().is_none() || !filters.all(|filter| filter_ok(&filter)) {
                return Err(OutsideAudience::Device);
            }
        }
        if !spec.topic.is_empty() {
            if spec.kind.takes_filter() {
                match TopicFilter::parse(&spec.topic) {
                    Ok(filter) if filter_ok(&filter) => {}
                    _ => return Err(OutsideAudience::Filter),
                }
            } else {
                topics.push(&spec.topic);
            }
        }
        match topics.into_iter().all(topic_ok) {
            true => Ok(()),
            false => Err(OutsideAudience::Topic),
        }
    }
}

/// Whether every topic `inner` matches, `outer` matches too.
fn covers(outer: &TopicFilter, inner: &TopicFilter) -> bool {
    let outer: Vec<&str> = outer.as_str().split('/').collect();
    let inner: Vec<&str> = inner.as_str().split('/').collect();
    // A leading wildcard never selects a `$` topic (see `TopicFilter::matches`).
    let wild = |level: &str| level == "+" || level == "#";
    if wild(outer[0]) && inner[0].starts_with('$') {
        return false;
    }
    let mut levels = (0..).map(|at| (outer.get(at).copied(), inner.get(at).copied()));
    loop {
        match levels.next().expect("an endless range") {
            (Some("#"), _) | (None, None) => return true,
            (_, Some("#")) => return false,
            (Some("+"), Some(_)) => continue,
            (Some(x), Some(y)) if x == y && y != "+" => continue,
            _ => return false,
        }
    }
}

/// Whether some topic name matches both filters.
fn overlap(a: &TopicFilter, b: &TopicFilter) -> bool {
    let a: Vec<&str> = a.as_str().split('/').collect();
    let b: Vec<&str> = b.as_str().split('/').collect();
    let wild = |level: &str| level == "+" || level == "#";
    // A leading wildcard never selects a `$` topic (see `TopicFilter::matches`).
    if (wild(a[0]) && b[0].starts_with('$')) || (wild(b[0]) && a[0].starts_with('$')) {
        return false;
    }
    let mut levels = (0..).map(|at| (a.get(at).copied(), b.get(at).copied()));
    loop {
        match levels.next().expect("an endless range") {
            (Some("#"), _) | (_, Some("#")) | (None, None) => return true,
            (Some(x), Some(y)) if x == y || x == "+" || y == "+" => continue,
            _ => return false,
        }
    }
}

/// The topics a visitor may publish to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishScope {
    Everything,
    /// Those these filters match; none at all when empty.
    Filters(Vec<TopicFilter>),
}

impl PublishScope {
    pub fn is_nowhere(&self) -> bool {
        matches!(self, PublishScope::Filters(filters) if filters.is_empty())
    }
}

/// The rules, loaded from PostgreSQL and kept for a few seconds: several instances share the
/// database, so a change made on one reaches the others within [`RULES_FRESH_FOR`]; a change made
/// here is seen at once ([`AccessPolicy::reload`]).
#[derive(Clone, Debug)]
pub struct AccessPolicy {
    store: Store,
    cached: Arc<Mutex<Option<LoadedRules>>>,
}

/// Rules and when they were read.
type LoadedRules = (Instant, Arc<Rules>);

pub const RULES_FRESH_FOR: Duration = Duration::from_secs(5);

impl AccessPolicy {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            cached: Arc::default(),
        }
    }

    /// The rules in force.
    pub async fn rules(&self) -> Result<Arc<Rules>, sqlx::Error> {
        if let Some((loaded, rules)) = self
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            if loaded.elapsed() < RULES_FRESH_FOR {
                return Ok(rules.clone());
            }
        }
        self.reload().await
    }

    /// Loads the rules now, after a change.
    pub async fn reload(&self) -> Result<Arc<Rules>, sqlx::Error> {
        let rules = Arc::new(Rules::new(self.store.access_rules().await?));
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), rules.clone()));
        Ok(rules)
    }

    /// The signed-in user of a session, if it is still allowed in: a user disabled since the
    /// login is anonymous again.
    pub async fn visitor(&self, user_id: Option<i64>) -> Result<Visitor, sqlx::Error> {
        let Some(user_id) = user_id else {
            return Ok(Visitor::Anonymous);
        };
        Ok(match self.store.user_by_id(user_id).await? {
            Some(user) if !user.disabled => Visitor::SignedIn(user),
            _ => Visitor::Anonymous,
        })
    }
}

/// The visitor of the request being served, for server functions and pages. The HTTP layer puts
/// it in the request's extensions before anything else runs.
pub fn current_visitor() -> Visitor {
    leptos::prelude::use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Visitor>().cloned())
        .unwrap_or(Visitor::Anonymous)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status_page::{StatusRule, WidgetKind};

    fn user(role: Role) -> Visitor {
        Visitor::SignedIn(User {
            id: 1,
            name: "someone".to_owned(),
            role,
            disabled: false,
        })
    }

    fn rule(audience: impl Into<Audience>, filter: &str, permission: Permission) -> AccessRule {
        AccessRule {
            id: 0,
            audience: audience.into(),
            filter: TopicFilter::parse(filter).unwrap(),
            permission,
        }
    }

    #[test]
    fn each_role_gets_its_areas() {
        let rules = Rules::default();
        let anonymous = Visitor::Anonymous;
        for (area, expected) in [
            (Area::Public, [Decision::Allow; 4]),
            (
                Area::Dashboard,
                [
                    Decision::LogIn,
                    Decision::Allow,
                    Decision::Allow,
                    Decision::Allow,
                ],
            ),
            (
                Area::Operations,
                [
                    Decision::LogIn,
                    Decision::Forbidden,
                    Decision::Allow,
                    Decision::Allow,
                ],
            ),
            (
                Area::Admin,
                [
                    Decision::LogIn,
                    Decision::Forbidden,
                    Decision::Forbidden,
                    Decision::Allow,
                ],
            ),
        ] {
            let visitors = [
                anonymous.clone(),
                user(Role::Viewer),
                user(Role::Operator),
                user(Role::Admin),
            ];
            let got: Vec<Decision> = visitors.iter().map(|v| rules.route(v, area)).collect();
            assert_eq!(got, expected, "{area:?}");
        }
        assert!(!rules.sees_live(&anonymous));
        assert!(rules.sees_live(&user(Role::Viewer)));
    }

    #[test]
    fn topics_follow_the_rules_of_the_role_and_admins_need_none() {
        let rules = Rules::new(vec![
            rule(Role::Viewer, "plant/+/temperature", Permission::Read),
            rule(Role::Operator, "plant/#", Permission::Read),
            rule(Role::Operator, "plant/lights/#", Permission::Publish),
            // A viewer rule to publish grants nothing: viewers never publish.
            rule(Role::Viewer, "#", Permission::Publish),
        ]);
        let viewer = user(Role::Viewer);
        let operator = user(Role::Operator);
        let admin = user(Role::Admin);
        assert!(rules.may_read(&viewer, "plant/boiler/temperature"));
        assert!(!rules.may_read(&viewer, "plant/boiler/pressure"));
        assert!(!rules.may_publish(&viewer, "plant/boiler/temperature"));
        assert!(rules.may_read(&operator, "plant/boiler/pressure"));
        assert!(rules.may_publish(&operator, "plant/lights/hall"));
        assert!(!rules.may_publish(&operator, "plant/boiler/setpoint"));
        assert!(rules.may_read(&admin, "secret/anything"));
        assert!(rules.may_publish(&admin, "secret/anything"));
        assert!(!rules.may_read(&Visitor::Anonymous, "plant/boiler/temperature"));
        let roles =
            |roles: &[Role]| -> Vec<Audience> { roles.iter().map(|r| (*r).into()).collect() };
        assert_eq!(
            rules.who_may("plant/lights/hall"),
            (
                roles(&[Role::Operator, Role::Admin]),
                roles(&[Role::Operator, Role::Admin])
            )
        );
        assert_eq!(
            rules.who_may("plant/boiler/temperature").0,
            roles(&[Role::Viewer, Role::Operator, Role::Admin])
        );
        assert_eq!(
            rules.publish_scope(&operator),
            PublishScope::Filters(vec![TopicFilter::parse("plant/lights/#").unwrap()])
        );
        assert_eq!(rules.publish_scope(&admin), PublishScope::Everything);
        for nobody in [viewer, Visitor::Anonymous] {
            assert_eq!(rules.publish_scope(&nobody), PublishScope::Filters(vec![]));
        }
    }

    #[test]
    fn paths_map_to_areas() {
        for (path, area) in [
            ("/", Area::Dashboard),
            ("/login", Area::Public),
            ("/logout", Area::Public),
            ("/admin/users", Area::Admin),
            ("/incidents", Area::Operations),
            ("/incidents/open", Area::Operations),
            ("/api/ops_incidents", Area::Operations),
            ("/publish", Area::Dashboard),
            ("/api/publish_page", Area::Dashboard),
            ("/api/topic_list", Area::Dashboard),
            ("/devices", Area::Dashboard),
            ("/topics", Area::Dashboard),
            ("/api/topic_tree", Area::Dashboard),
            ("/api/devices", Area::Dashboard),
            ("/admin/devices", Area::Admin),
            ("/admin/devices/add", Area::Admin),
            ("/api/admin_devices", Area::Admin),
            ("/topic/plant/boiler/temp", Area::Dashboard),
            ("/topic", Area::Dashboard),
            ("/api/topic_detail", Area::Dashboard),
            ("/api/topic_history", Area::Dashboard),
            ("/api/login_hints", Area::Public),
            ("/api/admin_users", Area::Admin),
            ("/metrics", Area::Public),
            ("/healthz", Area::Public),
            ("/status/plant-7.json", Area::Public),
            // Unlisted routes are closed: a signed-in user at least.
            ("/export/everything", Area::Dashboard),
            ("/favicon.svg", Area::Dashboard),
            ("/api", Area::Dashboard),
        ] {
            assert_eq!(area_of_request(path, true), area, "{path}");
        }
        // What no route takes is the site's files or the 404 page, for anyone.
        for path in [
            "/pkg/lookout.wasm",
            "/favicon.svg",
            "/no/such/page",
            "/admin/nothing",
        ] {
            assert_eq!(area_of_request(path, false), Area::Public, "{path}");
        }
    }

    fn widget(kind: WidgetKind, topic: &str, status: StatusRule) -> WidgetSpec {
        WidgetSpec {
            kind,
            label: "w".to_owned(),
            topic: topic.to_owned(),
            pointer: String::new(),
            unit: String::new(),
            status,
            range: Default::default(),
            uptime_days: 90,
            scale: None,
            markdown: None,
            control: None,
            width: Default::default(),
            series: Vec::new(),
        }
    }

    fn value(topic: &str) -> WidgetSpec {
        let status = StatusRule::Value {
            worse: crate::domain::status_page::Worse::Above,
            degraded_at: None,
            down_at: None,
        };
        widget(WidgetKind::Value, topic, status)
    }

    fn table(filter: &str) -> WidgetSpec {
        WidgetSpec {
            kind: WidgetKind::Table,
            ..value(filter)
        }
    }

    fn device(name: &str) -> WidgetSpec {
        widget(WidgetKind::Status, "", StatusRule::Device(name.to_owned()))
    }

    fn liveness(devices: &str, status: &str) -> LivenessRule {
        LivenessRule::check(
            1,
            crate::domain::liveness::RuleText {
                name: "r",
                devices,
                status,
                interval_seconds: "5",
                ..Default::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn a_chart_shows_each_audience_only_the_series_it_reads_and_none_without_one() {
        let rules = Rules::new(vec![
            rule(Audience::Public, "home/#", Permission::Read),
            rule(Role::Viewer, "#", Permission::Read),
        ]);
        let series = |label: &str, topic: &str| ChartSeries {
            label: label.to_owned(),
            topic: topic.to_owned(),
            pointer: "/temperature".to_owned(),
        };
        let chart = WidgetSpec {
            kind: WidgetKind::Chart,
            series: vec![
                series("Kitchen", "home/kitchen"),
                series("Vault", "vault/cellar"),
                series("Hall", "home/hall"),
            ],
            ..value("")
        };
        assert_eq!(rules.widget_for(Audience::Public, &chart, &[]), Ok(()));
        let public = rules.readable_series(Audience::Public, &chart.series);
        let labels: Vec<&str> = public.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["Kitchen", "Hall"]);
        assert_eq!(
            rules.readable_series(Audience::Role(Role::Viewer), &chart.series),
            chart.series
        );
        let vault_only = WidgetSpec {
            series: vec![series("Vault", "vault/cellar")],
            ..chart.clone()
        };
        assert_eq!(
            rules.widget_for(Audience::Public, &vault_only, &[]),
            Err(OutsideAudience::Topic)
        );
        assert_eq!(
            rules.widget_for(Audience::Role(Role::Viewer), &vault_only, &[]),
            Ok(())
        );
    }

    #[test]
    fn the_public_audience_is_empty_until_chosen_and_only_public_rules_fill_it() {
        let everyone = Rules::new(vec![
            rule(Role::Viewer, "#", Permission::Read),
            rule(Role::Operator, "#", Permission::Read),
            rule(Role::Admin, "#", Permission::Read),
        ]);
        assert!(!everyone.audience_may_read(Audience::Public, "plant/boiler/temperature"));
        assert_eq!(
            everyone.public_widget(&value("plant/boiler/temperature"), &[]),
            Err(OutsideAudience::Topic)
        );
        assert_eq!(
            everyone.public_widget(&table("#"), &[]),
            Err(OutsideAudience::Filter)
        );
        // A text block reads nothing, so no audience keeps it off a page; one that claimed a
        // topic (the editor never makes one) is judged by its topic like any widget.
        let mut text = WidgetSpec {
            kind: WidgetKind::Text,
            markdown: Some("We are *on it*.".to_owned()),
            ..value("")
        };
        assert_eq!(everyone.public_widget(&text, &[]), Ok(()));
        text.topic = "plant/boiler/temperature".to_owned();
        assert_eq!(
            everyone.public_widget(&text, &[]),
            Err(OutsideAudience::Topic)
        );

        let rules = Rules::new(vec![
            rule(Audience::Public, "plant/+/temperature", Permission::Read),
            rule(Audience::Public, "pumps/p1/#", Permission::Read),
            // The public never publishes, whatever a rule says (the database refuses such a
            // rule too).
            rule(Audience::Public, "#", Permission::Publish),
        ]);
        assert!(rules.audience_may_read(Audience::Public, "plant/boiler/temperature"));
        assert!(!rules.audience_may_read(Audience::Public, "plant/boiler/pressure"));
        assert!(!rules.may_read(&Visitor::Anonymous, "plant/boiler/temperature"));
        assert!(!rules.may_read(&user(Role::Viewer), "plant/boiler/temperature"));
        assert_eq!(
            rules.who_may("plant/boiler/temperature"),
            (
                vec![Audience::Public, Role::Admin.into()],
                vec![Role::Admin.into()]
            )
        );

        assert_eq!(
            rules.public_widget(&value("plant/boiler/temperature"), &[]),
            Ok(())
        );
        assert_eq!(
            rules.public_widget(&value("plant/boiler/pressure"), &[]),
            Err(OutsideAudience::Topic)
        );
        // A table needs a topic in common; it then shows only those (decided per topic).
        for filter in ["#", "plant/#", "+/boiler/+", "plant/+/temperature/#"] {
            assert_eq!(rules.public_widget(&table(filter), &[]), Ok(()), "{filter}");
        }
        for filter in ["office/#", "plant/+", "plant/+/pressure", "$SYS/#"] {
            assert_eq!(
                rules.public_widget(&table(filter), &[]),
                Err(OutsideAudience::Filter),
                "{filter}"
            );
        }
        // A device's state is told by its topics under the liveness rules.
        let devices = [liveness("pumps/+/#", "pumps/+/status")];
        assert_eq!(rules.public_widget(&device("p1"), &devices), Ok(()));
        for outside in ["p2", "p1/x", ""] {
            assert_eq!(
                rules.public_widget(&device(outside), &devices),
                Err(OutsideAudience::Device),
                "{outside:?}"
            );
        }
        assert_eq!(
            rules.public_widget(&device("p1"), &[]),
            Err(OutsideAudience::Device),
            "no rule finds the device"
        );
        let with_topic = |topic: &str| WidgetSpec {
            topic: topic.to_owned(),
            ..device("p1")
        };
        assert_eq!(
            rules.public_widget(&with_topic("plant/boiler/pressure"), &devices),
            Err(OutsideAudience::Topic),
            "a device widget's own topic must be public too"
        );
        assert_eq!(
            rules.public_widget(&with_topic("plant/boiler/temperature"), &devices),
            Ok(())
        );
        let starts =
            |filter: &str| rules.starts_for(Audience::Public, &TopicFilter::parse(filter).unwrap());
        assert_eq!(starts("#"), ["plant", "pumps/p1"]);
        assert_eq!(starts("plant/boiler/#"), ["plant/boiler"]);
        assert!(starts("office/#").is_empty());
        let filled: Vec<String> = device_filters(&devices, "p1")
            .map(|filter| filter.as_str().to_owned())
            .collect();
        assert_eq!(filled, ["pumps/p1/#", "pumps/p1/status"]);
    }

    #[test]
    fn filters_overlap_when_some_topic_matches_both() {
        let overlaps = |a: &str, b: &str| {
            let (a, b) = (
                TopicFilter::parse(a).unwrap(),
                TopicFilter::parse(b).unwrap(),
            );
            assert_eq!(overlap(&a, &b), overlap(&b, &a), "symmetric");
            overlap(&a, &b)
        };
        for (a, b) in [
            ("#", "a/b"),
            ("a/#", "a"),
            ("a/+/c", "a/b/+"),
            ("+/+", "a/b"),
            ("a/b", "a/b"),
            ("$SYS/#", "$SYS/+"),
        ] {
            assert!(overlaps(a, b), "{a} and {b}");
        }
        for (a, b) in [
            ("a/+", "a"),
            ("a/b", "a/c"),
            ("a/+/c", "a/b/d"),
            ("+/x", "a/x/y"),
            ("#", "$SYS/x"),
            ("+/x", "$SYS/x"),
        ] {
            assert!(!overlaps(a, b), "{a} and {b}");
        }
    }

    #[test]
    fn a_board_gives_each_visitor_one_view_or_none() {
        let public = Visibility::default();
        let operators_only = Visibility {
            public: false,
            open_to: Role::Operator,
        };
        let public_for_admins = Visibility {
            public: true,
            open_to: Role::Admin,
        };
        let anonymous = Visitor::Anonymous;
        let (viewer, operator, admin) =
            (user(Role::Viewer), user(Role::Operator), user(Role::Admin));
        let own = |role: Role| Some(Audience::Role(role));
        // What every status page was: the public view for visitors, each role's own for those
        // signed in, the public one when they ask.
        assert_eq!(
            board_view(&anonymous, true, public, false, None),
            Some(Audience::Public)
        );
        assert_eq!(
            board_view(&anonymous, true, public, true, None),
            Some(Audience::Public)
        );
        assert_eq!(
            board_view(&viewer, true, public, false, None),
            own(Role::Viewer)
        );
        assert_eq!(
            board_view(&viewer, true, public, true, None),
            Some(Audience::Public)
        );
        // Closed to the public: anonymous visitors and roles below get nothing at all, and
        // asking for a public view that does not exist gets the role's own.
        assert_eq!(
            board_view(&anonymous, true, operators_only, false, None),
            None
        );
        assert_eq!(board_view(&viewer, true, operators_only, false, None), None);
        assert_eq!(board_view(&viewer, true, operators_only, true, None), None);
        assert_eq!(
            board_view(&operator, true, operators_only, false, None),
            own(Role::Operator)
        );
        assert_eq!(
            board_view(&operator, true, operators_only, true, None),
            own(Role::Operator)
        );
        assert_eq!(
            board_view(&admin, true, operators_only, false, None),
            own(Role::Admin)
        );
        // A role the board does not open for gets what anonymous visitors get.
        assert_eq!(
            board_view(&operator, true, public_for_admins, false, None),
            Some(Audience::Public)
        );
        assert_eq!(
            board_view(&admin, true, public_for_admins, false, None),
            own(Role::Admin)
        );
        // A draft is an admin's alone, whoever else it will open for, but for the operator who
        // composes it (user 1 here).
        for visitor in [&anonymous, &viewer, &operator] {
            assert_eq!(board_view(visitor, false, public, false, None), None);
            assert_eq!(board_view(visitor, false, public, false, Some(2)), None);
        }
        assert_eq!(
            board_view(&operator, false, operators_only, false, Some(1)),
            own(Role::Operator)
        );
        assert_eq!(board_view(&anonymous, false, public, false, Some(1)), None);
        assert_eq!(
            board_view(&admin, false, public, false, None),
            own(Role::Admin)
        );
        assert_eq!(
            board_view(&admin, false, public, true, None),
            Some(Audience::Public)
        );
    }

    #[test]
    fn the_board_editor_is_its_own_area_but_for_what_stays_admins() {
        for path in [
            "/admin/pages",
            "/admin/pages/",
            "/admin/pages/12",
            "/admin/pages/add",
            "/admin/pages/change",
            "/admin/pages/delete",
            "/admin/pages/widgets/add",
            "/admin/pages/widgets/arrange",
            "/api/admin_status_pages",
            "/api/admin_status_page",
        ] {
            assert_eq!(area_of(path), Area::Boards, "{path}");
        }
        for path in [
            "/admin/pages/incidents/delete",
            "/admin/pages/maintenance/add",
            "/admin/pages/followers/mail",
            "/admin/pages/followers/webhooks/add",
            "/admin/pages/12x",
            "/admin/pagesx",
            "/admin/users",
            "/api/admin_rules",
        ] {
            assert_eq!(area_of(path), Area::Admin, "{path}");
        }
    }

    #[test]
    fn only_admins_and_operators_with_a_compose_rule_open_the_board_editor() {
        let none = Rules::new(vec![rule(Role::Operator, "#", Permission::Read)]);
        let composing = Rules::new(vec![
            rule(Role::Operator, "plant/#", Permission::Compose),
            // Viewers never compose, whatever a rule says.
            rule(Role::Viewer, "#", Permission::Compose),
        ]);
        let (viewer, operator, admin) =
            (user(Role::Viewer), user(Role::Operator), user(Role::Admin));
        for rules in [&none, &composing] {
            assert_eq!(
                rules.route(&Visitor::Anonymous, Area::Boards),
                Decision::LogIn
            );
            assert_eq!(rules.route(&viewer, Area::Boards), Decision::Forbidden);
            assert_eq!(rules.route(&admin, Area::Boards), Decision::Allow);
            assert_eq!(rules.board_rights(&admin), BoardRights::Every);
            assert_eq!(rules.board_rights(&viewer), BoardRights::Nothing);
        }
        assert_eq!(none.route(&operator, Area::Boards), Decision::Forbidden);
        assert_eq!(composing.route(&operator, Area::Boards), Decision::Allow);
        // Still no admin page for them.
        assert_eq!(composing.route(&operator, Area::Admin), Decision::Forbidden);
        let rights = composing.board_rights(&operator);
        assert!(rights.may_edit(Some(1)));
        assert!(!rights.may_edit(Some(2)), "another operator's board");
        assert!(!rights.may_edit(None), "an admin's board");
        assert_eq!(rights.owner_of_new(), Some(1));
        let opens = |public, open_to| Visibility { public, open_to };
        let closed = rights.new_board_visibility();
        assert_eq!(closed, opens(false, Role::Operator));
        for open_to in [Role::Viewer, Role::Operator] {
            let asked = opens(false, open_to);
            assert_eq!(rights.may_open(closed, asked), Some(asked));
        }
        assert_eq!(rights.may_open(closed, opens(true, Role::Operator)), None);
        assert_eq!(rights.may_open(closed, opens(false, Role::Admin)), None);
        // An admin made it public: the operator's save (no public switch) keeps it so.
        let public = opens(true, Role::Operator);
        assert_eq!(
            rights.may_open(public, opens(false, Role::Viewer)),
            Some(opens(true, Role::Viewer))
        );
        let anything = opens(true, Role::Admin);
        assert_eq!(
            BoardRights::Every.may_open(closed, anything),
            Some(anything)
        );
        assert_eq!(BoardRights::Nothing.may_open(closed, closed), None);
    }

    #[test]
    fn an_operator_binds_only_what_its_compose_rules_cover_and_it_reads() {
        let rules = Rules::new(vec![
            rule(Role::Operator, "plant/#", Permission::Compose),
            rule(Role::Operator, "office/+/temp", Permission::Compose),
            rule(Role::Operator, "plant/#", Permission::Read),
            rule(Role::Operator, "office/#", Permission::Read),
        ]);
        let rights = rules.board_rights(&user(Role::Operator));
        let widget = |kind: WidgetKind, topic: &str| WidgetSpec {
            kind,
            ..value(topic)
        };
        let devices = [liveness("plant/sensors/+/#", "")];
        assert_eq!(
            rights.may_bind(&widget(WidgetKind::Value, "plant/boiler"), &devices),
            Ok(())
        );
        assert_eq!(
            rights.may_bind(&widget(WidgetKind::Value, "office/a/temp"), &devices),
            Ok(())
        );
        assert_eq!(
            rights.may_bind(&widget(WidgetKind::Value, "office/a/hum"), &devices),
            Err(OutsideAudience::Topic),
            "readable, but no compose rule covers it"
        );
        assert_eq!(
            rights.may_bind(&widget(WidgetKind::Table, "plant/+/temp"), &devices),
            Ok(())
        );
        assert_eq!(
            rights.may_bind(&widget(WidgetKind::Table, "office/#"), &devices),
            Err(OutsideAudience::Filter),
            "a table wider than the compose rules"
        );
        let mut chart = widget(WidgetKind::Chart, "");
        chart.series = ["plant/a", "secret/b"]
            .map(|topic| ChartSeries {
                label: topic.to_owned(),
                topic: topic.to_owned(),
                pointer: String::new(),
            })
            .to_vec();
        assert_eq!(
            rights.may_bind(&chart, &devices),
            Err(OutsideAudience::Topic)
        );
        chart.series.pop();
        assert_eq!(rights.may_bind(&chart, &devices), Ok(()));
        let mut switch = widget(WidgetKind::Switch, "plant/pump/state");
        switch.control = Some(crate::domain::status_page::Control {
            command_topic: "office/pump/set".to_owned(),
            on: "ON".to_owned(),
            off: Some("OFF".to_owned()),
            slider: None,
        });
        assert_eq!(
            rights.may_bind(&switch, &devices),
            Err(OutsideAudience::Topic)
        );
        assert_eq!(rights.may_bind(&device("boiler"), &devices), Ok(()));
        let elsewhere = [liveness("office/+/temp/#", "")];
        assert_eq!(
            rights.may_bind(&device("boiler"), &elsewhere),
            Err(OutsideAudience::Device)
        );
        let text = widget(WidgetKind::Text, "");
        assert_eq!(rights.may_bind(&text, &devices), Ok(()));
        assert_eq!(BoardRights::Every.may_bind(&switch, &devices), Ok(()));
        assert!(BoardRights::Nothing.may_bind(&text, &devices).is_err());
    }

    #[test]
    fn a_filter_covers_another_when_it_matches_every_topic_of_it() {
        let covered = |outer: &str, inner: &str| {
            covers(
                &TopicFilter::parse(outer).unwrap(),
                &TopicFilter::parse(inner).unwrap(),
            )
        };
        for (outer, inner) in [
            ("#", "a/b"),
            ("#", "#"),
            ("a/#", "a"),
            ("a/#", "a/+/c"),
            ("a/+", "a/+"),
            ("a/+/c", "a/b/c"),
            ("$SYS/#", "$SYS/+"),
        ] {
            assert!(covered(outer, inner), "{outer} covers {inner}");
        }
        for (outer, inner) in [
            ("a/b", "a/+"),
            ("a/+", "a/#"),
            ("a/+", "a/b/c"),
            ("a/b/c", "a/b"),
            ("#", "$SYS/x"),
            ("+/x", "$SYS/x"),
            ("a", "#"),
        ] {
            assert!(!covered(outer, inner), "{outer} does not cover {inner}");
        }
    }

    #[test]
    fn a_control_is_never_public_and_usable_only_where_the_role_publishes() {
        let rules = Rules::new(vec![
            rule(Audience::Public, "#", Permission::Read),
            rule(Role::Operator, "plant/#", Permission::Read),
            rule(Role::Operator, "plant/pump/set", Permission::Publish),
        ]);
        let switch = WidgetSpec {
            kind: WidgetKind::Switch,
            control: Some(crate::domain::status_page::Control {
                command_topic: "plant/pump/set".to_owned(),
                on: "ON".to_owned(),
                off: Some("OFF".to_owned()),
                slider: None,
            }),
            ..value("plant/pump/state")
        };
        assert!(rules.widget_for(Audience::Public, &switch, &[]).is_err());
        let operator = Audience::Role(Role::Operator);
        assert_eq!(rules.widget_for(operator, &switch, &[]), Ok(()));
        assert!(rules.audience_may_publish(operator, "plant/pump/set"));
        assert!(!rules.audience_may_publish(operator, "plant/valve/set"));
        assert!(!rules.audience_may_publish(Audience::Role(Role::Viewer), "plant/pump/set"));
        assert!(!rules.audience_may_publish(Audience::Public, "plant/pump/set"));
    }

    #[test]
    fn a_role_s_view_shows_the_widgets_and_rows_the_role_may_read() {
        let rules = Rules::new(vec![
            rule(Audience::Public, "plant/+/temperature", Permission::Read),
            rule(Role::Viewer, "plant/#", Permission::Read),
            rule(Role::Operator, "office/#", Permission::Read),
        ]);
        let viewer = Audience::Role(Role::Viewer);
        let operator = Audience::Role(Role::Operator);
        let admin = Audience::Role(Role::Admin);
        let pressure = value("plant/boiler/pressure");
        assert_eq!(
            rules.widget_for(Audience::Public, &pressure, &[]),
            Err(OutsideAudience::Topic)
        );
        assert_eq!(rules.widget_for(viewer, &pressure, &[]), Ok(()));
        // Roles are not ranked for topics: an operator reads what its own rules say.
        assert_eq!(
            rules.widget_for(operator, &pressure, &[]),
            Err(OutsideAudience::Topic)
        );
        assert_eq!(rules.widget_for(admin, &value("secret/key"), &[]), Ok(()));
        assert_eq!(rules.widget_for(viewer, &table("#"), &[]), Ok(()));
        assert_eq!(
            rules.widget_for(operator, &table("plant/#"), &[]),
            Err(OutsideAudience::Filter)
        );
        let filter = TopicFilter::parse("#").unwrap();
        assert_eq!(rules.starts_for(viewer, &filter), vec!["plant".to_owned()]);
        assert_eq!(rules.starts_for(admin, &filter), vec![String::new()]);
        assert_eq!(
            rules.starts_for(admin, &TopicFilter::parse("plant/+/x").unwrap()),
            vec!["plant".to_owned()]
        );
        assert!(rules.audience_may_read(viewer, "plant/boiler/pressure"));
        assert!(!rules.audience_may_read(Audience::Public, "plant/boiler/pressure"));
        assert!(rules.audience_may_read(admin, "anything/at/all"));
    }
}
