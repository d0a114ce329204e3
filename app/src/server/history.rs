//! A topic's values over a range, as every history view asks for them: the range fitted to the
//! values when none was chosen, and the buckets read from the coarsest source that still draws
//! the range in detail (`HistoryRange::resolution`): raw messages for short ranges, rollups per
//! minute, hour or day for longer ones. While the rollups' backfill has not reached back far
//! enough, the raw messages answer instead, so a chart is never missing what was stored. A named
//! series (a field of JSON payloads) has rollups only, so its finest level is the minute.

use crate::domain::history::{reach_of, History, HistoryRange, Resolution};
use crate::domain::series::OWN_NUMBER;
use crate::server::store::Store;
use chrono::{DateTime, Utc};

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The values of topic `id`'s `series` over `range` up to `to_ms` (a whole millisecond, so the
/// bounds sent back are those queried); without a range, over the one that fits its values
/// ([`HistoryRange::fitting`]).
pub async fn value_history(
    store: &Store,
    id: i64,
    series: i32,
    range: Option<HistoryRange>,
    to_ms: i64,
) -> Result<History, sqlx::Error> {
    let fitted = range.is_none();
    let range = match range {
        Some(range) => range,
        None => {
            let recent = to_ms - HistoryRange::default().span_ms();
            let (oldest, latest) = if series == OWN_NUMBER {
                store.value_reach(id, at(recent), at(to_ms)).await?
            } else {
                store
                    .series_reach(id, series, at(recent), at(to_ms))
                    .await?
            };
            // Floored to the millisecond, so the range found holds the value itself.
            let ms = |at: DateTime<Utc>| at.timestamp_millis();
            reach_of(oldest.map(ms), latest.map(ms)).map_or_else(HistoryRange::default, |reach| {
                HistoryRange::fitting(to_ms - reach)
            })
        }
    };
    let mut from_ms = range.from_ms(to_ms);
    let (resolution, bucket_ms) = match range.resolution() {
        Resolution::Raw if series != OWN_NUMBER => {
            let minute = Resolution::Minute.width_ms();
            let bucket_ms = range.bucket_ms().div_euclid(minute).max(1) * minute;
            // Whole minutes from the first, as from any rollup.
            from_ms = (to_ms - range.span_ms()).div_euclid(bucket_ms) * bucket_ms;
            (Resolution::Minute, bucket_ms)
        }
        Resolution::Raw => (Resolution::Raw, range.bucket_ms()),
        // Named series are rolled up from the moment they are named: there is nothing older.
        rollup if series != OWN_NUMBER || store.rollups_cover(at(from_ms)).await? => {
            (rollup, range.bucket_ms())
        }
        _ => (Resolution::Raw, range.bucket_ms()),
    };
    let buckets = store
        .value_buckets(id, series, resolution, at(from_ms), at(to_ms), bucket_ms)
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
