//! The history chart: a topic's value buckets drawn as inline SVG, the min–max band with the
//! average line over it. Rendered on the server like the rest of the page, so it shows without
//! JavaScript; its cost depends on the number of buckets, never on the number of stored values.

use crate::domain::history::{History, ValueBucket};
use crate::domain::wording::{format_value, UtcTime};
use leptos::prelude::*;
use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
/// Room for the axis labels: left for values, bottom for times.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

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

#[component]
pub fn HistoryChart(history: History, topic: String) -> impl IntoView {
    let Some(summary) = Summary::of(&history.buckets) else {
        return ().into_any();
    };
    let description = format!(
        "{topic}, last {}: {} numeric values in {} intervals of {} s; minimum {}, maximum {}, \
         average {}.",
        history.range.label(),
        summary.count,
        history.buckets.len(),
        history.bucket_ms / 1000,
        format_value(summary.min),
        format_value(summary.max),
        format_value(summary.avg),
    );
    let plot = Plot::new(&history, &summary);
    let (band, line) = plot.paths(&history);

    let value_ticks = plot
        .value_ticks
        .iter()
        .map(|(value, label)| {
            let y = format!("{:.1}", plot.y(*value));
            view! {
                <line class="grid" x1=LEFT x2={WIDTH - RIGHT} y1=y.clone() y2=y.clone()/>
                <text class="label" x={LEFT - 6.0} y=y text-anchor="end" dominant-baseline="middle">
                    {label.clone()}
                </text>
            }
        })
        .collect_view();
    let time_ticks = time_ticks(history.from_ms, history.to_ms)
        .into_iter()
        .map(|(at_ms, label)| {
            let x = format!("{:.1}", plot.x(at_ms));
            view! {
                <line class="tick" x1=x.clone() x2=x.clone() y1={HEIGHT - BOTTOM} y2={HEIGHT - BOTTOM + 4.0}/>
                <text class="label" x=x y={HEIGHT - 8.0} text-anchor="middle">{label}</text>
            }
        })
        .collect_view();

    view! {
        <figure class="chart">
            <svg
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                role="img"
                aria-label=description.clone()
                xmlns="http://www.w3.org/2000/svg"
            >
                <title>{description.clone()}</title>
                {value_ticks}
                <line class="axis" x1=LEFT x2={WIDTH - RIGHT} y1={HEIGHT - BOTTOM} y2={HEIGHT - BOTTOM}/>
                {time_ticks}
                <path class="band" d=band/>
                <path class="avg" d=line/>
            </svg>
            <figcaption>
                {format!(
                    "Minimum {}, maximum {}, average {} over {} values (UTC). The band spans \
                     each interval's minimum to maximum; the line is its average.",
                    format_value(summary.min),
                    format_value(summary.max),
                    format_value(summary.avg),
                    summary.count,
                )}
            </figcaption>
        </figure>
    }
    .into_any()
}

/// The scales from time and value to chart coordinates.
struct Plot {
    from_ms: i64,
    to_ms: i64,
    low: f64,
    high: f64,
    value_ticks: Vec<(f64, String)>,
}

impl Plot {
    fn new(history: &History, summary: &Summary) -> Self {
        let (mut low, mut high) = (summary.min, summary.max);
        if high - low < f64::EPSILON * high.abs().max(1.0) {
            // A flat line sits in the middle of a band one unit (or a tenth of it) wide.
            let half = (high.abs() * 0.1).max(0.5);
            low -= half;
            high += half;
        }
        let step = nice_step((high - low) / 4.0);
        let low = (low / step).floor() * step;
        let high = (high / step).ceil() * step;
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let count = ((high - low) / step).round() as i64;
        let value_ticks = (0..=count)
            .map(|index| {
                let value = low + index as f64 * step;
                (value, format!("{value:.decimals$}"))
            })
            .collect();
        Self {
            from_ms: history.from_ms,
            to_ms: history.to_ms,
            low,
            high,
            value_ticks,
        }
    }

    fn x(&self, at_ms: i64) -> f64 {
        let at = at_ms.clamp(self.from_ms, self.to_ms);
        let share = (at - self.from_ms) as f64 / (self.to_ms - self.from_ms).max(1) as f64;
        LEFT + share * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, value: f64) -> f64 {
        let share = (value - self.low) / (self.high - self.low);
        HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM)
    }

    /// The band's and the average line's path data. Buckets further apart than a few times
    /// their usual spacing are not joined: that gap is a silence worth seeing. A lone bucket is a
    /// zero-length segment, which the round line caps draw as a dot.
    fn paths(&self, history: &History) -> (String, String) {
        let buckets = &history.buckets;
        let mut gaps: Vec<i64> = buckets
            .windows(2)
            .map(|pair| pair[1].start_ms - pair[0].start_ms)
            .collect();
        gaps.sort_unstable();
        let usual = gaps.get(gaps.len() / 2).copied().unwrap_or(0);
        let joined = usual.max(history.bucket_ms) * 3;

        let (mut band, mut line) = (String::new(), String::new());
        let mut run: Vec<&ValueBucket> = Vec::new();
        let mut flush = |run: &mut Vec<&ValueBucket>| {
            if run.is_empty() {
                return;
            }
            let x = |bucket: &ValueBucket| self.x(bucket.start_ms + history.bucket_ms / 2);
            for (index, bucket) in run.iter().enumerate() {
                let verb = if index == 0 { 'M' } else { 'L' };
                let _ = write!(band, "{verb}{:.1},{:.1} ", x(bucket), self.y(bucket.max));
                let _ = write!(line, "{verb}{:.1},{:.1} ", x(bucket), self.y(bucket.avg));
            }
            for bucket in run.iter().rev() {
                let _ = write!(band, "L{:.1},{:.1} ", x(bucket), self.y(bucket.min));
            }
            if let [only] = run.as_slice() {
                let _ = write!(line, "L{:.1},{:.1} ", x(only), self.y(only.avg));
            }
            band.push_str("Z ");
            run.clear();
        };
        for bucket in buckets {
            if let Some(last) = run.last() {
                if bucket.start_ms - last.start_ms > joined {
                    flush(&mut run);
                }
            }
            run.push(bucket);
        }
        flush(&mut run);
        (band.trim_end().to_owned(), line.trim_end().to_owned())
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let power = 10_f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = match fraction {
        f if f <= 1.0 => 1.0,
        f if f <= 2.0 => 2.0,
        f if f <= 5.0 => 5.0,
        _ => 10.0,
    };
    nice * power
}

/// Labelled times along the range: whole minutes, hours or days (UTC), at most six.
fn time_ticks(from_ms: i64, to_ms: i64) -> Vec<(i64, String)> {
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    let steps = [
        MINUTE,
        2 * MINUTE,
        5 * MINUTE,
        10 * MINUTE,
        15 * MINUTE,
        30 * MINUTE,
        HOUR,
        2 * HOUR,
        3 * HOUR,
        6 * HOUR,
        12 * HOUR,
        DAY,
        2 * DAY,
        7 * DAY,
    ];
    let span = (to_ms - from_ms).max(1);
    let step = steps
        .into_iter()
        .find(|step| span / step <= 6)
        .unwrap_or(7 * DAY);
    let first = from_ms.div_euclid(step) * step + if from_ms % step == 0 { 0 } else { step };
    (0..)
        .map(|index| first + index * step)
        .take_while(|at| *at <= to_ms)
        .map(|at| {
            let t = UtcTime::from_ms(at);
            let label = if step >= DAY {
                format!("{:02}-{:02}", t.month, t.day)
            } else if span > DAY {
                format!("{:02}-{:02} {:02}:{:02}", t.month, t.day, t.hour, t.minute)
            } else {
                format!("{:02}:{:02}", t.hour, t.minute)
            };
            (at, label)
        })
        .collect()
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
    fn steps_are_round_numbers() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(1.0), 1.0);
        assert_eq!(nice_step(17.0), 20.0);
        assert_eq!(nice_step(6000.0), 10000.0);
    }

    #[test]
    fn time_labels_fit_the_range() {
        let hour = 3_600_000;
        let day = 24 * hour;
        let ticks = time_ticks(10 * day + 90_000, 10 * day + 90_000 + hour);
        assert!(ticks.len() <= 6 && ticks.len() >= 3, "{ticks:?}");
        assert_eq!(ticks[0].1, "00:10");
        let week = time_ticks(10 * day + 1, 17 * day + 1);
        assert_eq!(week[0].1, "01-13");
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
        };
        let summary = Summary::of(&history.buckets).unwrap();
        let (band, line) = Plot::new(&history, &summary).paths(&history);
        assert_eq!(band.matches('M').count(), 2, "{band}");
        assert_eq!(band.matches('Z').count(), 2, "{band}");
        assert_eq!(line.matches('M').count(), 2, "{line}");
        let dot: Vec<&str> = line.split('M').nth(2).unwrap().split(" L").collect();
        assert_eq!(dot.len(), 2, "{line}");
        assert_eq!(dot[0].trim(), dot[1].trim(), "{line}");
    }

    #[test]
    fn a_flat_series_still_has_a_band_to_sit_in() {
        let history = History {
            range: HistoryRange::Hour1,
            from_ms: 0,
            to_ms: 1000,
            bucket_ms: 1000,
            buckets: vec![bucket(0, 7.0, 7.0, 7.0, 1)],
        };
        let plot = Plot::new(&history, &Summary::of(&history.buckets).unwrap());
        assert!(plot.low < 7.0 && plot.high > 7.0);
        let y = plot.y(7.0);
        assert!(y > TOP && y < HEIGHT - BOTTOM);
    }
}
