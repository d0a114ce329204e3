//! The SQL of login devices: browsers that logged in as a user before, known by a hash of their
//! cookie's token (`server/src/login.rs` explains what they are for).

use super::Store;
use std::time::Duration;

impl Store {
    /// The id of the user called `name` (any letter case) if `token_hash` is one of its devices,
    /// used within `lifetime`.
    pub async fn login_device_user(
        &self,
        token_hash: &[u8],
        name: &str,
        lifetime: Duration,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar!(
            "select d.user_id from login_device d join app_user u on u.id = d.user_id \
             where d.token_hash = $1 and lower(u.name) = lower($2) \
               and d.last_used_at > now() - make_interval(secs => $3)",
            token_hash,
            name,
            lifetime.as_secs_f64(),
        )
        .fetch_optional(&self.pool)
        .await
    }

    /// Records a new device of `user_id` (after a login succeeded), in place of `replaces` (the
    /// token the browser presented, if it was this user's): a token is good for one login, so
    /// a copied cookie stops working once its owner logs in again. Keeps the user's newest
    /// `keep` devices and drops those unused for `lifetime`, so rows stay bounded per user.
    pub async fn remember_login_device(
        &self,
        user_id: i64,
        token_hash: &[u8],
        replaces: Option<&[u8]>,
        keep: i64,
        lifetime: Duration,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if let Some(old) = replaces {
            sqlx::query!(
                "delete from login_device where token_hash = $1 and user_id = $2",
                old,
                user_id,
            )
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query!(
            "insert into login_device (token_hash, user_id) values ($1, $2)",
            token_hash,
            user_id,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "delete from login_device where user_id = $1 and ( \
                 last_used_at <= now() - make_interval(secs => $3) \
                 or token_hash in (select token_hash from login_device where user_id = $1 \
                                   order by last_used_at desc, created_at desc offset $2))",
            user_id,
            keep,
            lifetime.as_secs_f64(),
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Counts a wrong password typed with the device `token_hash`; at `limit` such failures in a
    /// row (on any instance) the device is forgotten. Returns whether it was.
    pub async fn login_device_failed(
        &self,
        token_hash: &[u8],
        limit: i32,
    ) -> Result<bool, sqlx::Error> {
        let failures = sqlx::query_scalar!(
            "update login_device set failures = failures + 1 where token_hash = $1 \
             returning failures",
            token_hash,
        )
        .fetch_optional(&self.pool)
        .await?;
        if failures.is_some_and(|failures| failures >= limit) {
            sqlx::query!("delete from login_device where token_hash = $1", token_hash)
                .execute(&self.pool)
                .await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Forgets every device of `user_id`: after a password change, whoever logged in with the old
    /// one may hold a device cookie. Returns how many there were.
    pub async fn forget_login_devices(&self, user_id: i64) -> Result<u64, sqlx::Error> {
        sqlx::query!("delete from login_device where user_id = $1", user_id)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
    }
}
