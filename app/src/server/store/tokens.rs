//! The SQL of personal access tokens (`access_token`): what `server::token_edits` makes and
//! revokes, and what the MQTT endpoint checks a password against.

use super::Store;
use crate::domain::accounts::User;
use crate::domain::roles::Role;
use crate::domain::tokens::{TokenScope, TokenSpec, TokenView, MAX_TOKENS_PER_USER};
use crate::domain::topic_filter::TopicFilter;
use chrono::{DateTime, Utc};

/// What making a token came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenAdded {
    Added(i64),
    /// The user keeps [`MAX_TOKENS_PER_USER`] in force already.
    Full,
}

/// A token that let someone in: its user as they are now, and what the token narrows them to.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenGrant {
    pub token_id: i64,
    pub user: User,
    pub scope: TokenScope,
    /// Empty: whatever the user may.
    pub filters: Vec<TopicFilter>,
    pub expires_at_ms: i64,
}

struct TokenRow {
    id: i64,
    user_name: String,
    name: String,
    scope: String,
    filters: Vec<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TokenRow {
    fn into_view(self) -> Result<TokenView, sqlx::Error> {
        Ok(TokenView {
            id: self.id,
            user: self.user_name,
            name: self.name,
            scope: parse_scope(&self.scope)?,
            filters: self.filters,
            created_at_ms: self.created_at.timestamp_millis(),
            expires_at_ms: self.expires_at.timestamp_millis(),
            last_used_at_ms: self.last_used_at.map(|at| at.timestamp_millis()),
            revoked_at_ms: self.revoked_at.map(|at| at.timestamp_millis()),
        })
    }
}

fn parse_scope(scope: &str) -> Result<TokenScope, sqlx::Error> {
    scope
        .parse()
        .map_err(|()| sqlx::Error::Decode(format!("no token scope {scope:?}").into()))
}

impl Store {
    /// Makes a token of `user_id` whose secret hashes to `secret_hash`, unless they keep
    /// [`MAX_TOKENS_PER_USER`] in force already.
    pub async fn add_access_token(
        &self,
        user_id: i64,
        spec: &TokenSpec,
        secret_hash: &[u8],
    ) -> Result<TokenAdded, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // Serialises one user's adds, so two at once cannot both pass the count.
        sqlx::query!("select id from app_user where id = $1 for update", user_id)
            .fetch_optional(&mut *tx)
            .await?;
        let in_force = sqlx::query_scalar!(
            r#"select count(*) as "n!" from access_token
               where user_id = $1 and revoked_at is null and expires_at > now()"#,
            user_id
        )
        .fetch_one(&mut *tx)
        .await?;
        if in_force >= MAX_TOKENS_PER_USER {
            return Ok(TokenAdded::Full);
        }
        let filters: Vec<String> = spec
            .filters
            .iter()
            .map(|filter| filter.as_str().to_owned())
            .collect();
        let id = sqlx::query_scalar!(
            "insert into access_token (user_id, name, secret_hash, scope, filters, expires_at) \
             values ($1, $2, $3, $4, $5, now() + make_interval(days => $6)) returning id",
            user_id,
            spec.name,
            secret_hash,
            spec.scope.as_str(),
            &filters,
            i32::from(spec.expiry_days),
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(TokenAdded::Added(id))
    }

    /// The tokens of `user_id`, or everyone's for `None`, newest first and at most `limit`;
    /// revoked and expired ones too, for a while (`kept_days` after they stopped working).
    pub async fn access_tokens(
        &self,
        user_id: Option<i64>,
        kept_days: i32,
        limit: i64,
    ) -> Result<Vec<TokenView>, sqlx::Error> {
        let rows = sqlx::query_as!(
            TokenRow,
            r#"select t.id, u.name as user_name, t.name, t.scope, t.filters,
                      t.created_at as "created_at: DateTime<Utc>",
                      t.expires_at as "expires_at: DateTime<Utc>",
                      t.last_used_at as "last_used_at: DateTime<Utc>",
                      t.revoked_at as "revoked_at: DateTime<Utc>"
               from access_token t join app_user u on u.id = t.user_id
               where ($1::bigint is null or t.user_id = $1)
                 and coalesce(t.revoked_at, t.expires_at) > now() - make_interval(days => $2)
               order by t.created_at desc, t.id desc
               limit $3"#,
            user_id,
            kept_days,
            limit,
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TokenRow::into_view).collect()
    }

    /// Revokes token `id` (of `user_id` only, unless `None`: an admin's). Returns its owner's id
    /// and name when it was in force and is now revoked.
    pub async fn revoke_access_token(
        &self,
        id: i64,
        user_id: Option<i64>,
    ) -> Result<Option<(i64, String)>, sqlx::Error> {
        let row = sqlx::query!(
            "update access_token set revoked_at = now() \
             where id = $1 and ($2::bigint is null or user_id = $2) and revoked_at is null \
             returning user_id, name",
            id,
            user_id,
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (row.user_id, row.name)))
    }

    /// The grant of the token whose secret hashes to `secret_hash`, when it is in force and
    /// belongs to the enabled user named `name` (any case). Marks it used.
    pub async fn grant_of_token(
        &self,
        name: &str,
        secret_hash: &[u8],
    ) -> Result<Option<TokenGrant>, sqlx::Error> {
        let row = sqlx::query!(
            r#"update access_token t set last_used_at = now()
               from app_user u
               where t.secret_hash = $2 and u.id = t.user_id and lower(u.name) = lower($1)
                 and not u.disabled and t.revoked_at is null and t.expires_at > now()
               returning t.id, t.scope, t.filters, t.expires_at as "expires_at: DateTime<Utc>",
                         u.id as user_id,
                         u.name as user_name, u.role::text as "role!", u.disabled"#,
            name,
            secret_hash,
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let role: Role = row
            .role
            .parse()
            .map_err(|_| sqlx::Error::Decode(format!("no role {:?}", row.role).into()))?;
        // Checked on entry; a filter that no longer parses would widen the token by its
        // absence, so such a token lets nobody in.
        let Ok(filters) = row
            .filters
            .iter()
            .map(|filter| TopicFilter::parse(filter))
            .collect::<Result<Vec<_>, _>>()
        else {
            tracing::warn!(token = row.id, "a token's filters cannot be read; refused");
            return Ok(None);
        };
        Ok(Some(TokenGrant {
            token_id: row.id,
            user: User {
                id: row.user_id,
                name: row.user_name,
                role,
                disabled: row.disabled,
            },
            scope: parse_scope(&row.scope)?,
            filters,
            expires_at_ms: row.expires_at.timestamp_millis(),
        }))
    }

    /// Whether token `id` still lets its user in: not revoked, not expired, user enabled.
    pub async fn token_in_force(&self, id: i64) -> Result<bool, sqlx::Error> {
        let live = sqlx::query_scalar!(
            r#"select exists (
                 select 1 from access_token t join app_user u on u.id = t.user_id
                 where t.id = $1 and t.revoked_at is null and t.expires_at > now()
                   and not u.disabled
               ) as "live!""#,
            id
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(live)
    }
}
