//! The roles a user can have, the audiences access rules are for (a role, or the public), and
//! the rules themselves as data; shared by the server (access policy, CLI) and the browser (which
//! shows or hides what a role may do). What the rules allow is decided by `server::access`.

use crate::domain::topic_filter::TopicFilter;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Ordered by power, so `role >= Role::Operator` reads as "may at least publish".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The name used on the command line, in the database (`user_role`) and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownRole(pub String);

impl fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown role {:?}: expected viewer, operator or admin",
            self.0
        )
    }
}

impl std::error::Error for UnknownRole {}

impl FromStr for Role {
    type Err = UnknownRole;

    /// Case-insensitive, since people type `Admin` as often as `admin`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| UnknownRole(text.to_owned()))
    }
}

/// Whom an access rule is for: the users of a role, or the public audience (anonymous visitors,
/// who see topics only through published status pages, and only those its rules grant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Audience {
    /// Ordered first: it may see the least.
    Public,
    Role(Role),
}

impl Audience {
    pub const ALL: [Audience; 4] = [
        Audience::Public,
        Audience::Role(Role::Viewer),
        Audience::Role(Role::Operator),
        Audience::Role(Role::Admin),
    ];

    /// The name used in the database (`access_rule.role`), the forms and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Public => "public",
            Audience::Role(role) => role.as_str(),
        }
    }

    pub fn role(self) -> Option<Role> {
        match self {
            Audience::Public => None,
            Audience::Role(role) => Some(role),
        }
    }
}

impl From<Role> for Audience {
    fn from(role: Role) -> Self {
        Audience::Role(role)
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Audience {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().eq_ignore_ascii_case(Audience::Public.as_str()) {
            return Ok(Audience::Public);
        }
        text.parse().map(Audience::Role)
    }
}

// By name, as the database and the forms spell it (not serde's default for an enum with data).
impl Serialize for Audience {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// One access rule: it lets an audience read or publish the topics its filter matches. What the
/// rules together allow is decided by the access policy (`server::access`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRule {
    pub id: i64,
    pub audience: Audience,
    pub filter: TopicFilter,
    pub permission: Permission,
}

/// What an access rule lets its audience do with the topics it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Read,
    Publish,
    /// Build boards of one's own bound to the topics the rule matches (operators only).
    Compose,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Publish => "publish",
            Permission::Compose => "compose",
        }
    }
}

impl std::str::FromStr for Permission {
    type Err = ();

    /// The names of [`Permission::as_str`], as the database and the forms spell them.
    fn from_str(text: &str) -> Result<Self, ()> {
        [Permission::Read, Permission::Publish, Permission::Compose]
            .into_iter()
            .find(|permission| permission.as_str() == text)
            .ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_audience_parses_from_its_own_name_and_public_is_no_role() {
        for audience in Audience::ALL {
            assert_eq!(audience.as_str().parse::<Audience>(), Ok(audience));
        }
        assert_eq!(Audience::Public.role(), None);
        assert!(
            "public".parse::<Role>().is_err(),
            "no user has the role public"
        );
        assert!(Audience::Public < Audience::Role(Role::Viewer));
    }

    #[test]
    fn every_role_parses_from_its_own_name_in_any_case() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(role.as_str().to_uppercase().parse::<Role>(), Ok(role));
        }
    }

    #[test]
    fn an_unknown_role_is_refused_with_the_choices() {
        let error = "root".parse::<Role>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown role \"root\": expected viewer, operator or admin"
        );
        assert!("".parse::<Role>().is_err());
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn roles_serialize_as_their_names() {
        // What the browser receives must match what the database and the CLI call them.
        for role in Role::ALL {
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("{:?}", role.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
        for audience in Audience::ALL {
            let json = serde_json::to_string(&audience).unwrap();
            assert_eq!(json, format!("{:?}", audience.as_str()));
            assert_eq!(serde_json::from_str::<Audience>(&json).unwrap(), audience);
        }
    }
}
