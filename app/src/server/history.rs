//! A topic's values over a range, as every history view asks for them: the range fitted to the
//! values when none was chosen, and the buckets read from the coarsest source that still draws
//! the range in detail (`HistoryRange::resolution`): raw messages for short ranges, rollups per
//! minute, hour or day for longer ones. While the rollups' backfill has not reached back far
//! enough, the raw messages answer instead, so a chart is never missing what was stored.

use crate::domain::history::{reach_of, History, HistoryRange, Resolution};
use crate::server::store::Store;
use chrono::{DateTime, Utc};

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Topic `id`'s values over `range` up to `to_ms` (a whole millisecond, so the bounds sent back
/// are those queried); without a range, over the one that fits its values
/// ([`HistoryRange::fitting`]).
pub async fn value_history(
    store: &Store,
    id: i64,
    range: Option<HistoryRange>,
    to_ms: i64,
) -> Result<History, sqlx::Error> {
    let fitted = range.is_none();
    let range = match range {
        Some(range) => range,
        None => {
            let recent = to_ms - HistoryRange::default().span_ms();
            let (oldest, latest) = store.value_reach(id, at(recent), at(to_ms)).await?;
            // Floored to the millisecond, so the range found holds the value itself.
            let ms = |at: DateTime<Utc>| at.timestamp_millis();
            reach_of(oldest.map(ms), latest.map(ms)).map_or_else(HistoryRange::default, |reach| {
                HistoryRange::fitting(to_ms - reach)
            })
        }
    };
    let from_ms = range.from_ms(to_ms);
    let bucket_ms = range.bucket_ms();
    let resolution = match range.resolution() {
        Resolution::Raw => Resolution::Raw,
        rollup if store.rollups_cover(at(from_ms)).await? => rollup,
        _ => Resolution::Raw,
    };
    let buckets = store
        .value_buckets(id, resolution, at(from_ms), at(to_ms), bucket_ms)
        .await?;
    Ok(History {
        range,
        from_ms,
        to_ms,
        bucket_ms,
        buckets,
        fitted,
    })
}
