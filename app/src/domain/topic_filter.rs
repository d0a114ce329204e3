//! MQTT topic filters (MQTT 3.1.1 and 5, section 4.7): parsed and checked once, then matched
//! against topic names. Retention rules use them, and so will the access policy; plain `std`, so
//! the browser bundle can use them too.

use std::fmt;
use std::str::FromStr;

/// A valid topic filter such as `plant/+/temperature` or `sensors/debug/#`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TopicFilter {
    text: String,
    levels: Vec<Level>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Level {
    Exact(String),
    /// `+`: exactly one level, which may be empty.
    One,
    /// `#`: the parent level and everything below it; always the last level.
    Rest,
}

/// Why a text is not a topic filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidFilter {
    Empty,
    TooLong,
    /// The spec forbids U+0000 in topic names and filters.
    NulCharacter,
    /// `+` or `#` sharing a level with other characters, as in `a+/b`.
    PartialWildcard,
    /// `#` followed by more levels, as in `a/#/b`.
    HashNotLast,
}

impl fmt::Display for InvalidFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidFilter::Empty => "a topic filter cannot be empty",
            InvalidFilter::TooLong => "a topic filter is at most 65535 bytes",
            InvalidFilter::NulCharacter => "a topic filter cannot contain the character U+0000",
            InvalidFilter::PartialWildcard => "'+' and '#' must fill a whole level",
            InvalidFilter::HashNotLast => "'#' may only be the last level",
        })
    }
}

impl std::error::Error for InvalidFilter {}

/// The longest string an MQTT packet can carry (a two-byte length).
const MAX_BYTES: usize = 65_535;

impl TopicFilter {
    pub fn parse(text: &str) -> Result<Self, InvalidFilter> {
        if text.is_empty() {
            return Err(InvalidFilter::Empty);
        }
        if text.len() > MAX_BYTES {
            return Err(InvalidFilter::TooLong);
        }
        if text.contains('\0') {
            return Err(InvalidFilter::NulCharacter);
        }
        let mut levels = Vec::new();
        let mut parts = text.split('/').peekable();
        while let Some(part) = parts.next() {
            levels.push(match part {
                "+" => Level::One,
                "#" if parts.peek().is_some() => return Err(InvalidFilter::HashNotLast),
                "#" => Level::Rest,
                _ if part.contains(['+', '#']) => return Err(InvalidFilter::PartialWildcard),
                _ => Level::Exact(part.to_owned()),
            });
        }
        Ok(Self {
            text: text.to_owned(),
            levels,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `topic` is one of the topics this filter selects. A text that is not a valid topic
    /// name (empty, or holding a wildcard or U+0000) matches nothing, so a policy built on filters
    /// never grants something to a malformed name.
    pub fn matches(&self, topic: &str) -> bool {
        self.walk(topic, |_| {})
    }

    /// The levels of `topic` that this filter's `+` wildcards stand for, in order, when it
    /// matches: `sensors/+/#` on `sensors/boiler/temp` gives `["boiler"]`. What `#` covers is
    /// not captured.
    pub fn captures<'t>(&self, topic: &'t str) -> Option<Vec<&'t str>> {
        let mut captured = Vec::new();
        let matched = self.walk(topic, |level| captured.push(level));
        matched.then_some(captured)
    }

    /// How many `+` levels the filter has.
    pub fn single_level_wildcards(&self) -> usize {
        self.levels.iter().filter(|l| **l == Level::One).count()
    }

    /// Whether the filter ends in `#`.
    pub fn has_multi_level_wildcard(&self) -> bool {
        self.levels.last() == Some(&Level::Rest)
    }

    /// The filter with its `+` levels filled in from `names`, in order: a topic name when the
    /// filter has no `#` and every name is a valid level (no `/`, `+`, `#`). `None` otherwise.
    pub fn fill(&self, names: &[&str]) -> Option<String> {
        let mut names = names.iter();
        let mut levels = Vec::with_capacity(self.levels.len());
        for level in &self.levels {
            levels.push(match level {
                Level::Exact(text) => text.as_str(),
                Level::One => names
                    .next()
                    .copied()
                    .filter(|name| !name.contains(['/', '+', '#']))?,
                Level::Rest => return None,
            });
        }
        let topic = levels.join("/");
        (names.next().is_none() && is_matchable(&topic)).then_some(topic)
    }

    /// Matches `topic` level by level, handing each level a `+` stands for to `plus`.
    fn walk<'t>(&self, topic: &'t str, mut plus: impl FnMut(&'t str)) -> bool {
        if !is_matchable(topic) {
            return false;
        }
        // `$SYS/...` and other server topics are not selected by a leading wildcard: a
        // subscription to `#` should not receive the broker's own statistics.
        if topic.starts_with('$') && matches!(self.levels[0], Level::One | Level::Rest) {
            return false;
        }
        let mut names = topic.split('/');
        for level in &self.levels {
            match level {
                // `a/#` selects `a` itself too, so what is left may be nothing at all.
                Level::Rest => return true,
                Level::One => match names.next() {
                    Some(name) => plus(name),
                    None => return false,
                },
                Level::Exact(expected) => {
                    if names.next() != Some(expected.as_str()) {
                        return false;
                    }
                }
            }
        }
        names.next().is_none()
    }
}

/// The longest topic name Lookout stores, shows or publishes, in bytes. MQTT allows 65,535, but
/// PostgreSQL cannot index a name much over 2,700 bytes (a B-tree entry must fit a third of a
/// page), and real topics stay far below this (cloud brokers cap them at 256 to 1,024 bytes).
/// The schema's `topic_name_storable` check says the same.
pub const MAX_TOPIC_BYTES: usize = 1024;

/// Why a topic name the broker delivered cannot be stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnstorableTopic {
    /// Over [`MAX_TOPIC_BYTES`].
    TooLong,
    /// U+0000, which PostgreSQL text cannot hold (MQTT forbids it too, but not every broker
    /// checks).
    NulCharacter,
}

impl UnstorableTopic {
    /// As logs and the ingest status name it.
    pub fn as_str(self) -> &'static str {
        match self {
            UnstorableTopic::TooLong => "topic longer than 1024 bytes",
            UnstorableTopic::NulCharacter => "topic contains U+0000",
        }
    }
}

/// Whether a topic name delivered by the broker can be stored. Anything else a broker may deliver
/// (control characters, any other code point) is stored as it is and escaped where it is shown.
pub fn check_storable_topic(topic: &str) -> Result<(), UnstorableTopic> {
    if topic.len() > MAX_TOPIC_BYTES {
        Err(UnstorableTopic::TooLong)
    } else if topic.contains('\0') {
        Err(UnstorableTopic::NulCharacter)
    } else {
        Ok(())
    }
}

/// At most `limit` bytes of `topic` (cut at a character boundary, with `…` when cut): enough to
/// recognise a topic in a log line without letting one message write 64 KiB into it.
pub fn shortened(topic: &str, limit: usize) -> std::borrow::Cow<'_, str> {
    if topic.len() <= limit {
        return topic.into();
    }
    let mut end = limit;
    while !topic.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &topic[..end]).into()
}

/// What MQTT requires of every topic name (section 4.7.3): at least one character, no wildcard,
/// no U+0000, at most 65,535 bytes. Filters match such names, whatever else they hold: a stored
/// topic with a control character is still read under the rules that select it.
fn is_matchable(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= MAX_BYTES && !topic.contains(['\0', '+', '#'])
}

/// A topic name Lookout publishes to (see [`check_topic_name`]).
pub fn is_topic_name(topic: &str) -> bool {
    check_topic_name(topic).is_ok()
}

/// Why a text is not a topic name to publish to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidTopicName {
    Empty,
    /// Over [`MAX_TOPIC_BYTES`].
    TooLong,
    NulCharacter,
    /// `+` or `#`: they select topics in a filter, but a message goes to one topic.
    Wildcard,
    /// U+0001 to U+001F or U+007F to U+009F.
    ControlCharacter(char),
    /// U+FDD0 to U+FDEF, or U+xFFFE / U+xFFFF in any plane.
    NonCharacter(char),
}

/// Whether `topic` is a topic name Lookout publishes to: MQTT 3.1.1 section 4.7.3 (at least one
/// character, no wildcard, no U+0000), no longer than Lookout stores ([`MAX_TOPIC_BYTES`]), and
/// none of the code points section 1.5.3 says a topic SHOULD NOT hold (control characters and
/// Unicode non-characters). Brokers may close the connection on those, and Mosquitto does; its
/// check (`mosquitto_validate_utf8`) refuses exactly these.
pub fn check_topic_name(topic: &str) -> Result<(), InvalidTopicName> {
    if topic.is_empty() {
        return Err(InvalidTopicName::Empty);
    }
    if topic.len() > MAX_TOPIC_BYTES {
        return Err(InvalidTopicName::TooLong);
    }
    if topic.contains(['+', '#']) {
        return Err(InvalidTopicName::Wildcard);
    }
    match topic.chars().find(|c| refused_by_brokers(*c)) {
        Some('\0') => Err(InvalidTopicName::NulCharacter),
        Some(c) if c.is_control() => Err(InvalidTopicName::ControlCharacter(c)),
        Some(c) => Err(InvalidTopicName::NonCharacter(c)),
        None => Ok(()),
    }
}

/// U+0000, control characters and Unicode non-characters.
fn refused_by_brokers(c: char) -> bool {
    let code = u32::from(c);
    // `char::is_control` is exactly U+0000 to U+001F and U+007F to U+009F.
    c.is_control() || (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE
}

impl FromStr for TopicFilter {
    type Err = InvalidFilter;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(text: &str) -> TopicFilter {
        TopicFilter::parse(text).unwrap_or_else(|error| panic!("{text:?}: {error}"))
    }

    #[test]
    fn a_topic_is_storable_up_to_the_limit_and_without_nul() {
        assert_eq!(check_storable_topic(&"a".repeat(MAX_TOPIC_BYTES)), Ok(()));
        assert_eq!(
            check_storable_topic(&"a".repeat(MAX_TOPIC_BYTES + 1)),
            Err(UnstorableTopic::TooLong)
        );
        assert_eq!(
            check_storable_topic("plant/\0/x"),
            Err(UnstorableTopic::NulCharacter)
        );
        // Control characters are odd but storable; pages escape them.
        assert_eq!(check_storable_topic("plant/\u{7}bell"), Ok(()));
    }

    #[test]
    fn shortening_cuts_at_a_character_boundary() {
        assert_eq!(shortened("plant/one", 64), "plant/one");
        assert_eq!(shortened("ééé", 3), "é…");
        assert_eq!(
            shortened(&"x".repeat(5000), 10),
            format!("{}…", "x".repeat(10))
        );
    }

    #[test]
    fn the_examples_of_the_specification_hold() {
        // MQTT 3.1.1 section 4.7.1.2: the multi-level wildcard.
        let sport = filter("sport/tennis/player1/#");
        assert!(sport.matches("sport/tennis/player1"));
        assert!(sport.matches("sport/tennis/player1/ranking"));
        assert!(sport.matches("sport/tennis/player1/score/wimbledon"));
        assert!(filter("sport/#").matches("sport"));
        // Section 4.7.1.3: the single-level wildcard.
        let plus = filter("sport/tennis/+");
        assert!(plus.matches("sport/tennis/player1"));
        assert!(plus.matches("sport/tennis/player2"));
        assert!(!plus.matches("sport/tennis/player1/ranking"));
        assert!(!filter("sport/+").matches("sport"));
        assert!(filter("sport/+").matches("sport/"));
        assert!(filter("+/+").matches("/finance"));
        assert!(filter("/+").matches("/finance"));
        assert!(!filter("+").matches("/finance"));
        // Section 4.7.2: topics beginning with `$`.
        assert!(!filter("#").matches("$SYS/broker/uptime"));
        assert!(!filter("+/monitor/Clients").matches("$SYS/monitor/Clients"));
        assert!(filter("$SYS/#").matches("$SYS/monitor/Clients"));
        assert!(filter("$SYS/monitor/+").matches("$SYS/monitor/Clients"));
        // Matching is exact and case-sensitive; empty levels are levels.
        assert!(!filter("Sport").matches("sport"));
        assert!(!filter("a/b").matches("a/b/"));
        assert!(filter("a//b").matches("a//b"));
        assert!(filter("a/+/b").matches("a//b"));
        assert!(filter("#").matches("/"));
        assert!(filter("a/$x").matches("a/$x"));
        assert!(filter("+/$x").matches("a/$x"));
    }

    #[test]
    fn malformed_filters_are_refused_with_a_reason() {
        for (text, reason) in [
            ("", InvalidFilter::Empty),
            ("sport/tennis#", InvalidFilter::PartialWildcard),
            ("sport+", InvalidFilter::PartialWildcard),
            ("a/b+c/d", InvalidFilter::PartialWildcard),
            ("sport/tennis/#/ranking", InvalidFilter::HashNotLast),
            ("#/", InvalidFilter::HashNotLast),
            ("a\0b", InvalidFilter::NulCharacter),
        ] {
            assert_eq!(TopicFilter::parse(text), Err(reason), "{text:?}");
        }
        assert_eq!(
            TopicFilter::parse(&"a".repeat(65_536)),
            Err(InvalidFilter::TooLong)
        );
        for text in ["#", "+", "/", "+/tennis/#", "//", "sport/+/player1", "$SYS"] {
            assert_eq!(filter(text).as_str(), text);
        }
        assert_eq!("a/+".parse::<TopicFilter>().unwrap().to_string(), "a/+");
    }

    #[test]
    fn plus_levels_are_captured_and_filled_in() {
        let devices = filter("sensors/+/#");
        assert_eq!(
            devices.captures("sensors/boiler/temp"),
            Some(vec!["boiler"])
        );
        assert_eq!(devices.captures("sensors/boiler"), Some(vec!["boiler"]));
        assert_eq!(devices.captures("sensors"), None);
        assert_eq!(devices.captures("other/boiler/temp"), None);
        assert_eq!(filter("a/+/b/+").captures("a/x/b/"), Some(vec!["x", ""]));
        assert_eq!(filter("a/b").captures("a/b"), Some(vec![]));
        let status = filter("sensors/+/status");
        assert_eq!(status.single_level_wildcards(), 1);
        assert_eq!(
            status.fill(&["boiler"]).as_deref(),
            Some("sensors/boiler/status")
        );
        // A name that would add levels or wildcards is no level.
        for name in ["a/b", "+", "#"] {
            assert_eq!(status.fill(&[name]), None, "{name:?}");
        }
        assert_eq!(status.fill(&[]), None);
        assert_eq!(status.fill(&["a", "b"]), None);
        assert_eq!(devices.fill(&["boiler"]), None, "# names no single topic");
        assert!(devices.has_multi_level_wildcard() && !status.has_multi_level_wildcard());
    }

    #[test]
    fn topic_names_are_refused_with_a_reason() {
        use InvalidTopicName::*;
        for (topic, reason) in [
            ("", Empty),
            ("a/+/b", Wildcard),
            ("a/#", Wildcard),
            ("a+b", Wildcard),
            ("a\0", NulCharacter),
            ("a/\u{1}", ControlCharacter('\u{1}')),
            ("bell\u{7}", ControlCharacter('\u{7}')),
            ("line\nbreak", ControlCharacter('\n')),
            ("tab\there", ControlCharacter('\t')),
            ("\u{1f}", ControlCharacter('\u{1f}')),
            ("del\u{7f}", ControlCharacter('\u{7f}')),
            ("c1\u{85}", ControlCharacter('\u{85}')),
            ("c1\u{9f}", ControlCharacter('\u{9f}')),
            ("x\u{fdd0}", NonCharacter('\u{fdd0}')),
            ("x\u{fdef}", NonCharacter('\u{fdef}')),
            ("x\u{fffe}", NonCharacter('\u{fffe}')),
            ("x\u{ffff}", NonCharacter('\u{ffff}')),
            ("x\u{1fffe}", NonCharacter('\u{1fffe}')),
            ("x\u{10ffff}", NonCharacter('\u{10ffff}')),
        ] {
            assert_eq!(check_topic_name(topic), Err(reason), "{topic:?}");
        }
        assert_eq!(
            check_topic_name(&"a".repeat(MAX_TOPIC_BYTES + 1)),
            Err(TooLong)
        );
        assert_eq!(check_topic_name(&"a".repeat(MAX_TOPIC_BYTES)), Ok(()));
        // The neighbours of every refused range are fine, as are spaces and other scripts.
        for topic in [
            "a",
            "/",
            "a//b",
            "$SYS/x",
            "plant/boiler",
            "with space",
            "\u{20}\u{7e}\u{a0}",
            "\u{fdcf}\u{fdf0}\u{fffd}\u{1fffd}\u{10000}",
            "température/°C/日本",
        ] {
            assert_eq!(check_topic_name(topic), Ok(()), "{topic:?}");
        }
    }

    #[test]
    fn stored_topics_that_publishing_refuses_are_still_matched() {
        // A broker may deliver what Lookout would not publish; the rules still select it.
        for topic in [
            "plant/\u{7}bell",
            "x\u{ffff}",
            &"a".repeat(MAX_TOPIC_BYTES + 1),
        ] {
            assert!(filter("#").matches(topic), "{topic:?}");
            assert!(!is_topic_name(topic), "{topic:?}");
        }
    }

    #[test]
    fn names_that_are_not_topics_match_nothing() {
        for topic in ["", "a/+", "a/#", "+", "#", "a\0"] {
            assert!(!filter("#").matches(topic), "{topic:?}");
            assert!(!filter("+").matches(topic), "{topic:?}");
        }
    }

    /// A second matcher written differently (recursion over the levels, straight from the
    /// specification's wording) to compare the real one against.
    fn reference_matches(filter: &str, topic: &str) -> bool {
        fn levels(filter: &[&str], topic: &[&str]) -> bool {
            match (filter.split_first(), topic.split_first()) {
                (Some((&"#", _)), _) => true,
                (Some((&"+", filter)), Some((_, topic))) => levels(filter, topic),
                (Some((expected, filter)), Some((name, topic))) => {
                    expected == name && levels(filter, topic)
                }
                (None, None) => true,
                _ => false,
            }
        }
        if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
            return false;
        }
        let filter: Vec<&str> = filter.split('/').collect();
        let topic: Vec<&str> = topic.split('/').collect();
        levels(&filter, &topic)
    }

    /// Whether `text` is a filter, by the specification's rules restated level by level.
    fn reference_valid(text: &str) -> bool {
        let levels: Vec<&str> = text.split('/').collect();
        !text.is_empty()
            && levels.iter().enumerate().all(|(index, level)| {
                *level == "+"
                    || (*level == "#" && index == levels.len() - 1)
                    || !level.contains(['+', '#'])
            })
    }

    /// A reproducible source of random choices (xorshift), so no dependency is needed for it.
    struct Random(u64);

    impl Random {
        fn below(&mut self, bound: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % bound as u64) as usize
        }

        fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
            choices[self.below(choices.len())]
        }

        /// One to four levels from a small alphabet, so that filters and topics often meet.
        fn joined(&mut self, first: &[&str], rest: &[&str]) -> String {
            let mut levels = vec![self.pick(first)];
            for _ in 0..self.below(4) {
                levels.push(self.pick(rest));
            }
            levels.join("/")
        }

        fn topic(&mut self) -> String {
            loop {
                let topic = self.joined(&["a", "b", "", "$s"], &["a", "b", "", "$s"]);
                if !topic.is_empty() {
                    return topic;
                }
            }
        }

        /// Mostly valid filters, some with a misplaced or partial wildcard.
        fn filter(&mut self) -> String {
            const LEVELS: &[&str] = &["a", "b", "", "+", "#", "$s"];
            if self.below(8) == 0 {
                self.joined(&["a#", "+b", "#", "a"], &["#", "a+", "b", "+"])
            } else {
                let mut text = self.joined(LEVELS, &LEVELS[..4]);
                if !text.starts_with('#') && self.below(3) == 0 {
                    text.push_str("/#");
                }
                text
            }
        }
    }

    #[test]
    fn random_filters_and_topics_agree_with_the_reference_matcher() {
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let (mut checked, mut matched) = (0, 0);
        for _ in 0..50_000 {
            let text = random.filter();
            let parsed = TopicFilter::parse(&text);
            assert_eq!(parsed.is_ok(), reference_valid(&text), "{text:?}");
            let Ok(parsed) = parsed else { continue };
            let topic = random.topic();
            let expected = reference_matches(&text, &topic);
            assert_eq!(parsed.matches(&topic), expected, "{text:?} on {topic:?}");
            // What the `+` levels captured, put back into the filter, is a filter that still
            // matches (and, without `#`, is the topic itself).
            let captured = parsed.captures(&topic);
            assert_eq!(captured.is_some(), expected, "{text:?} on {topic:?}");
            if let Some(captured) = captured {
                assert_eq!(captured.len(), parsed.single_level_wildcards());
                if !parsed.has_multi_level_wildcard() {
                    assert_eq!(parsed.fill(&captured).as_deref(), Some(topic.as_str()));
                }
            }
            checked += 1;
            matched += usize::from(expected);
        }
        // The alphabet is small so that both outcomes are common; check that it stays so.
        assert!(
            matched > checked / 10 && matched < checked * 9 / 10,
            "{matched} of {checked}"
        );
    }

    #[test]
    fn a_topic_as_a_filter_matches_itself_and_wildcards_only_widen_it() {
        let mut random = Random(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let topic = random.topic();
            assert!(filter(&topic).matches(&topic), "{topic:?}");
            let levels: Vec<&str> = topic.split('/').collect();
            for index in 0..levels.len() {
                let mut widened = levels.clone();
                widened[index] = "+";
                let dollar_hidden = index == 0 && topic.starts_with('$');
                assert_eq!(
                    filter(&widened.join("/")).matches(&topic),
                    !dollar_hidden,
                    "{widened:?} on {topic:?}"
                );
                // Everything from a level on, and the level's parent itself.
                let prefix = levels[..index].join("/");
                let hash = if index == 0 {
                    "#".to_owned()
                } else {
                    format!("{prefix}/#")
                };
                assert_eq!(
                    filter(&hash).matches(&topic),
                    !dollar_hidden,
                    "{hash:?} on {topic:?}"
                );
                if !prefix.is_empty() {
                    assert!(filter(&hash).matches(&prefix), "{hash:?} on {prefix:?}");
                }
            }
            assert!(filter(&format!("{topic}/#")).matches(&topic));
            assert_eq!(filter("#").matches(&topic), !topic.starts_with('$'));
            // One level more or less than the filter is no match without `#`.
            assert!(!filter(&format!("{topic}/+")).matches(&topic));
            assert!(!filter(&topic).matches(&format!("{topic}/a")));
        }
    }
}
