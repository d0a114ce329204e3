//! The one place that decides access. Every page, server function, stream and JSON route asks
//! it; nothing else decides on its own.
//!
//! - Anonymous visitors get published status pages from cached snapshots, and nothing live.
//! - Viewers read live the topics their role's rules allow.
//! - Operators also publish to the topics their rules allow.
//! - Admins may do everything, including managing users and rules.

use crate::accounts::User;
use crate::roles::Role;
use crate::store::Store;
use crate::topic_filter::TopicFilter;
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
    /// Anyone: public status pages, the login page, assets, health and metrics.
    Public,
    /// Signed-in users: the live dashboard and everything it reads.
    Dashboard,
    /// Admins: users, rules, status page editing.
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

/// The area of every path Lookout serves. Unknown paths are public: they end in the 404 page,
/// which shows nothing private. The route matrix test fails when a route is missing here.
pub fn area_of(path: &str) -> Area {
    let path = path.trim_end_matches('/');
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "" | "devices" | "topics" | "topic" | "publish" => Area::Dashboard,
        "admin" => Area::Admin,
        // Public status pages and their exports; drafts are decided per page
        // (`Rules::may_view_status_page`).
        "status" => Area::Public,
        "api" => match path.trim_start_matches("/api/") {
            // The login page asks whether any user exists yet, before anyone is signed in.
            "login_hints" | "current_visitor" => Area::Public,
            endpoint if endpoint.starts_with("admin_") => Area::Admin,
            _ => Area::Dashboard,
        },
        _ => Area::Public,
    }
}

/// What a role may do with topics: the rules as loaded, for one decision or many.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    rules: Vec<AccessRule>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRule {
    pub id: i64,
    pub role: Role,
    pub filter: TopicFilter,
    pub permission: Permission,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Read,
    Publish,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Publish => "publish",
        }
    }
}

impl std::str::FromStr for Permission {
    type Err = ();

    /// The names of [`Permission::as_str`], as the database and the forms spell them.
    fn from_str(text: &str) -> Result<Self, ()> {
        [Permission::Read, Permission::Publish]
            .into_iter()
            .find(|permission| permission.as_str() == text)
            .ok_or(())
    }
}

impl Rules {
    pub fn new(rules: Vec<AccessRule>) -> Self {
        Self { rules }
    }

    pub fn all(&self) -> &[AccessRule] {
        &self.rules
    }

    /// May `visitor` see a status page? Everyone may see a published one (from its cached
    /// snapshot); a draft only admins, as a preview. Anyone else gets the same 404 as for a
    /// page that does not exist.
    pub fn may_view_status_page(&self, visitor: &Visitor, published: bool) -> bool {
        published || visitor.is_admin()
    }

    /// May `visitor` open a route of `area`?
    pub fn route(&self, visitor: &Visitor, area: Area) -> Decision {
        match (area, visitor) {
            (Area::Public, _) => Decision::Allow,
            (_, Visitor::Anonymous) => Decision::LogIn,
            (Area::Dashboard, Visitor::SignedIn(_)) => Decision::Allow,
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
            .is_some_and(|role| self.role_allows(role, topic, permission))
    }

    fn role_allows(&self, role: Role, topic: &str, permission: Permission) -> bool {
        match self.granted(role, permission) {
            None => true,
            Some(mut filters) => filters.any(|filter| filter.matches(topic)),
        }
    }

    /// The filters that grant `role` a `permission`, or `None` when it needs no rule: admins
    /// need none, and viewers never publish, whatever a rule says.
    fn granted(
        &self,
        role: Role,
        permission: Permission,
    ) -> Option<impl Iterator<Item = &TopicFilter>> {
        if role == Role::Admin {
            return None;
        }
        let never = role == Role::Viewer && permission == Permission::Publish;
        Some(
            self.rules
                .iter()
                .filter(move |rule| !never && rule.role == role && rule.permission == permission)
                .map(|rule| &rule.filter),
        )
    }

    /// Where `visitor` may publish, as the publish page explains it.
    pub fn publish_scope(&self, visitor: &Visitor) -> PublishScope {
        let granted = visitor
            .role()
            .map(|role| self.granted(role, Permission::Publish));
        match granted {
            Some(None) => PublishScope::Everything,
            Some(Some(filters)) => PublishScope::Filters(filters.cloned().collect()),
            None => PublishScope::Filters(Vec::new()),
        }
    }

    /// The roles that may read `topic` live, and those that may publish to it: the "who can see
    /// topic X" preview of the rules page.
    pub fn who_may(&self, topic: &str) -> (Vec<Role>, Vec<Role>) {
        let pick = |permission: Permission| {
            Role::ALL
                .into_iter()
                .filter(|role| self.role_allows(*role, topic, permission))
                .collect()
        };
        (pick(Permission::Read), pick(Permission::Publish))
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

    fn user(role: Role) -> Visitor {
        Visitor::SignedIn(User {
            id: 1,
            name: "someone".to_owned(),
            role,
            disabled: false,
        })
    }

    fn rule(role: Role, filter: &str, permission: Permission) -> AccessRule {
        AccessRule {
            id: 0,
            role,
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
        assert_eq!(
            rules.who_may("plant/lights/hall"),
            (
                vec![Role::Operator, Role::Admin],
                vec![Role::Operator, Role::Admin]
            )
        );
        assert_eq!(
            rules.who_may("plant/boiler/temperature").0,
            vec![Role::Viewer, Role::Operator, Role::Admin]
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
            ("/pkg/lookout.wasm", Area::Public),
            ("/metrics", Area::Public),
        ] {
            assert_eq!(area_of(path), area, "{path}");
        }
    }
}
