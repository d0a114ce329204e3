//! A topic's numeric values over time, as the history chart and status page widgets ask for
//! them: the ranges offered, and the buckets PostgreSQL aggregates them into.

use serde::{Deserialize, Serialize};

/// The time ranges the chart offers, as the `range` query parameter spells them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HistoryRange {
    #[serde(rename = "15m")]
    Minutes15,
    #[serde(rename = "1h")]
    Hour1,
    #[serde(rename = "6h")]
    Hours6,
    #[default]
    #[serde(rename = "24h")]
    Hours24,
    #[serde(rename = "7d")]
    Days7,
    #[serde(rename = "30d")]
    Days30,
    #[serde(rename = "90d")]
    Days90,
    #[serde(rename = "1y")]
    Year1,
    #[serde(rename = "2y")]
    Years2,
}

/// At most this many buckets come back per chart, whatever the number of stored values: about
/// one per two pixels of the chart's width, which is all a chart can show.
pub const MAX_BUCKETS: i64 = 500;

impl HistoryRange {
    pub const ALL: [HistoryRange; 9] = [
        HistoryRange::Minutes15,
        HistoryRange::Hour1,
        HistoryRange::Hours6,
        HistoryRange::Hours24,
        HistoryRange::Days7,
        HistoryRange::Days30,
        HistoryRange::Days90,
        HistoryRange::Year1,
        HistoryRange::Years2,
    ];

    pub fn key(self) -> &'static str {
        match self {
            HistoryRange::Minutes15 => "15m",
            HistoryRange::Hour1 => "1h",
            HistoryRange::Hours6 => "6h",
            HistoryRange::Hours24 => "24h",
            HistoryRange::Days7 => "7d",
            HistoryRange::Days30 => "30d",
            HistoryRange::Days90 => "90d",
            HistoryRange::Year1 => "1y",
            HistoryRange::Years2 => "2y",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            HistoryRange::Minutes15 => "15 min",
            HistoryRange::Hour1 => "1 h",
            HistoryRange::Hours6 => "6 h",
            HistoryRange::Hours24 => "24 h",
            HistoryRange::Days7 => "7 d",
            HistoryRange::Days30 => "30 d",
            HistoryRange::Days90 => "90 d",
            HistoryRange::Year1 => "1 y",
            HistoryRange::Years2 => "2 y",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|range| range.key() == key)
    }

    pub fn span_ms(self) -> i64 {
        const MINUTE: i64 = 60_000;
        const DAY: i64 = 24 * 60 * MINUTE;
        match self {
            HistoryRange::Minutes15 => 15 * MINUTE,
            HistoryRange::Hour1 => 60 * MINUTE,
            HistoryRange::Hours6 => 6 * 60 * MINUTE,
            HistoryRange::Hours24 => 24 * 60 * MINUTE,
            HistoryRange::Days7 => 7 * 24 * 60 * MINUTE,
            HistoryRange::Days30 => 30 * DAY,
            HistoryRange::Days90 => 90 * DAY,
            HistoryRange::Year1 => 365 * DAY,
            HistoryRange::Years2 => 2 * 365 * DAY,
        }
    }

    /// Where the chart of this range reads its values from: the coarsest [`Resolution`] that
    /// still gives at least [`MIN_BUCKETS`] buckets, so the cost of a chart is bounded by its
    /// buckets rather than by the values stored.
    pub fn resolution(self) -> Resolution {
        Resolution::ROLLUPS
            .into_iter()
            .rev()
            .find(|level| self.span_ms() / level.width_ms() >= MIN_BUCKETS)
            .unwrap_or(Resolution::Raw)
    }

    /// The width of one bucket: whole seconds, and a whole number of the [`resolution`]'s
    /// buckets (so each chart bucket is made of whole rollups and its minimum and maximum are
    /// exact). Buckets are aligned to the Unix epoch rather than to the range's start, so a
    /// reload draws the same buckets; a range then overlaps one bucket more than it spans, hence
    /// `MAX_BUCKETS - 1`.
    ///
    /// [`resolution`]: HistoryRange::resolution
    pub fn bucket_ms(self) -> i64 {
        let per_bucket = (self.span_ms() as u64).div_ceil(MAX_BUCKETS as u64 - 1);
        let unit = self.resolution().width_ms().max(1000) as u64;
        (per_bucket.div_ceil(unit) * unit) as i64
    }

    /// Where a chart of this range ending at `to_ms` starts: `span_ms` back, then back to the
    /// start of its bucket, so the first bucket is whole and a chart read from rollups equals one
    /// read from the raw values.
    pub fn from_ms(self, to_ms: i64) -> i64 {
        let from = to_ms - self.span_ms();
        from - from.rem_euclid(self.bucket_ms())
    }

    /// The range a topic's chart shows when the visitor chose none: the smallest one offered
    /// that reaches back `age_ms`, to the oldest value worth showing (see [`reach_of`]); the
    /// largest when none does.
    ///
    /// Why a range, rather than a fixed 24 h with its x axis fitted to the data: a range is
    /// something the page can say and link to. The chosen range is marked in the range links,
    /// named in the caption, and the chart spans it exactly as if it had been asked for, so
    /// what the axis shows and what the page says always agree; and the buckets shrink with the
    /// range, so ten minutes of values get 2 s buckets instead of four 3-minute ones. A range in
    /// the address (`?range=`) is always kept as asked, even where it shows the values as a
    /// sliver: the visitor chose that view.
    pub fn fitting(age_ms: i64) -> Self {
        Self::ALL
            .into_iter()
            .find(|range| range.span_ms() >= age_ms)
            .unwrap_or(HistoryRange::Years2)
    }
}

/// A chart gets at least this many buckets from the rollups it reads (fewer only from raw
/// values, for ranges shorter than that many minutes).
pub const MIN_BUCKETS: i64 = 250;

/// What a history is read from: the stored messages themselves, or their rollups per minute, hour
/// or UTC day (`value_rollup`, merged by the batch writer as it stores each batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Resolution {
    Raw,
    Minute,
    Hour,
    Day,
}

impl Resolution {
    /// The rollup levels, finest first.
    pub const ROLLUPS: [Resolution; 3] = [Resolution::Minute, Resolution::Hour, Resolution::Day];

    /// The width of one rollup bucket (none for raw values).
    pub fn width_ms(self) -> i64 {
        match self {
            Resolution::Raw => 0,
            Resolution::Minute => 60_000,
            Resolution::Hour => 3_600_000,
            Resolution::Day => 86_400_000,
        }
    }

    /// `value_rollup.level` of this resolution (none for raw values).
    pub fn level(self) -> Option<i16> {
        match self {
            Resolution::Raw => None,
            Resolution::Minute => Some(1),
            Resolution::Hour => Some(2),
            Resolution::Day => Some(3),
        }
    }

    /// The start of the bucket of this level that holds `at_ms` (UTC days: the Unix epoch
    /// starts one).
    pub fn bucket_of(self, at_ms: i64) -> i64 {
        match self.width_ms() {
            0 => at_ms,
            width => at_ms - at_ms.rem_euclid(width),
        }
    }
}

/// How far back the default chart has to reach, given the oldest numeric value of the last
/// [`HistoryRange::default`] span and the time of the latest message if it is numeric: back to
/// the oldest, so all recent values are in view; for a topic silent for longer, back to its
/// latest value, so the page shows its last values instead of an empty 24 h. `None` when there
/// is neither.
pub fn reach_of(oldest_recent_ms: Option<i64>, latest_ms: Option<i64>) -> Option<i64> {
    oldest_recent_ms.or(latest_ms)
}

/// The numeric values of one time bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueBucket {
    pub start_ms: i64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub count: i64,
}

/// A topic's numeric values over a range, in buckets of `bucket_ms` from the oldest; buckets
/// without values are left out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub range: HistoryRange,
    /// The range: values received at or after `from_ms` and before `to_ms`.
    pub from_ms: i64,
    pub to_ms: i64,
    pub bucket_ms: i64,
    pub buckets: Vec<ValueBucket>,
    /// True when the visitor asked for no range and `range` is the one fitted to the values
    /// ([`HistoryRange::fitting`]).
    #[serde(default)]
    pub fitted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_never_exceed_the_limit_for_any_range() {
        for range in HistoryRange::ALL {
            let bucket = range.bucket_ms();
            assert_eq!(bucket % 1000, 0, "{range:?}");
            // A range not aligned to the buckets overlaps one more than it spans.
            let overlapped = (range.span_ms() + bucket - 1) / bucket + 1;
            assert!(overlapped <= MAX_BUCKETS, "{range:?}: {overlapped}");
            assert!(overlapped > MAX_BUCKETS / 2, "{range:?}: {overlapped}");
            assert_eq!(HistoryRange::from_key(range.key()), Some(range));
        }
    }

    #[test]
    fn each_range_reads_the_coarsest_rollup_that_still_draws_a_detailed_chart() {
        use Resolution::*;
        let expected = [
            (HistoryRange::Minutes15, Raw),
            (HistoryRange::Hour1, Raw),
            (HistoryRange::Hours6, Minute),
            (HistoryRange::Hours24, Minute),
            (HistoryRange::Days7, Minute),
            (HistoryRange::Days30, Hour),
            (HistoryRange::Days90, Hour),
            (HistoryRange::Year1, Day),
            (HistoryRange::Years2, Day),
        ];
        for (range, resolution) in expected {
            assert_eq!(range.resolution(), resolution, "{range:?}");
            let bucket = range.bucket_ms();
            // Whole rollups per bucket, so the envelope is exact.
            assert_eq!(bucket % resolution.width_ms().max(1000), 0, "{range:?}");
            let to = 1_765_000_123_456;
            let from = range.from_ms(to);
            assert_eq!(from % bucket, 0, "{range:?}");
            assert!(to - from >= range.span_ms() && to - from < range.span_ms() + bucket);
            if resolution != Raw {
                assert!((to - from) / bucket >= MIN_BUCKETS / 2, "{range:?}");
            }
        }
        assert_eq!(Day.bucket_of(86_400_000 * 3 + 5), 86_400_000 * 3);
        assert_eq!(Minute.bucket_of(-1), -60_000);
    }

    #[test]
    fn the_default_range_is_the_smallest_that_holds_the_values() {
        let minute = 60_000;
        assert_eq!(HistoryRange::fitting(10 * minute), HistoryRange::Minutes15);
        assert_eq!(HistoryRange::fitting(15 * minute), HistoryRange::Minutes15);
        assert_eq!(HistoryRange::fitting(16 * minute), HistoryRange::Hour1);
        assert_eq!(
            HistoryRange::fitting(23 * 60 * minute),
            HistoryRange::Hours24
        );
        assert_eq!(
            HistoryRange::fitting(3 * 24 * 60 * minute),
            HistoryRange::Days7
        );
        assert_eq!(
            HistoryRange::fitting(40 * 24 * 60 * minute),
            HistoryRange::Days90
        );
        assert_eq!(HistoryRange::fitting(i64::MAX), HistoryRange::Years2);
        // Recent values rule; a topic silent for longer is shown back to its newest value.
        assert_eq!(reach_of(Some(5), Some(9)), Some(5));
        assert_eq!(reach_of(None, Some(9)), Some(9));
        assert_eq!(reach_of(None, None), None);
    }
}
