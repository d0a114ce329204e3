//! Series: the numbers history keeps of a topic. Series 0 is the payload's own number
//! ([`payload::numeric_value`](super::payload::numeric_value)); every other series is named by an
//! admin: a JSON pointer into the payloads of the topics a filter matches
//! (`sensors/+/climate` and `/temperature`), with a label and a unit. Each series is rolled up on
//! its own, so a payload such as `{"temperature": 21.5, "humidity": 40}` can chart both.

use super::status_page::is_pointer;
use super::topic_filter::{InvalidFilter, TopicFilter};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

/// The series of a payload's own number.
pub const OWN_NUMBER: i32 = 0;
/// How many series may be named: each matching message costs a rollup row per series and level.
pub const MAX_SERIES: usize = 100;
pub const MAX_FILTER_CHARS: usize = 256;
pub const MAX_LABEL_CHARS: usize = 64;
pub const MAX_UNIT_CHARS: usize = 16;

/// A named series.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesDef {
    pub id: i32,
    pub topics: TopicFilter,
    /// Never empty: the whole payload's number is series 0.
    pub pointer: String,
    pub label: String,
    pub unit: String,
}

/// A series as an admin typed it.
#[derive(Clone, Copy, Debug)]
pub struct SeriesText<'a> {
    pub filter: &'a str,
    pub pointer: &'a str,
    pub label: &'a str,
    pub unit: &'a str,
}

/// Why a typed series was refused; each names the form field to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeriesProblem {
    Filter(InvalidFilter),
    FilterTooLong,
    Pointer,
    Label,
    Unit,
}

impl SeriesProblem {
    /// The form field this problem is about.
    pub fn field(&self) -> &'static str {
        match self {
            SeriesProblem::Filter(_) | SeriesProblem::FilterTooLong => "filter",
            SeriesProblem::Pointer => "pointer",
            SeriesProblem::Label => "label",
            SeriesProblem::Unit => "unit",
        }
    }
}

impl fmt::Display for SeriesProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeriesProblem::Filter(error) => write!(f, "topics: {error}"),
            SeriesProblem::FilterTooLong => {
                write!(
                    f,
                    "topics: a filter has at most {MAX_FILTER_CHARS} characters"
                )
            }
            SeriesProblem::Pointer => f.write_str(
                "a field is a JSON pointer such as /temperature or /sensors/0/value \
                 (not empty: a payload's own number is charted anyway)",
            ),
            SeriesProblem::Label => write!(f, "a label has 1 to {MAX_LABEL_CHARS} characters"),
            SeriesProblem::Unit => write!(f, "a unit has at most {MAX_UNIT_CHARS} characters"),
        }
    }
}

impl std::error::Error for SeriesProblem {}

fn words(text: &str, max: usize) -> Option<String> {
    let text = text.trim();
    (text.chars().count() <= max && !text.chars().any(char::is_control)).then(|| text.to_owned())
}

impl SeriesDef {
    pub fn check(id: i32, text: SeriesText<'_>) -> Result<Self, SeriesProblem> {
        let filter = text.filter.trim();
        if filter.chars().count() > MAX_FILTER_CHARS {
            return Err(SeriesProblem::FilterTooLong);
        }
        let topics = TopicFilter::parse(filter).map_err(SeriesProblem::Filter)?;
        let pointer = text.pointer.trim();
        if pointer.is_empty() || !is_pointer(pointer) {
            return Err(SeriesProblem::Pointer);
        }
        let label = words(text.label, MAX_LABEL_CHARS)
            .filter(|label| !label.is_empty())
            .ok_or(SeriesProblem::Label)?;
        let unit = words(text.unit, MAX_UNIT_CHARS).ok_or(SeriesProblem::Unit)?;
        Ok(Self {
            id,
            topics,
            pointer: pointer.to_owned(),
            label,
            unit,
        })
    }
}

/// A series as a page offers it: a topic's chart can show its own number or any series named
/// for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesChoice {
    pub id: i32,
    pub label: String,
    pub unit: String,
}

impl SeriesChoice {
    /// The payload's own number, which every topic offers.
    pub fn own_number() -> Self {
        Self {
            id: OWN_NUMBER,
            label: "Payload value".to_owned(),
            unit: String::new(),
        }
    }

    /// The label with its unit, as pickers name the series.
    pub fn title(&self) -> String {
        if self.unit.is_empty() {
            self.label.clone()
        } else {
            format!("{} ({})", self.label, self.unit)
        }
    }
}

impl From<&SeriesDef> for SeriesChoice {
    fn from(def: &SeriesDef) -> Self {
        Self {
            id: def.id,
            label: def.label.clone(),
            unit: def.unit.clone(),
        }
    }
}

/// The named series, indexed for the writer, which asks for every message: a topic is matched
/// only against the series whose filter starts with its first level, or with a wildcard.
#[derive(Clone, Debug, Default)]
pub struct SeriesSet {
    defs: Vec<SeriesDef>,
    by_first_level: HashMap<String, Vec<usize>>,
    wildcard_first: Vec<usize>,
}

impl SeriesSet {
    pub fn new(defs: Vec<SeriesDef>) -> Self {
        let mut by_first_level: HashMap<String, Vec<usize>> = HashMap::new();
        let mut wildcard_first = Vec::new();
        for (index, def) in defs.iter().enumerate() {
            match first_level(def.topics.as_str()) {
                "+" | "#" => wildcard_first.push(index),
                level => by_first_level
                    .entry(level.to_owned())
                    .or_default()
                    .push(index),
            }
        }
        Self {
            defs,
            by_first_level,
            wildcard_first,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// What `topic`'s chart may show, and which of them it shows for `asked`: the series asked
    /// for when the topic has it; else its first named series, since a topic given names carries
    /// its numbers in fields; else its own number.
    pub fn choices_for(&self, topic: &str, asked: Option<i32>) -> (Vec<SeriesChoice>, i32) {
        let named = self.for_topic(topic);
        let shown = match asked {
            Some(asked) if asked == OWN_NUMBER || named.iter().any(|def| def.id == asked) => asked,
            _ => named.first().map_or(OWN_NUMBER, |def| def.id),
        };
        let choices = if named.is_empty() {
            Vec::new()
        } else {
            std::iter::once(SeriesChoice::own_number())
                .chain(named.into_iter().map(SeriesChoice::from))
                .collect()
        };
        (choices, shown)
    }

    /// The series whose filter matches `topic`, in the order they were named.
    pub fn for_topic<'s>(&'s self, topic: &str) -> Vec<&'s SeriesDef> {
        let mut found: Vec<usize> = self
            .by_first_level
            .get(first_level(topic))
            .into_iter()
            .flatten()
            .chain(&self.wildcard_first)
            .copied()
            .filter(|&index| self.defs[index].topics.matches(topic))
            .collect();
        found.sort_unstable();
        found.into_iter().map(|index| &self.defs[index]).collect()
    }

    /// The number each series matching `topic` finds in `payload`, by series id. The payload is
    /// parsed only when some series matches, and once for all of them; a field that is missing
    /// or not a finite number gives nothing for its series.
    pub fn values_of(&self, topic: &str, payload: &[u8], mut found: impl FnMut(i32, f64)) {
        let matching = self.for_topic(topic);
        if matching.is_empty() {
            return;
        }
        let Some(json) = std::str::from_utf8(payload)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        else {
            return;
        };
        for def in matching {
            if let Some(number) = json
                .pointer(&def.pointer)
                .and_then(serde_json::Value::as_f64)
                .filter(|number| number.is_finite())
            {
                found(def.id, number);
            }
        }
    }
}

fn first_level(text: &str) -> &str {
    text.split('/').next().unwrap_or_default()
}

/// The series as every part of one process sees them: the writer folds by them, pages offer
/// them. Replaced whole when they change, so a reader holds a consistent set for a batch.
#[derive(Clone, Debug, Default)]
pub struct SharedSeries(Arc<RwLock<Arc<SeriesSet>>>);

impl SharedSeries {
    pub fn current(&self) -> Arc<SeriesSet> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn replace(&self, defs: Vec<SeriesDef>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(SeriesSet::new(defs));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(id: i32, filter: &str, pointer: &str) -> SeriesDef {
        SeriesDef::check(
            id,
            SeriesText {
                filter,
                pointer,
                label: "Label",
                unit: "",
            },
        )
        .unwrap()
    }

    fn values(set: &SeriesSet, topic: &str, payload: &str) -> Vec<(i32, f64)> {
        let mut found = Vec::new();
        set.values_of(topic, payload.as_bytes(), |id, value| {
            found.push((id, value))
        });
        found
    }

    #[test]
    fn each_matching_series_takes_its_field() {
        let set = SeriesSet::new(vec![
            def(1, "sensors/+/climate", "/temperature"),
            def(2, "sensors/+/climate", "/humidity"),
            def(3, "+/+/climate", "/nested/0/value"),
            def(4, "other/#", "/temperature"),
        ]);
        let payload = r#"{"temperature": 21.5, "humidity": 40, "nested": [{"value": -3}]}"#;
        assert_eq!(
            values(&set, "sensors/boiler/climate", payload),
            vec![(1, 21.5), (2, 40.0), (3, -3.0)]
        );
        assert_eq!(values(&set, "other/x", payload), vec![(4, 21.5)]);
        assert!(values(&set, "nothing/here", payload).is_empty());
    }

    #[test]
    fn fields_that_are_not_finite_numbers_give_nothing() {
        let set = SeriesSet::new(vec![def(1, "#", "/v")]);
        for payload in [
            r#"{"v": "21.5"}"#,
            r#"{"v": null}"#,
            r#"{"v": [1]}"#,
            r#"{"w": 1}"#,
            "21.5",
            "not json",
            r#"{"v": 1e999}"#,
        ] {
            assert!(values(&set, "t", payload).is_empty(), "{payload}");
        }
        // Binary payloads are not text at all.
        let mut found = 0;
        set.values_of("t", &[0xff, 0xfe, b'{'], |_, _| found += 1);
        assert_eq!(found, 0);
    }

    #[test]
    fn a_topic_offers_its_named_series_and_shows_the_first_unless_asked() {
        let set = SeriesSet::new(vec![def(4, "a/+", "/t"), def(9, "a/b", "/h")]);
        let (choices, shown) = set.choices_for("a/b", None);
        let ids: Vec<i32> = choices.iter().map(|choice| choice.id).collect();
        assert_eq!((ids, shown), (vec![OWN_NUMBER, 4, 9], 4));
        assert_eq!(set.choices_for("a/b", Some(9)).1, 9);
        assert_eq!(set.choices_for("a/b", Some(OWN_NUMBER)).1, OWN_NUMBER);
        // A series of other topics is never read for this one.
        assert_eq!(set.choices_for("a/c", Some(9)).1, 4);
        assert_eq!(set.choices_for("x", Some(4)), (Vec::new(), OWN_NUMBER));
    }

    #[test]
    fn a_wildcard_does_not_reach_system_topics() {
        let set = SeriesSet::new(vec![def(1, "#", "/v"), def(2, "+/load", "/v")]);
        assert!(values(&set, "$SYS/load", r#"{"v": 1}"#).is_empty());
        assert_eq!(
            values(&set, "host/load", r#"{"v": 1}"#),
            vec![(1, 1.0), (2, 1.0)]
        );
    }

    #[test]
    fn typed_series_are_checked() {
        let (long_filter, long_unit) = ("a".repeat(300), "u".repeat(17));
        let text = |filter, pointer, label, unit| SeriesText {
            filter,
            pointer,
            label,
            unit,
        };
        let check = |t| SeriesDef::check(0, t).map_err(|problem| problem.field());
        assert_eq!(check(text("a/+", "", "L", "")), Err("pointer"));
        assert_eq!(check(text("a/+", "temperature", "L", "")), Err("pointer"));
        assert_eq!(check(text("a/+", "/t~2", "L", "")), Err("pointer"));
        assert_eq!(check(text("a/#/b", "/t", "L", "")), Err("filter"));
        assert_eq!(check(text(&long_filter, "/t", "L", "")), Err("filter"));
        assert_eq!(check(text("a/+", "/t", "  ", "")), Err("label"));
        assert_eq!(check(text("a/+", "/t", "L", &long_unit)), Err("unit"));
        let ok = SeriesDef::check(7, text(" a/+ ", " /t ", " Temp ", " °C ")).unwrap();
        assert_eq!(
            (
                ok.topics.as_str(),
                ok.pointer.as_str(),
                SeriesChoice::from(&ok).title().as_str()
            ),
            ("a/+", "/t", "Temp (°C)")
        );
    }
}
