//! A small trend line without axes, for a figure's card: where a value has been over a span.
//! Drawn as inline SVG on the server like the rest of the page. A run of readings is a line, a
//! reading alone is a dot, and a gap (readings several `step_ms` apart, as the charts of
//! `crate::domain::chart` decide it) stays a gap: a sparkline must never draw what did not
//! happen. When the readings cover only the end of the
//! span (Lookout started a few minutes ago), the line starts with them rather than squeezed
//! against the right edge.

use crate::domain::chart::{self, GAP_FACTOR};
use leptos::prelude::*;
use std::fmt::Write;

const WIDTH: f64 = 120.0;
const HEIGHT: f64 = 28.0;
/// Room at the top and bottom, so a line along an edge or a dot is not cut in half.
const PAD: f64 = 3.0;

/// `points` (time in Unix milliseconds, value), oldest first, over `from_ms..to_ms`; the value
/// axis starts at zero (the figures it draws are counts and durations). `label` says in words
/// what the line shows, for those who do not see it.
#[component]
pub fn Sparkline(
    points: Vec<(i64, f64)>,
    from_ms: i64,
    to_ms: i64,
    step_ms: i64,
    label: String,
) -> impl IntoView {
    let (lines, dots) = shapes(&points, from_ms, to_ms, step_ms);
    view! {
        <svg
            class="sparkline"
            viewBox=format!("0 0 {WIDTH} {HEIGHT}")
            preserveAspectRatio="none"
            role="img"
            aria-label=label
        >
            {lines.into_iter().map(|line| view! { <polyline points=line/> }).collect_view()}
            // A dot is a line of no length with round ends: a circle would be stretched with the
            // box, the line's ends are not (`vector-effect` in style/main.css).
            {dots
                .into_iter()
                .map(|(x, y)| view! { <polyline class="point" points=format!("{x},{y} {x},{y}")/> })
                .collect_view()}
        </svg>
    }
}

/// The polylines (as SVG `points`) of each run of readings ([`chart::runs`]: joined unless
/// further apart than a few `step_ms`), and the dots of readings alone.
fn shapes(
    points: &[(i64, f64)],
    from_ms: i64,
    to_ms: i64,
    step_ms: i64,
) -> (Vec<String>, Vec<(String, String)>) {
    let shown: Vec<(i64, f64)> = points
        .iter()
        .copied()
        .filter(|(at, value)| (from_ms..=to_ms).contains(at) && value.is_finite())
        .collect();
    // Fitted to what exists, but never narrower than a few steps: a lone reading sits at the
    // right, in context.
    let from_ms = match shown.first() {
        Some((first, _)) => chart::fitted_start(from_ms, to_ms, *first, GAP_FACTOR * step_ms),
        None => from_ms,
    };
    let top = shown.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let bottom = shown.iter().map(|(_, v)| *v).fold(0.0_f64, f64::min);
    let span_ms = (to_ms - from_ms).max(1) as f64;
    let x = |at: i64| (at - from_ms) as f64 / span_ms * WIDTH;
    let y = |value: f64| {
        if top > bottom {
            PAD + (top - value) / (top - bottom) * (HEIGHT - 2.0 * PAD)
        } else {
            // All zero (or one value): a flat line along the bottom.
            HEIGHT - PAD
        }
    };
    let times: Vec<i64> = shown.iter().map(|(at, _)| *at).collect();
    let mut lines = Vec::new();
    let mut dots = Vec::new();
    for run in chart::runs(&times, step_ms) {
        let run = &shown[run];
        if let [(at, value)] = run {
            dots.push((format!("{:.1}", x(*at)), format!("{:.1}", y(*value))));
            continue;
        }
        let mut line = String::new();
        for (at, value) in run {
            let _ = write!(line, "{:.1},{:.1} ", x(*at), y(*value));
        }
        lines.push(line.trim_end().to_owned());
    }
    (lines, dots)
}

#[cfg(test)]
mod tests {
    use super::shapes;

    #[test]
    fn runs_are_lines_a_lone_reading_is_a_dot_and_gaps_stay_gaps() {
        let minute = 60_000;
        let points = [
            (0, 1.0),
            (minute, 2.0),
            (2 * minute, 4.0),
            // Five minutes without readings.
            (7 * minute, 3.0),
            (12 * minute, 0.0),
            (13 * minute, 0.0),
        ];
        let (lines, dots) = shapes(&points, 0, 15 * minute, minute);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].split(' ').count(), 3);
        assert_eq!(dots.len(), 1, "the reading between the gaps is a dot");
        // The largest value touches the top, zero the bottom.
        assert!(lines[0].ends_with(",3.0"), "{}", lines[0]);
        assert!(lines[1].ends_with(",25.0"), "{}", lines[1]);
    }

    #[test]
    fn nothing_in_the_span_draws_nothing_and_all_zero_lies_at_the_bottom() {
        assert_eq!(shapes(&[(5, 1.0)], 10, 20, 1), (vec![], vec![]));
        let (lines, _) = shapes(&[(10, 0.0), (15, 0.0)], 10, 20, 1);
        assert_eq!(lines, ["0.0,25.0 60.0,25.0"]);
    }

    #[test]
    fn readings_of_the_last_minutes_only_fill_the_width() {
        let minute = 60_000;
        let hour = 60 * minute;
        let points: Vec<(i64, f64)> = (0..=5)
            .map(|m| (hour - m * minute, m as f64))
            .rev()
            .collect();
        let (lines, _) = shapes(&points, 0, hour, minute);
        assert!(lines[0].starts_with("0.0,"), "{}", lines[0]);
        assert!(lines[0].contains(" 120.0,"), "{}", lines[0]);
        // One reading just now: a dot at the right, not at the left edge.
        let (_, dots) = shapes(&[(hour - 10_000, 1.0)], 0, hour, minute);
        assert!(dots[0].0.parse::<f64>().unwrap() > 100.0, "{dots:?}");
    }
}
