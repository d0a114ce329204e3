//! The SQL of a status page's followers (`page_follower`: e-mail subscribers and webhooks) and
//! of what is owed to them (`page_delivery`, an outbox like `alert_notice`).

use super::Store;
use crate::domain::subscription::{
    FollowerKind, PageNews, CONFIRM_WITHIN_MS, MAX_SUBSCRIBERS, MAX_WEBHOOKS, REMAIL_AFTER_MS,
    SIGNUPS_PER_HOUR,
};
use chrono::{DateTime, Utc};

/// What typing an address into a page's form came to. Every case answers the visitor the same
/// way: whether an address is subscribed is nobody else's business.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signup {
    /// A new pending subscription, or a pending one asked again after a while: its
    /// confirmation is queued.
    Asked,
    /// Confirmed already, or asked too recently: nothing is sent.
    Quiet,
    /// The page takes no (more) subscriptions: none published there, no mail channel, as many
    /// subscribers as it may have, or too many sign-ups this hour.
    Closed,
}

/// A follower as its own page (the link in its e-mails) shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowerView {
    pub id: i64,
    pub address: String,
    pub confirmed: bool,
}

/// A page's webhook, for its editor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    /// The last delivery's failure, while it is the last word.
    pub failing: Option<String>,
}

/// One delivery to send.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub id: i64,
    pub kind: FollowerKind,
    pub address: String,
    pub token: String,
    pub news: PageNews,
    /// For e-mail: the page's mail channel's address (its server and sender), if it still has
    /// one.
    pub mail_channel: Option<String>,
    pub attempts: i32,
}

impl Store {
    /// Subscribes `address` to published page `slug` by e-mail, pending its confirmation, with
    /// `token` as its secret if it is new.
    pub async fn sign_up(
        &self,
        slug: &str,
        address: &str,
        token: &str,
    ) -> Result<Signup, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // The page's row lock keeps concurrent sign-ups to its limits.
        let page = sqlx::query!(
            "select p.id, p.title from status_page p join alert_channel c \
             on c.id = p.mail_channel_id and c.enabled \
             where p.slug = $1 and p.published for update of p",
            slug,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(page) = page else {
            return Ok(Signup::Closed);
        };
        let confirm_within = confirm_within();
        sqlx::query!(
            "delete from page_follower where page_id = $1 and confirmed_at is null \
             and created_at < now() - $2::float8 * interval '1 second'",
            page.id,
            confirm_within,
        )
        .execute(&mut *tx)
        .await?;
        let known = sqlx::query!(
            r#"select id, confirmed_at is not null as "confirmed!",
                      coalesce(asked_at < now() - $3::float8 * interval '1 second', true) as "due!"
               from page_follower where page_id = $1 and kind = 'email' and address = $2"#,
            page.id,
            address,
            REMAIL_AFTER_MS as f64 / 1000.0,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let follower = match known {
            Some(known) if known.confirmed || !known.due => return Ok(Signup::Quiet),
            Some(known) => known.id,
            None => {
                let counts = sqlx::query!(
                    r#"select count(*) as "all!",
                              count(*) filter (where confirmed_at is null
                                  and created_at > now() - interval '1 hour') as "recent!"
                       from page_follower where page_id = $1 and kind = 'email'"#,
                    page.id,
                )
                .fetch_one(&mut *tx)
                .await?;
                if counts.all >= MAX_SUBSCRIBERS || counts.recent >= SIGNUPS_PER_HOUR {
                    return Ok(Signup::Closed);
                }
                sqlx::query_scalar!(
                    "insert into page_follower (page_id, kind, address, token) \
                     values ($1, 'email', $2, $3) returning id",
                    page.id,
                    address,
                    token,
                )
                .fetch_one(&mut *tx)
                .await?
            }
        };
        sqlx::query!(
            "update page_follower set asked_at = now() where id = $1",
            follower
        )
        .execute(&mut *tx)
        .await?;
        let news = PageNews::Confirm {
            page: page.title,
            slug: slug.to_owned(),
        };
        sqlx::query!(
            "insert into page_delivery (follower_id, news) values ($1, $2::text::jsonb)",
            follower,
            json(&news),
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Signup::Asked)
    }

    /// The follower of page `slug` whose secret is `token`, unless it is a pending
    /// subscription past its time.
    pub async fn follower(
        &self,
        slug: &str,
        token: &str,
    ) -> Result<Option<FollowerView>, sqlx::Error> {
        let row = sqlx::query!(
            r#"select f.id, f.address, f.confirmed_at is not null as "confirmed!"
               from page_follower f join status_page p on p.id = f.page_id
               where p.slug = $1 and f.token = $2
                 and (f.confirmed_at is not null
                      or f.created_at > now() - $3::float8 * interval '1 second')"#,
            slug,
            token,
            confirm_within(),
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| FollowerView {
            id: row.id,
            address: row.address,
            confirmed: row.confirmed,
        }))
    }

    /// Confirms the pending subscription `follower`; `false` if there is none.
    pub async fn confirm_follower(&self, follower: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query!(
            "update page_follower set confirmed_at = now() \
             where id = $1 and confirmed_at is null",
            follower
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets follower `id` of page `slug` (it unsubscribed, or an admin deleted it) with
    /// what was still owed to it.
    pub async fn forget_follower(&self, page_id: i64, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query!(
            "delete from page_follower where id = $1 and page_id = $2",
            id,
            page_id
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Unsubscribes the follower of page `slug` whose secret is `token`; `false` if none.
    pub async fn unsubscribe(&self, slug: &str, token: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query!(
            "delete from page_follower f using status_page p \
             where p.id = f.page_id and p.slug = $1 and f.token = $2",
            slug,
            token
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets the e-mail channel that writes to page `page_id`'s subscribers (`None`: the page
    /// takes no e-mail subscriptions); `false` if there is no such page or e-mail channel.
    pub async fn set_mail_channel(
        &self,
        page_id: i64,
        channel: Option<i64>,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query!(
            "update status_page set mail_channel_id = $2 where id = $1 \
             and ($2::int8 is null \
                  or exists (select 1 from alert_channel where id = $2 and format = 'email'))",
            page_id,
            channel,
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Page `page_id`'s mail channel, and how many subscribers it has: confirmed and pending.
    pub async fn page_followers(
        &self,
        page_id: i64,
    ) -> Result<(Option<i64>, i64, i64, Vec<Webhook>), sqlx::Error> {
        let channel = sqlx::query_scalar!(
            "select mail_channel_id from status_page where id = $1",
            page_id
        )
        .fetch_optional(&self.pool)
        .await?
        .flatten();
        let counts = sqlx::query!(
            r#"select count(*) filter (where confirmed_at is not null) as "confirmed!",
                      count(*) filter (where confirmed_at is null) as "pending!"
               from page_follower where page_id = $1 and kind = 'email'"#,
            page_id,
        )
        .fetch_one(&self.pool)
        .await?;
        let webhooks = sqlx::query!(
            r#"select f.id, f.address,
                      (select d.last_error from page_delivery d where d.follower_id = f.id
                         and d.attempts > 0 order by d.id desc limit 1) as "last_error"
               from page_follower f where f.page_id = $1 and f.kind = 'webhook' order by f.id"#,
            page_id,
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| Webhook {
            id: row.id,
            url: row.address,
            failing: row.last_error,
        })
        .collect();
        Ok((channel, counts.confirmed, counts.pending, webhooks))
    }

    /// Adds a webhook to page `page_id`: `None` when there is no such page, `Some(false)` when
    /// it has [`MAX_WEBHOOKS`] or this one already.
    pub async fn add_webhook(
        &self,
        page_id: i64,
        url: &str,
        token: &str,
    ) -> Result<Option<bool>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if !super::status_pages::lock_page(&mut tx, page_id).await? {
            return Ok(None);
        }
        let count = sqlx::query_scalar!(
            r#"select count(*) as "n!" from page_follower where page_id = $1 and kind = 'webhook'"#,
            page_id
        )
        .fetch_one(&mut *tx)
        .await?;
        if count >= MAX_WEBHOOKS {
            return Ok(Some(false));
        }
        let added = sqlx::query!(
            "insert into page_follower (page_id, kind, address, token, confirmed_at) \
             values ($1, 'webhook', $2, $3, now()) on conflict do nothing",
            page_id,
            url,
            token,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(added.rows_affected() == 1))
    }

    /// Whether page `page_id` has an enabled mail channel to write to subscribers with.
    pub async fn takes_subscriptions(&self, page_id: i64) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar!(
            r#"select exists (select 1 from status_page p join alert_channel c
                              on c.id = p.mail_channel_id
                              where p.id = $1 and c.enabled) as "takes!""#,
            page_id
        )
        .fetch_one(&self.pool)
        .await
    }

    /// Page `page_id`'s slug and title while it is a published public board: news of a draft,
    /// or of a board only signed-in users open, is nobody's.
    pub async fn published_names(
        &self,
        page_id: i64,
    ) -> Result<Option<(String, String)>, sqlx::Error> {
        let row = sqlx::query!(
            "select slug, title from status_page where id = $1 and published and public",
            page_id
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| (row.slug, row.title)))
    }

    /// Queues `news` of page `page_id` for each of its confirmed followers; returns how many.
    pub async fn queue_news(&self, page_id: i64, news: &PageNews) -> Result<u64, sqlx::Error> {
        let done = sqlx::query!(
            "insert into page_delivery (follower_id, news) \
             select id, $2::text::jsonb from page_follower \
             where page_id = $1 and confirmed_at is not null",
            page_id,
            json(news),
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Takes up to `limit` deliveries that are due, oldest first, leasing them for `lease` (as
    /// [`Store::claim_due_notices`] does notices).
    pub async fn claim_due_deliveries(
        &self,
        limit: i64,
        lease: std::time::Duration,
    ) -> Result<Vec<DueDelivery>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"with due as (
                   select id from page_delivery
                   where status = 'pending' and next_attempt <= now()
                   order by next_attempt, id limit $1 for update skip locked)
               update page_delivery d set next_attempt = now() + $2::float8 * interval '1 second'
               from due, page_follower f, status_page p
               where d.id = due.id and f.id = d.follower_id and p.id = f.page_id
               returning d.id, d.news::text as "news!", d.attempts, f.kind, f.address, f.token,
                         (select c.url from alert_channel c
                          where c.id = p.mail_channel_id and c.enabled) as "mail_channel""#,
            limit,
            lease.as_secs_f64(),
        )
        .fetch_all(&self.pool)
        .await?;
        let mut due: Vec<DueDelivery> = rows
            .into_iter()
            .filter_map(|row| {
                let news = serde_json::from_str(&row.news)
                    .inspect_err(|error| {
                        tracing::warn!(id = row.id, %error, "a queued delivery cannot be read")
                    })
                    .ok()?;
                Some(DueDelivery {
                    id: row.id,
                    kind: FollowerKind::parse(&row.kind)?,
                    address: row.address,
                    token: row.token,
                    news,
                    mail_channel: row.mail_channel,
                    attempts: row.attempts,
                })
            })
            .collect();
        due.sort_by_key(|delivery| delivery.id);
        Ok(due)
    }

    /// Records delivery `id` sent, or failed: tried again at `retry_at`, or given up when that
    /// is `None`.
    pub async fn delivery_done(
        &self,
        id: i64,
        failure: Option<(&str, Option<DateTime<Utc>>)>,
    ) -> Result<(), sqlx::Error> {
        let (error, retry_at) = match failure {
            Some((error, retry_at)) => (Some(super::alerts::cut(error)), retry_at),
            None => (None, None),
        };
        sqlx::query!(
            "update page_delivery set attempts = attempts + 1, last_error = $2, \
             status = case when $2::text is null then 'delivered' \
                           when $3::timestamptz is null then 'failed' else 'pending' end, \
             next_attempt = coalesce($3, next_attempt), \
             finished_at = case when $2::text is null or $3::timestamptz is null then now() end \
             where id = $1",
            id,
            error,
            retry_at as Option<DateTime<Utc>>,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn confirm_within() -> f64 {
    CONFIRM_WITHIN_MS as f64 / 1000.0
}

fn json(news: &PageNews) -> String {
    serde_json::to_string(news).unwrap_or_else(|_| "{}".to_owned())
}
