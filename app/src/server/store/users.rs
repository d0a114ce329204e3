//! The SQL of users and their sessions: accounts with their password hashes and roles (the last
//! enabled admin is never demoted), and which tower-sessions sessions belong to whom, so that a
//! password change or a disabled account can end them all.

use super::Store;
use crate::domain::accounts::User;
use crate::domain::roles::Role;
use chrono::{DateTime, Utc};

/// A user with its password hash, as a login needs it. Never leaves the server.
#[derive(Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({:?}, password_hash: ***)", self.user)
    }
}

/// A user as a list of users shows it.
#[derive(Clone, Debug)]
pub struct UserInfo {
    pub user: User,
    pub created_at: DateTime<Utc>,
    pub password_changed_at: DateTime<Utc>,
}

/// What a change to a user came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserChange {
    Done,
    NoSuchUser,
    /// Refused: it would leave no enabled admin, and then nobody could manage users from the web.
    LastAdmin,
}

/// A user row as read, before its role text becomes a [`Role`].
struct UserRow {
    id: i64,
    name: String,
    role: String,
    disabled: bool,
}

impl TryFrom<UserRow> for User {
    type Error = sqlx::Error;

    fn try_from(row: UserRow) -> Result<Self, Self::Error> {
        Ok(User {
            role: row
                .role
                .parse::<Role>()
                .map_err(|error| sqlx::Error::Decode(Box::new(error)))?,
            id: row.id,
            name: row.name,
            disabled: row.disabled,
        })
    }
}

/// A user column that [`Store::change_user`] sets.
#[derive(Clone, Copy)]
enum UserField {
    Role(Role),
    Disabled(bool),
}

impl Store {
    /// Adds a user and returns it, or `None` when the name is taken (in any letter case).
    pub async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<Option<User>, sqlx::Error> {
        let row = sqlx::query_as!(
            UserRow,
            r#"insert into app_user (name, password_hash, role)
               values ($1, $2, $3::text::user_role)
               on conflict ((lower(name))) do nothing
               returning id, name, role::text as "role!", disabled"#,
            name,
            password_hash,
            role.as_str(),
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(User::try_from).transpose()
    }

    /// The user called `name` in any letter case, with its password hash, disabled or not.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<Credentials>, sqlx::Error> {
        let row = sqlx::query!(
            r#"select id, name, role::text as "role!", disabled, password_hash
               from app_user where lower(name) = lower($1)"#,
            name,
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let user = UserRow {
                id: row.id,
                name: row.name,
                role: row.role,
                disabled: row.disabled,
            };
            Ok(Credentials {
                user: User::try_from(user)?,
                password_hash: row.password_hash,
            })
        })
        .transpose()
    }

    /// The user with this id, disabled or not: what a session refers to.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, sqlx::Error> {
        let row = sqlx::query_as!(
            UserRow,
            r#"select id, name, role::text as "role!", disabled from app_user where id = $1"#,
            id,
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(User::try_from).transpose()
    }

    /// Every user by name, with when it was created and last changed its password.
    pub async fn list_users(&self) -> Result<Vec<UserInfo>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select id, name, role::text as "role!", disabled,
                      created_at as "created_at: DateTime<Utc>",
                      password_changed_at as "password_changed_at: DateTime<Utc>"
               from app_user order by lower(name)"#
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let user = UserRow {
                    id: row.id,
                    name: row.name,
                    role: row.role,
                    disabled: row.disabled,
                };
                Ok(UserInfo {
                    user: User::try_from(user)?,
                    created_at: row.created_at,
                    password_changed_at: row.password_changed_at,
                })
            })
            .collect()
    }

    /// Replaces a user's password hash; `false` when there is no such user. Sessions are ended
    /// separately, with [`Store::end_user_sessions`].
    pub async fn set_password(
        &self,
        user_id: i64,
        password_hash: &str,
    ) -> Result<bool, sqlx::Error> {
        let updated = sqlx::query!(
            "update app_user set password_hash = $2, password_changed_at = now() where id = $1",
            user_id,
            password_hash,
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Gives a user another role, unless that takes the role of the last enabled admin.
    pub async fn set_role(&self, user_id: i64, role: Role) -> Result<UserChange, sqlx::Error> {
        self.change_user(user_id, UserField::Role(role)).await
    }

    /// Disables or enables a user. Disabling the last enabled admin is refused.
    pub async fn set_disabled(
        &self,
        user_id: i64,
        disabled: bool,
    ) -> Result<UserChange, sqlx::Error> {
        self.change_user(user_id, UserField::Disabled(disabled))
            .await
    }

    async fn change_user(&self, user_id: i64, field: UserField) -> Result<UserChange, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // Locking the enabled admins first serialises demotions: two admins disabling each other
        // at once must not both succeed. After waiting on a lock, `for update` reads the row
        // again, so an admin disabled meanwhile is no longer counted.
        let admins = sqlx::query_scalar!(
            "select id from app_user where role = 'admin' and not disabled order by id for update",
        )
        .fetch_all(&mut *tx)
        .await?;
        let demotes = match field {
            UserField::Role(role) => role != Role::Admin,
            UserField::Disabled(disabled) => disabled,
        };
        if demotes && admins == [user_id] {
            return Ok(UserChange::LastAdmin);
        }
        let changed = match field {
            UserField::Role(role) => {
                sqlx::query!(
                    "update app_user set role = $2::text::user_role where id = $1",
                    user_id,
                    role.as_str(),
                )
                .execute(&mut *tx)
                .await?
            }
            UserField::Disabled(disabled) => {
                sqlx::query!(
                    "update app_user set disabled = $2 where id = $1",
                    user_id,
                    disabled,
                )
                .execute(&mut *tx)
                .await?
            }
        };
        if changed.rows_affected() == 0 {
            return Ok(UserChange::NoSuchUser);
        }
        tx.commit().await?;
        Ok(UserChange::Done)
    }

    /// How many admins are enabled: none means nobody can manage users from the web.
    pub async fn count_admins(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar!(
            r#"select count(*) as "admins!" from app_user where role = 'admin' and not disabled"#
        )
        .fetch_one(&self.pool)
        .await
    }

    /// How many users there are, disabled ones included.
    pub async fn count_users(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar!(r#"select count(*) as "users!" from app_user"#)
            .fetch_one(&self.pool)
            .await
    }

    /// Notes that `session_id` (tower-sessions' id) belongs to `user_id`, so that ending all of
    /// a user's sessions can find it; only while `password_hash` is still the user's and they are
    /// enabled. Returns whether it was recorded. A password change commits its new hash before
    /// ending the sessions, so a login racing it is either recorded and then ended, or refused.
    pub async fn record_user_session(
        &self,
        session_id: &str,
        user_id: i64,
        password_hash: &str,
    ) -> Result<bool, sqlx::Error> {
        let recorded = sqlx::query!(
            "insert into user_session (session_id, user_id) \
             select $1::text, id from app_user \
             where id = $2 and password_hash = $3 and not disabled \
             on conflict (session_id) do update set user_id = excluded.user_id, created_at = now()",
            session_id,
            user_id,
            password_hash,
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(recorded == 1)
    }

    /// Forgets a session that ended (logout, expiry).
    pub async fn forget_user_session(&self, session_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query!("delete from user_session where session_id = $1", session_id)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    /// The role of `user_id` if `session_id` is still one of its live sessions (not logged out,
    /// ended by a password change, expired, or of a disabled user): what a long-lived stream
    /// checks now and then, since it no longer passes through the per-request checks.
    pub async fn session_role(
        &self,
        session_id: &str,
        user_id: i64,
    ) -> Result<Option<Role>, sqlx::Error> {
        let role = sqlx::query_scalar!(
            r#"select u.role::text as "role!" from user_session us
               join app_user u on u.id = us.user_id
               join tower_sessions.session s on s.id = us.session_id
               where us.session_id = $1 and us.user_id = $2 and not u.disabled
                 and s.expiry_date > now()"#,
            session_id,
            user_id,
        )
        .fetch_optional(&self.pool)
        .await?;
        role.map(|role| {
            role.parse::<Role>()
                .map_err(|error| sqlx::Error::Decode(Box::new(error)))
        })
        .transpose()
    }

    /// Ends every session of `user_id`: removes them from tower-sessions' store and from
    /// `user_session`. Returns how many sessions the user had.
    pub async fn end_user_sessions(&self, user_id: i64) -> Result<u64, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let ids = sqlx::query_scalar!(
            "delete from user_session where user_id = $1 returning session_id",
            user_id,
        )
        .fetch_all(&mut *tx)
        .await?;
        if !ids.is_empty() {
            sqlx::query!(
                "delete from tower_sessions.session where id = any($1)",
                &ids,
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }
}
