//! The geometry of a time chart, shared by the topic page's history chart
//! (`components/chart.rs`) and status pages' sparklines and charts (`server/snapshot/render.rs`):
//! which stretch of time and of values is shown, where the ticks go and how they read, where the
//! data breaks into runs, and the path data of what is drawn. The drawers only make markup of it.
//!
//! Coordinates are percentages of the drawing's width (x) and height (y), not pixels: the
//! drawing takes its container's width and its height from the stylesheet, so a chart fits a
//! 320 px phone as well as a wide screen, while labels, dots and strokes keep their size in
//! pixels (the drawers put text and dots in an unscaled `<svg>` at percentage positions, and the
//! lines in a nested one stretched over it with `preserveAspectRatio="none"` and strokes that do
//! not scale).

use crate::domain::wording::{format_value, xml_escape, UtcTime};
use std::fmt::Write;
use std::ops::Range;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// At most this many labelled times: six labels of five characters fit a phone's width.
pub const MAX_TIME_TICKS: usize = 6;
/// Samples further apart than this many times their usual spacing are a silence, drawn as a gap.
pub const GAP_FACTOR: i64 = 3;

/// What is known of one moment: the lowest, highest and typical value (one value has all three
/// the same). The topic chart's buckets and a status page's samples both come down to this.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub at_ms: i64,
    pub low: f64,
    pub high: f64,
    pub mid: f64,
}

impl Sample {
    pub fn point(at_ms: i64, value: f64) -> Self {
        Self {
            at_ms,
            low: value,
            high: value,
            mid: value,
        }
    }
}

/// The room a drawing leaves around its plot, in percent of its height.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    /// Above the plot: the top value label, or a lone value's label.
    pub top: f64,
    /// Below the plot: the time labels.
    pub bottom: f64,
    /// On each side, so a dot at either end is not cut in half.
    pub side: f64,
    /// Whether values and times are labelled (a sparkline is not).
    pub axes: bool,
}

impl Frame {
    pub const CHART: Frame = Frame {
        top: 10.0,
        bottom: 14.0,
        side: 1.0,
        axes: true,
    };
    pub const SPARKLINE: Frame = Frame {
        top: 12.0,
        bottom: 12.0,
        side: 2.0,
        axes: false,
    };
}

/// Where a label sits against its point, so none runs off either edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    pub fn svg(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }

    fn at(x: f64) -> Self {
        if x < 8.0 {
            Anchor::Start
        } else if x > 92.0 {
            Anchor::End
        } else {
            Anchor::Middle
        }
    }
}

/// A labelled position on an axis: `at` in percent (of the width for times, of the height for
/// values).
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    pub at: f64,
    pub label: String,
    pub anchor: Anchor,
}

/// A run of one sample, drawn as a dot since a line needs two.
#[derive(Clone, Debug, PartialEq)]
pub struct Dot {
    pub x: f64,
    pub y: f64,
    /// The value, written beside the dot when it is all the chart has.
    pub label: Option<String>,
    pub anchor: Anchor,
}

/// A chart laid out: its extent, ticks, and what is drawn, in percent.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub from_ms: i64,
    pub to_ms: i64,
    pub low: f64,
    pub high: f64,
    pub value_ticks: Vec<Tick>,
    pub time_ticks: Vec<Tick>,
    /// The band from each sample's low to its high, one closed shape per run; empty when every
    /// sample is a single value.
    pub band: String,
    /// The line through the samples' typical values, one subpath per run of two or more.
    pub line: String,
    pub dots: Vec<Dot>,
    pub frame: Frame,
}

/// The axes a chart's series share: where times and values go, and their labelled ticks.
struct Axes {
    scale: Scale,
    value_ticks: Vec<Tick>,
    time_ticks: Vec<Tick>,
}

impl Axes {
    /// Values from `min` to `max` (rounded out to the value axis) over `from_ms..to_ms`; `unit`
    /// follows the top value label.
    fn fit(min: f64, max: f64, from_ms: i64, to_ms: i64, frame: Frame, unit: &str) -> Self {
        let axis = ValueAxis::fit(min, max);
        let scale = Scale {
            from_ms,
            to_ms: to_ms.max(from_ms + 1),
            low: axis.low,
            high: axis.high,
            frame,
        };
        let value_ticks = if frame.axes {
            let top = axis.ticks.len().saturating_sub(1);
            axis.ticks
                .iter()
                .enumerate()
                .map(|(index, (value, label))| Tick {
                    at: scale.y(*value),
                    label: if index == top {
                        with_unit(label.clone(), unit)
                    } else {
                        label.clone()
                    },
                    anchor: Anchor::Start,
                })
                .collect()
        } else {
            Vec::new()
        };
        let time_ticks = if frame.axes {
            time_ticks(scale.from_ms, scale.to_ms)
                .into_iter()
                .map(|(at_ms, label)| {
                    let at = scale.x(at_ms);
                    Tick {
                        at,
                        label,
                        anchor: Anchor::at(at),
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Self {
            scale,
            value_ticks,
            time_ticks,
        }
    }
}

fn with_unit(label: String, unit: &str) -> String {
    if unit.is_empty() {
        label
    } else {
        format!("{label} {unit}")
    }
}

/// The lowest low and highest high of `samples`.
fn extent<'a>(samples: impl Iterator<Item = &'a Sample>) -> (f64, f64) {
    samples.fold((f64::INFINITY, f64::NEG_INFINITY), |(min, max), s| {
        (min.min(s.low), max.max(s.high))
    })
}

/// What one series draws on `scale`: its band (when `banded`), its line through each run of two
/// or more, and a dot for each run of one; `label` words a dot's value when it is to be written.
fn draw_runs(
    samples: &[Sample],
    step_ms: i64,
    scale: &Scale,
    banded: bool,
    label: impl Fn(f64) -> Option<String>,
) -> (String, String, Vec<Dot>) {
    let times: Vec<i64> = samples.iter().map(|s| s.at_ms).collect();
    let (mut band, mut line, mut dots) = (String::new(), String::new(), Vec::new());
    for run in runs(&times, step_ms) {
        let run = &samples[run];
        if banded {
            band_path(&mut band, scale, run);
        }
        if let [only] = run {
            let x = scale.x(only.at_ms);
            dots.push(Dot {
                x,
                y: scale.y(only.mid),
                label: label(only.mid),
                anchor: Anchor::at(x),
            });
        } else {
            line_path(&mut line, scale, run);
        }
    }
    (band.trim_end().to_owned(), line.trim_end().to_owned(), dots)
}

/// The opening of a chart's markup: the outer drawing with its title, the grid and labels of
/// both axes, and the base line. `data` is written into the outer `<svg>` element.
fn svg_axes(
    frame: Frame,
    value_ticks: &[Tick],
    time_ticks: &[Tick],
    height: u32,
    description: &str,
    data: &str,
) -> String {
    let description = xml_escape(description);
    let mut svg = format!(
        "<svg class=\"time-chart\" width=\"100%\" height=\"{height}\" role=\"img\" \
         aria-label=\"{description}\" xmlns=\"http://www.w3.org/2000/svg\"{data}>\
         <title>{description}</title>"
    );
    let bottom = 100.0 - frame.bottom;
    for tick in value_ticks {
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"0\" x2=\"100%\" y1=\"{y:.2}%\" y2=\"{y:.2}%\"/>\
             <text class=\"label\" x=\"0\" y=\"{y:.2}%\" dy=\"-4\">{label}</text>",
            y = tick.at,
            label = xml_escape(&tick.label),
        );
    }
    // In a group of their own, so a page's script can redraw them for a narrower window.
    svg.push_str("<g class=\"time-ticks\">");
    for tick in time_ticks {
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{x:.2}%\" x2=\"{x:.2}%\" y1=\"{top:.2}%\" y2=\"{bottom:.2}%\"/>\
             <text class=\"label\" x=\"{x:.2}%\" y=\"100%\" dy=\"-6\" text-anchor=\"{anchor}\">{label}</text>",
            x = tick.at,
            top = frame.top,
            anchor = tick.anchor.svg(),
            label = xml_escape(&tick.label),
        );
    }
    svg.push_str("</g>");
    if frame.axes {
        let _ = write!(
            svg,
            "<line class=\"axis\" x1=\"0\" x2=\"100%\" y1=\"{bottom:.2}%\" y2=\"{bottom:.2}%\"/>"
        );
    }
    svg.push_str(PLOT_AREA);
    svg
}

/// The nested drawing the lines are in, stretched over the outer one.
const PLOT_AREA: &str = "<svg class=\"plot-area\" width=\"100%\" height=\"100%\" \
                         viewBox=\"0 0 100 100\" preserveAspectRatio=\"none\">";

impl Layout {
    /// `samples` oldest first, spaced at least `step_ms` apart, drawn over `from_ms..to_ms`;
    /// `unit` follows the top value label and a lone value's. `None` without samples.
    pub fn new(
        samples: &[Sample],
        step_ms: i64,
        from_ms: i64,
        to_ms: i64,
        frame: Frame,
        unit: &str,
    ) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let (min, max) = extent(samples.iter());
        let axes = Axes::fit(min, max, from_ms, to_ms, frame, unit);
        let banded = samples.iter().any(|s| s.high > s.low);
        let alone = samples.len() == 1;
        let (band, line, dots) = draw_runs(samples, step_ms, &axes.scale, banded, |value| {
            (alone && frame.axes).then(|| with_unit(format_value(value), unit))
        });
        Some(Self {
            from_ms: axes.scale.from_ms,
            to_ms: axes.scale.to_ms,
            low: axes.scale.low,
            high: axes.scale.high,
            value_ticks: axes.value_ticks,
            time_ticks: axes.time_ticks,
            band,
            line,
            dots,
            frame,
        })
    }

    /// The drawing as SVG markup, `height` CSS pixels tall and as wide as its container, read
    /// as `description`: labels and dots at percentages of an unscaled drawing, so they keep
    /// their pixel size at any width; the band and line in a nested drawing stretched over it.
    /// Markup rather than elements, so a page that hydrates takes it over as it is instead of
    /// walking every tick and dot (the topic page's chart), and a status page's script can swap
    /// a fresh one in whole.
    pub fn svg(&self, height: u32, description: &str) -> String {
        let frame = self.frame;
        let mut svg = svg_axes(
            frame,
            &self.value_ticks,
            &self.time_ticks,
            height,
            description,
            "",
        );
        for (class, path) in [("band", &self.band), ("line", &self.line)] {
            if !path.is_empty() {
                let _ = write!(
                    svg,
                    "<path class=\"{class}\" d=\"{path}\" vector-effect=\"non-scaling-stroke\"/>"
                );
            }
        }
        svg.push_str("</svg>");
        for dot in &self.dots {
            let _ = write!(
                svg,
                "<circle class=\"point\" cx=\"{x:.2}%\" cy=\"{y:.2}%\" r=\"{r}\"/>",
                x = dot.x,
                y = dot.y,
                r = if frame.axes { 4 } else { 3 },
            );
            if let Some(label) = &dot.label {
                let _ = write!(
                    svg,
                    "<text class=\"label value\" x=\"{x:.2}%\" y=\"{y:.2}%\" dy=\"-10\" \
                     text-anchor=\"{anchor}\">{label}</text>",
                    x = dot.x,
                    y = dot.y,
                    anchor = dot.anchor.svg(),
                    label = xml_escape(label),
                );
            }
        }
        svg.push_str("</svg>");
        svg
    }
}

/// One series of a chart that shares its axes with others: its line through each run of two
/// samples or more, and a dot for each lone sample (unlabelled: the legend gives the values).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    pub line: String,
    pub dots: Vec<Dot>,
}

/// Several series on one time axis and one value axis (a board's multi-series chart): the value
/// axis covers every series' samples and the time axis starts at the earliest of them, so
/// neither favours one series; each series keeps its own runs and gaps.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiLayout {
    pub from_ms: i64,
    pub to_ms: i64,
    pub low: f64,
    pub high: f64,
    pub value_ticks: Vec<Tick>,
    pub time_ticks: Vec<Tick>,
    /// One per series, in the series' order; a series without samples draws nothing.
    pub traces: Vec<Trace>,
    pub frame: Frame,
}

impl MultiLayout {
    /// Each of `series` oldest first, spaced at least `step_ms` apart, drawn over `from_ms..to_ms`;
    /// `unit` follows the top value label. `None` when no series has a sample.
    pub fn new(
        series: &[Vec<Sample>],
        step_ms: i64,
        from_ms: i64,
        to_ms: i64,
        frame: Frame,
        unit: &str,
    ) -> Option<Self> {
        let every = series.iter().flatten();
        // Nothing to draw: no series has a sample.
        every.clone().next()?;
        let (min, max) = extent(every);
        let axes = Axes::fit(min, max, from_ms, to_ms, frame, unit);
        let traces = series
            .iter()
            .map(|samples| {
                let (_, line, dots) = draw_runs(samples, step_ms, &axes.scale, false, |_| None);
                Trace { line, dots }
            })
            .collect();
        Some(Self {
            from_ms: axes.scale.from_ms,
            to_ms: axes.scale.to_ms,
            low: axes.scale.low,
            high: axes.scale.high,
            value_ticks: axes.value_ticks,
            time_ticks: axes.time_ticks,
            traces,
            frame,
        })
    }

    /// The drawing as SVG markup, as [`Layout::svg`] draws one series: each series' line and
    /// dots carry `series-<index>` for its colour and dash pattern. The outer drawing names the
    /// time it spans and its side margin (`data-from-ms`, `data-to-ms`, `data-side`), so a page's
    /// script can narrow the nested drawing's `viewBox` to a window of it and label that.
    pub fn svg(&self, height: u32, description: &str) -> String {
        let frame = self.frame;
        let data = format!(
            " data-from-ms=\"{}\" data-to-ms=\"{}\" data-side=\"{}\"",
            self.from_ms, self.to_ms, frame.side
        );
        let mut svg = svg_axes(
            frame,
            &self.value_ticks,
            &self.time_ticks,
            height,
            description,
            &data,
        );
        for (index, trace) in self.traces.iter().enumerate() {
            if !trace.line.is_empty() {
                let _ = write!(
                    svg,
                    "<path class=\"line series-{index}\" d=\"{}\" \
                     vector-effect=\"non-scaling-stroke\"/>",
                    trace.line
                );
            }
        }
        svg.push_str("</svg>");
        for (index, trace) in self.traces.iter().enumerate() {
            for dot in &trace.dots {
                let _ = write!(
                    svg,
                    "<circle class=\"point series-{index}\" cx=\"{x:.2}%\" cy=\"{y:.2}%\" r=\"4\"/>",
                    x = dot.x,
                    y = dot.y,
                );
            }
        }
        svg.push_str("</svg>");
        svg
    }
}

fn line_path(path: &mut String, scale: &Scale, run: &[Sample]) {
    trace(path, scale, run.iter(), |sample| sample.mid, 'M');
}

/// Along the highs and back along the lows. A run of one is a vertical stroke: the spread of
/// that moment's values.
fn band_path(path: &mut String, scale: &Scale, run: &[Sample]) {
    trace(path, scale, run.iter(), |sample| sample.high, 'M');
    trace(path, scale, run.iter().rev(), |sample| sample.low, 'L');
    path.push_str("Z ");
}

/// Path commands through `samples` at `value`: the first with `first` (`M` to start a shape,
/// `L` to go on with one), the rest lines.
fn trace<'a>(
    path: &mut String,
    scale: &Scale,
    samples: impl Iterator<Item = &'a Sample>,
    value: impl Fn(&Sample) -> f64,
    first: char,
) {
    for (index, sample) in samples.enumerate() {
        let verb = if index == 0 { first } else { 'L' };
        let _ = write!(
            path,
            "{verb}{:.2},{:.2} ",
            scale.x(sample.at_ms),
            scale.y(value(sample))
        );
    }
}

/// From time and value to percent of the drawing's width and height.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    pub from_ms: i64,
    pub to_ms: i64,
    pub low: f64,
    pub high: f64,
    pub frame: Frame,
}

impl Scale {
    pub fn x(&self, at_ms: i64) -> f64 {
        let at = at_ms.clamp(self.from_ms, self.to_ms);
        let share = (at - self.from_ms) as f64 / (self.to_ms - self.from_ms).max(1) as f64;
        self.frame.side + share * (100.0 - 2.0 * self.frame.side)
    }

    pub fn y(&self, value: f64) -> f64 {
        let share = (value - self.low) / (self.high - self.low);
        let plot = 100.0 - self.frame.top - self.frame.bottom;
        100.0 - self.frame.bottom - share * plot
    }
}

/// The values shown: from a round number below the lowest to one above the highest, in round
/// steps.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueAxis {
    pub low: f64,
    pub high: f64,
    pub ticks: Vec<(f64, String)>,
}

impl ValueAxis {
    pub fn fit(min: f64, max: f64) -> Self {
        let (mut low, mut high) = (min, max);
        if high - low < f64::EPSILON * high.abs().max(1.0) {
            // A flat line (or a lone value) sits in the middle of a band one unit, or a tenth of
            // the value, wide.
            let half = (high.abs() * 0.1).max(0.5);
            low -= half;
            high += half;
        }
        let step = nice_step((high - low) / 4.0);
        let low = (low / step).floor() * step;
        let high = (high / step).ceil() * step;
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let count = ((high - low) / step).round() as i64;
        let ticks = (0..=count)
            .map(|index| {
                let value = low + index as f64 * step;
                // No "-0" label.
                let value = if value.abs() < step / 2.0 { 0.0 } else { value };
                (value, format!("{value:.decimals$}"))
            })
            .collect();
        Self { low, high, ticks }
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
pub fn nice_step(raw: f64) -> f64 {
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

/// Labelled times along `from_ms..=to_ms` (UTC): whole minutes, hours or days, at most
/// [`MAX_TIME_TICKS`]. Each label has at most five characters, "HH:MM", or "MM-DD" at midnight
/// so a day's change is seen, which keeps them apart on a phone.
pub fn time_ticks(from_ms: i64, to_ms: i64) -> Vec<(i64, String)> {
    let steps = [
        MINUTE_MS,
        2 * MINUTE_MS,
        5 * MINUTE_MS,
        10 * MINUTE_MS,
        15 * MINUTE_MS,
        30 * MINUTE_MS,
        HOUR_MS,
        2 * HOUR_MS,
        3 * HOUR_MS,
        6 * HOUR_MS,
        12 * HOUR_MS,
        DAY_MS,
        2 * DAY_MS,
        7 * DAY_MS,
        14 * DAY_MS,
    ];
    let span = (to_ms - from_ms).max(1);
    let step = steps
        .into_iter()
        .find(|step| span / step < MAX_TIME_TICKS as i64)
        .unwrap_or(30 * DAY_MS);
    let first = from_ms.div_euclid(step) * step + if from_ms % step == 0 { 0 } else { step };
    (0..)
        .map(|index| first + index * step)
        .take_while(|at| *at <= to_ms)
        .take(MAX_TIME_TICKS)
        .map(|at| {
            let t = UtcTime::from_ms(at);
            let label = if at.rem_euclid(DAY_MS) == 0 {
                format!("{:02}-{:02}", t.month, t.day)
            } else {
                format!("{:02}:{:02}", t.hour, t.minute)
            };
            (at, label)
        })
        .collect()
}

/// The runs of `times` (oldest first) that are drawn joined: a new run starts where two
/// neighbours are more than [`GAP_FACTOR`] times the usual spacing apart (the median, and at
/// least `step_ms`, the finest spacing the data can have). The median, not the mean, so a long
/// silence does not make itself look usual.
pub fn runs(times: &[i64], step_ms: i64) -> Vec<Range<usize>> {
    let mut spacings: Vec<i64> = times.windows(2).map(|pair| pair[1] - pair[0]).collect();
    spacings.sort_unstable();
    let usual = spacings
        .get(spacings.len() / 2)
        .copied()
        .unwrap_or(0)
        .max(step_ms)
        .max(1);
    let joined = usual * GAP_FACTOR;
    let mut runs = Vec::new();
    let mut start = 0;
    for index in 1..times.len() {
        if times[index] - times[index - 1] > joined {
            runs.push(start..index);
            start = index;
        }
    }
    if !times.is_empty() {
        runs.push(start..times.len());
    }
    runs
}

/// Where a chart of samples starting at `first_ms` begins, when it may show anything from
/// `from_ms` to `to_ms`: at the first sample, so a few minutes of data fill the chart instead
/// of being a sliver at its right edge, but never less than `min_span_ms` before `to_ms`, so
/// one sample is a dot in context rather than the whole width. The end stays `to_ms` (now):
/// a silence since the last sample stays visible.
pub fn fitted_start(from_ms: i64, to_ms: i64, first_ms: i64, min_span_ms: i64) -> i64 {
    first_ms.min(to_ms - min_span_ms).max(from_ms)
}

/// The stretch of time a chart shows, for its caption: "from 2026-12-07 10:02 to 10:12 UTC",
/// the end's date only when it differs.
pub fn span_words(from_ms: i64, to_ms: i64) -> String {
    let (from, to) = (UtcTime::from_ms(from_ms), UtcTime::from_ms(to_ms));
    let date = |t: &UtcTime| format!("{:04}-{:02}-{:02}", t.year, t.month, t.day);
    let clock = |t: &UtcTime| format!("{:02}:{:02}", t.hour, t.minute);
    let end = if date(&from) == date(&to) {
        clock(&to)
    } else {
        format!("{} {}", date(&to), clock(&to))
    };
    format!("from {} {} to {end} UTC", date(&from), clock(&from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round_numbers() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(1.0), 1.0);
        assert_eq!(nice_step(17.0), 20.0);
        assert_eq!(nice_step(6000.0), 10000.0);
    }

    #[test]
    fn one_value_is_a_labelled_dot_in_the_middle_of_its_axis() {
        let layout = Layout::new(
            &[Sample::point(5 * MINUTE_MS, 7.25)],
            MINUTE_MS,
            0,
            15 * MINUTE_MS,
            Frame::CHART,
            "°C",
        )
        .unwrap();
        assert_eq!(layout.line, "", "a line needs two points");
        assert_eq!(layout.band, "", "one value has no spread");
        let [dot] = layout.dots.as_slice() else {
            panic!("{:?}", layout.dots)
        };
        assert!((dot.x - (1.0 + 98.0 / 3.0)).abs() < 0.01, "{dot:?}");
        let middle = Frame::CHART.top + (100.0 - Frame::CHART.top - Frame::CHART.bottom) / 2.0;
        assert!((dot.y - middle).abs() < 10.0, "{dot:?}");
        assert_eq!(dot.label.as_deref(), Some("7.25 °C"));
        assert!(layout.low < 7.25 && layout.high > 7.25);

        let spark = Layout::new(
            &[Sample::point(0, 1.0)],
            MINUTE_MS,
            0,
            1,
            Frame::SPARKLINE,
            "",
        )
        .unwrap();
        assert_eq!(spark.dots.len(), 1);
        assert_eq!(spark.dots[0].label, None, "a sparkline has no text");
        assert!(spark.time_ticks.is_empty() && spark.value_ticks.is_empty());
    }

    #[test]
    fn a_short_span_is_fitted_and_a_lone_sample_keeps_some_context() {
        let now = 10 * DAY_MS;
        // Ten minutes of data in a week's range: the chart starts at the first sample.
        let start = fitted_start(now - 7 * DAY_MS, now, now - 10 * MINUTE_MS, 5 * MINUTE_MS);
        assert_eq!(start, now - 10 * MINUTE_MS);
        let samples: Vec<Sample> = (0..=10)
            .map(|i| Sample::point(now - (10 - i) * MINUTE_MS, i as f64))
            .collect();
        let layout = Layout::new(&samples, MINUTE_MS, start, now, Frame::CHART, "").unwrap();
        let xs: Vec<f64> = layout
            .line
            .split(['M', 'L'])
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.trim().split(',').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(xs.len(), 11, "{}", layout.line);
        assert!(
            xs[0] <= 1.0 && xs[10] >= 99.0,
            "the data spans the width: {xs:?}"
        );
        // One sample a moment ago: not the whole width, and never before the range.
        assert_eq!(
            fitted_start(now - DAY_MS, now, now - 1000, HOUR_MS),
            now - HOUR_MS
        );
        assert_eq!(
            fitted_start(now - 60_000, now, now - 1000, HOUR_MS),
            now - 60_000
        );
    }

    #[test]
    fn gaps_split_the_line_and_a_lone_sample_between_them_is_a_dot() {
        let minute = |m: i64| m * MINUTE_MS;
        // Every minute, one lone value after a silence, then every minute again.
        let times = [0, 1, 2, 3, 30, 60, 61, 62].map(minute);
        assert_eq!(runs(&times, 1000), vec![0..4, 4..5, 5..8]);
        // Uneven spacing within a few times the usual is not a gap.
        assert_eq!(runs(&[0, 1, 3, 4, 6].map(minute), 1000), vec![0..5]);
        // Sparse data never spaced closer than its step: the step is the measure.
        assert_eq!(runs(&[0, 10, 20].map(minute), minute(10)), vec![0..3]);
        assert!(runs(&[], 1000).is_empty());

        let samples: Vec<Sample> = times
            .iter()
            .map(|at| Sample {
                at_ms: *at,
                low: 1.0,
                high: 2.0,
                mid: 1.5,
            })
            .collect();
        let layout = Layout::new(&samples, 1000, 0, minute(62), Frame::CHART, "").unwrap();
        assert_eq!(layout.line.matches('M').count(), 2, "{}", layout.line);
        assert_eq!(layout.band.matches('M').count(), 3, "{}", layout.band);
        assert_eq!(layout.band.matches('Z').count(), 3, "{}", layout.band);
        assert_eq!(layout.dots.len(), 1);
        assert_eq!(
            layout.dots[0].label, None,
            "only a chart's only value is written out"
        );
    }

    #[test]
    fn time_labels_are_short_few_and_apart_on_a_phone() {
        // A 320 px phone leaves about 272 px for a chart; a 12 px label character is at most
        // about 8 px wide.
        const PHONE_PX: f64 = 272.0;
        const CHAR_PX: f64 = 8.0;
        let start = 10 * DAY_MS + 90_000;
        for span in [
            15 * MINUTE_MS,
            HOUR_MS,
            6 * HOUR_MS,
            DAY_MS,
            7 * DAY_MS,
            30 * DAY_MS,
            17 * MINUTE_MS,
            3 * DAY_MS + 7,
        ] {
            let ticks = time_ticks(start, start + span);
            assert!(
                (2..=MAX_TIME_TICKS).contains(&ticks.len()),
                "{span}: {ticks:?}"
            );
            for pair in ticks.windows(2) {
                let apart = (pair[1].0 - pair[0].0) as f64 / span as f64 * PHONE_PX;
                let wide = CHAR_PX * pair[0].1.len().max(pair[1].1.len()) as f64;
                assert!(apart > wide, "{span}: {ticks:?}");
            }
        }
        let hour = time_ticks(start, start + HOUR_MS);
        assert_eq!(hour[0].1, "00:15");
        let week = time_ticks(10 * DAY_MS + 1, 17 * DAY_MS + 1);
        assert_eq!(week[0].1, "01-13");
        assert!(week.iter().all(|(at, _)| at % DAY_MS == 0));
    }

    #[test]
    fn a_span_in_words_names_the_end_date_only_when_it_changes() {
        let start = 10 * DAY_MS + 2 * HOUR_MS + 3 * MINUTE_MS + 4_567;
        assert_eq!(
            span_words(start, start + 10 * MINUTE_MS),
            "from 1970-01-11 02:03 to 02:13 UTC"
        );
        assert_eq!(
            span_words(start, start + DAY_MS),
            "from 1970-01-11 02:03 to 1970-01-12 02:03 UTC"
        );
    }

    #[test]
    fn value_labels_are_round_and_the_top_one_carries_the_unit() {
        let axis = ValueAxis::fit(-0.3, 17.2);
        assert_eq!(axis.low, -5.0);
        assert_eq!(axis.high, 20.0);
        let labels: Vec<&str> = axis.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["-5", "0", "5", "10", "15", "20"]);
        let layout = Layout::new(
            &[Sample::point(0, -0.3), Sample::point(1000, 17.2)],
            1000,
            0,
            1000,
            Frame::CHART,
            "kW",
        )
        .unwrap();
        let top = layout.value_ticks.last().unwrap();
        assert_eq!(top.label, "20 kW");
        assert!((top.at - Frame::CHART.top).abs() < 1e-9);
        let bottom = &layout.value_ticks[0];
        assert!((bottom.at - (100.0 - Frame::CHART.bottom)).abs() < 1e-9);
    }

    /// The x of each point of `line`'s path, in order.
    fn xs(line: &str) -> Vec<f64> {
        line.split(['M', 'L'])
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.trim().split(',').next().unwrap().parse().unwrap())
            .collect()
    }

    #[test]
    fn series_share_one_value_axis_that_covers_them_all_and_one_time_axis() {
        let indoor: Vec<Sample> = (0..=10)
            .map(|i| Sample::point(i * MINUTE_MS, 20.0 + i as f64 * 0.1))
            .collect();
        // Starts later and reads far lower: the axes are fitted to both, not to the first.
        let outdoor: Vec<Sample> = (5..=10)
            .map(|i| Sample::point(i * MINUTE_MS, -3.0 - i as f64))
            .collect();
        let both = [indoor.clone(), outdoor.clone()];
        let layout =
            MultiLayout::new(&both, MINUTE_MS, 0, 10 * MINUTE_MS, Frame::CHART, "°C").unwrap();
        assert!(layout.low <= -13.0 && layout.high >= 21.0, "{layout:?}");
        assert_eq!(layout.traces.len(), 2);
        assert_eq!(layout.value_ticks.last().unwrap().label, "30 °C");
        // The same moment is the same x in each series.
        let (inside, outside) = (xs(&layout.traces[0].line), xs(&layout.traces[1].line));
        assert_eq!(inside.len(), 11);
        assert_eq!(outside.len(), 6);
        assert_eq!(inside[5], outside[0]);
        assert_eq!(inside[10], outside[5]);
        // Each series' values sit where the shared axis puts them, whichever line they are on.
        let alone = Layout::new(&indoor, MINUTE_MS, 0, 10 * MINUTE_MS, Frame::CHART, "").unwrap();
        assert_ne!(
            alone.line, layout.traces[0].line,
            "the shared axis is wider"
        );
        let svg = layout.svg(200, "Temperatures");
        assert!(svg.contains("class=\"line series-0\""), "{svg}");
        assert!(svg.contains("class=\"line series-1\""), "{svg}");
        assert!(
            svg.contains("data-from-ms=\"0\" data-to-ms=\"600000\""),
            "{svg}"
        );
        assert_eq!(svg.matches("<text class=\"label value\"").count(), 0);
    }

    #[test]
    fn each_series_keeps_its_own_gaps_and_lone_samples_are_dots_of_its_own() {
        let minute = |m: i64| m * MINUTE_MS;
        let gappy: Vec<Sample> = [0, 1, 2, 3, 30, 60, 61, 62]
            .map(|m| Sample::point(minute(m), m as f64))
            .to_vec();
        let steady: Vec<Sample> = (0..=62).map(|m| Sample::point(minute(m), 1.0)).collect();
        let layout =
            MultiLayout::new(&[steady, gappy], MINUTE_MS, 0, minute(62), Frame::CHART, "").unwrap();
        assert_eq!(layout.traces[0].line.matches('M').count(), 1);
        assert!(layout.traces[0].dots.is_empty());
        assert_eq!(layout.traces[1].line.matches('M').count(), 2);
        let [dot] = layout.traces[1].dots.as_slice() else {
            panic!("{:?}", layout.traces[1].dots)
        };
        assert_eq!(dot.label, None, "the legend gives the values");
        let svg = layout.svg(200, "");
        assert_eq!(svg.matches("<circle class=\"point series-1\"").count(), 1);
    }

    #[test]
    fn one_series_is_drawn_alone_and_series_without_samples_draw_nothing() {
        let one = vec![Sample::point(0, 1.0), Sample::point(MINUTE_MS, 2.0)];
        let layout = MultiLayout::new(
            &[Vec::new(), one.clone()],
            MINUTE_MS,
            0,
            MINUTE_MS,
            Frame::CHART,
            "",
        )
        .unwrap();
        assert_eq!(layout.traces[0], Trace::default());
        assert_eq!(layout.traces[1].line.matches('L').count(), 1);
        // Alone, it is laid out exactly as the one-series chart lays it out.
        let single = Layout::new(&one, MINUTE_MS, 0, MINUTE_MS, Frame::CHART, "").unwrap();
        assert_eq!(layout.traces[1].line, single.line);
        assert_eq!(layout.value_ticks, single.value_ticks);
        assert_eq!(layout.time_ticks, single.time_ticks);
        assert_eq!(
            MultiLayout::new(&[Vec::new(), Vec::new()], MINUTE_MS, 0, 1, Frame::CHART, ""),
            None
        );
        assert_eq!(
            MultiLayout::new(&[], MINUTE_MS, 0, 1, Frame::CHART, ""),
            None
        );
    }
}
