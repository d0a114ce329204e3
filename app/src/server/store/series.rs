//! The SQL of named series (`value_series`): numbers inside JSON payloads that the batch writer
//! rolls up under their own id. Their rollups are in `value_rollup`, read by [`super::history`].

use super::Store;
use crate::domain::series::{SeriesDef, SeriesText, MAX_SERIES};

/// What adding a series came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeriesAdded {
    Added(i32),
    /// The same topics and field are a series already.
    Duplicate,
    /// [`MAX_SERIES`] are named already.
    Full,
}

impl Store {
    /// Every named series, oldest first. A stored one that no longer passes the checks (none
    /// should: they are checked on entry) is skipped with a warning.
    pub async fn value_series(&self) -> Result<Vec<SeriesDef>, sqlx::Error> {
        let rows = sqlx::query!(
            "select id, topic_filter, pointer, label, unit from value_series order by id"
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let text = SeriesText {
                    filter: &row.topic_filter,
                    pointer: &row.pointer,
                    label: &row.label,
                    unit: &row.unit,
                };
                SeriesDef::check(row.id, text)
                    .inspect_err(|problem| {
                        tracing::warn!(id = row.id, %problem, "a series cannot be read; ignored")
                    })
                    .ok()
            })
            .collect())
    }

    /// Names a series (its id is ignored).
    pub async fn add_value_series(&self, series: &SeriesDef) -> Result<SeriesAdded, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // Serialises adds, so two at once cannot both pass the count.
        sqlx::query!("lock table value_series in share row exclusive mode")
            .execute(&mut *tx)
            .await?;
        let named = sqlx::query_scalar!(r#"select count(*) as "n!" from value_series"#)
            .fetch_one(&mut *tx)
            .await?;
        if named >= MAX_SERIES as i64 {
            return Ok(SeriesAdded::Full);
        }
        let id = sqlx::query_scalar!(
            "insert into value_series (topic_filter, pointer, label, unit) values ($1, $2, $3, $4) \
             on conflict (topic_filter, pointer) do nothing returning id",
            series.topics.as_str(),
            series.pointer,
            series.label,
            series.unit,
        )
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id.map_or(SeriesAdded::Duplicate, SeriesAdded::Added))
    }

    /// Renames series `id`; whether it exists.
    pub async fn rename_value_series(
        &self,
        id: i32,
        label: &str,
        unit: &str,
    ) -> Result<bool, sqlx::Error> {
        let updated = sqlx::query!(
            "update value_series set label = $2, unit = $3 where id = $1",
            id,
            label,
            unit,
        )
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() > 0)
    }

    /// Deletes series `id`; whether it existed. Its rollups go with the next maintenance round
    /// ([`Store::delete_orphan_rollups`]): charts no longer offer it from now on.
    pub async fn delete_value_series(&self, id: i32) -> Result<bool, sqlx::Error> {
        let deleted = sqlx::query!("delete from value_series where id = $1", id)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Deletes the rollups of series that no longer exist (deleted, or written by a batch that
    /// was in flight as its series was deleted), in statements of at most
    /// [`DELETE_BATCH`](super::retention::DELETE_BATCH) rows; returns how many went. Ids are
    /// never given out again, so no new series can inherit them.
    pub async fn delete_orphan_rollups(&self) -> Result<u64, sqlx::Error> {
        super::retention::delete_in_batches(|| async {
            let deleted = sqlx::query!(
                "delete from value_rollup \
                 where (topic_id, series, level, bucket) in ( \
                     select topic_id, series, level, bucket from value_rollup r \
                     where series <> 0 \
                       and not exists (select 1 from value_series s where s.id = r.series) \
                     limit $1)",
                super::retention::DELETE_BATCH,
            )
            .execute(&self.pool)
            .await?;
            Ok(deleted.rows_affected())
        })
        .await
    }
}
