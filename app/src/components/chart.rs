//! The history chart: a topic's value buckets drawn as inline SVG, the min–max band with the
//! average line over it, laid out by `domain::chart` like status pages' charts. Rendered on the
//! server like the rest of the page, so it shows without JavaScript; its cost depends on the
//! number of buckets, never on the number of stored values.

use crate::domain::chart::{Frame, Layout, Sample};
use crate::domain::history::{History, ValueBucket};
use crate::domain::wording::format_value;
use leptos::prelude::*;

/// The drawing's height in CSS pixels, should the stylesheet not set one; its width is always
/// its container's.
const HEIGHT_PX: u32 = 240;

/// The values of all buckets together.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub count: i64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
}

impl Summary {
    pub fn of(buckets: &[ValueBucket]) -> Option<Self> {
        let count: i64 = buckets.iter().map(|bucket| bucket.count).sum();
        if count == 0 {
            return None;
        }
        let total: f64 = buckets
            .iter()
            .map(|bucket| bucket.avg * bucket.count as f64)
            .sum();
        Some(Self {
            count,
            min: buckets.iter().map(|b| b.min).fold(f64::INFINITY, f64::min),
            max: buckets
                .iter()
                .map(|b| b.max)
                .fold(f64::NEG_INFINITY, f64::max),
            avg: total / count as f64,
        })
    }
}

/// The buckets as the shared layout draws them: each at its middle, from its minimum to its
/// maximum around its average, over the whole range (see `HistoryRange::fitting` for why the
/// range, not the data, sets the x axis).
fn layout_of(history: &History, unit: &str) -> Option<Layout> {
    let samples: Vec<Sample> = history
        .buckets
        .iter()
        .map(|bucket| Sample {
            at_ms: bucket.start_ms + history.bucket_ms / 2,
            low: bucket.min,
            high: bucket.max,
            mid: bucket.avg,
        })
        .collect();
    Layout::new(
        &samples,
        history.bucket_ms,
        history.from_ms,
        history.to_ms,
        Frame::CHART,
        unit,
    )
}

/// `what` names what is charted (a topic, or a field of its payloads); `unit` follows its values.
#[component]
pub fn HistoryChart(
    history: History,
    what: String,
    #[prop(optional)] unit: String,
) -> impl IntoView {
    let (Some(summary), Some(layout)) = (Summary::of(&history.buckets), layout_of(&history, &unit))
    else {
        return ().into_any();
    };
    let range = if history.fitted {
        format!(
            "last {} (the smallest range that holds its recent values)",
            history.range.label()
        )
    } else {
        format!("last {}", history.range.label())
    };
    let value = |number: f64| {
        if unit.is_empty() {
            format_value(number)
        } else {
            format!("{} {unit}", format_value(number))
        }
    };
    let description = format!(
        "{what}, {range}: {} numeric values in {} intervals of {} s; minimum {}, maximum {}, \
         average {}.",
        summary.count,
        history.buckets.len(),
        history.bucket_ms / 1000,
        value(summary.min),
        value(summary.max),
        value(summary.avg),
    );
    let drawing = layout.svg(HEIGHT_PX, &description);

    view! {
        <figure class="chart">
            // Markup, not elements: hydration takes it over without walking every tick and dot.
            <div class="chart-drawing" inner_html=drawing></div>
            <figcaption>
                {format!(
                    "Last {}{}: minimum {}, maximum {}, average {} over {} values (UTC). The band \
                     spans each interval's minimum to maximum; the line is its average.",
                    history.range.label(),
                    if history.fitted { ", the smallest range that holds the recent values" } else { "" },
                    value(summary.min),
                    value(summary.max),
                    value(summary.avg),
                    summary.count,
                )}
            </figcaption>
        </figure>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::history::HistoryRange;

    fn bucket(start_ms: i64, min: f64, max: f64, avg: f64, count: i64) -> ValueBucket {
        ValueBucket {
            start_ms,
            min,
            max,
            avg,
            count,
        }
    }

    #[test]
    fn the_summary_weights_each_bucket_by_its_count() {
        let summary = Summary::of(&[bucket(0, 1.0, 3.0, 2.0, 3), bucket(10, 5.0, 5.0, 5.0, 1)]);
        assert_eq!(
            summary,
            Some(Summary {
                count: 4,
                min: 1.0,
                max: 5.0,
                avg: 2.75
            })
        );
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn gaps_split_the_line_and_a_lone_bucket_is_a_dot() {
        let bucket_ms = HistoryRange::Hour1.bucket_ms();
        let history = History {
            range: HistoryRange::Hour1,
            from_ms: 0,
            to_ms: HistoryRange::Hour1.span_ms(),
            bucket_ms,
            buckets: vec![
                bucket(0, 1.0, 2.0, 1.5, 2),
                bucket(bucket_ms, 1.0, 2.0, 1.5, 2),
                bucket(2 * bucket_ms, 1.0, 2.0, 1.5, 2),
                bucket(100 * bucket_ms, 3.0, 3.0, 3.0, 1),
            ],
            fitted: false,
        };
        let layout = layout_of(&history, "").unwrap();
        assert_eq!(layout.band.matches('M').count(), 2, "{}", layout.band);
        assert_eq!(layout.band.matches('Z').count(), 2, "{}", layout.band);
        assert_eq!(layout.line.matches('M').count(), 1, "{}", layout.line);
        let [dot] = layout.dots.as_slice() else {
            panic!("{:?}", layout.dots)
        };
        // At the middle of its bucket.
        let share = (100.5 * bucket_ms as f64) / HistoryRange::Hour1.span_ms() as f64;
        let side = Frame::CHART.side;
        assert!((dot.x - (side + share * (100.0 - 2.0 * side))).abs() < 0.01);
    }

    #[test]
    fn a_flat_series_still_has_a_band_to_sit_in() {
        let history = History {
            range: HistoryRange::Hour1,
            from_ms: 0,
            to_ms: 1000,
            bucket_ms: 1000,
            buckets: vec![bucket(0, 7.0, 7.0, 7.0, 1)],
            fitted: true,
        };
        let layout = layout_of(&history, "").unwrap();
        assert!(layout.low < 7.0 && layout.high > 7.0);
        let y = layout.dots[0].y;
        assert!(y > Frame::CHART.top && y < 100.0 - Frame::CHART.bottom);
        assert_eq!(
            layout.dots[0].label.as_deref(),
            Some("7"),
            "one value says itself"
        );
        assert_eq!(layout.line, "");
    }
}
