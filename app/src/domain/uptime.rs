//! Availability from recorded transitions: how long something was up, down or unknown over a
//! window, exactly (from the moments its state changed, not from samples), with the windows in
//! which Lookout itself could not see (not running, the broker away, storage failing) counted as
//! neither: "no data", never up and never down.
//!
//! Pure logic over times in Unix milliseconds; the store records the transitions and the blind
//! windows, the status pages draw what this decides.

use serde::{Deserialize, Serialize};

/// What a watched thing was doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seen {
    Up,
    Down,
    /// Watched, but its state was not known (nothing received yet, only retained messages).
    Unknown,
}

/// From `at_ms` on, the thing was `state` (until the next transition).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub at_ms: i64,
    pub state: Seen,
}

/// A window in which Lookout could not see: `from_ms` inclusive to `to_ms` exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blind {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// How a window was spent, in milliseconds. Blind time is counted once, whatever the state was
/// believed to be meanwhile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    pub up_ms: i64,
    pub down_ms: i64,
    pub unknown_ms: i64,
    pub blind_ms: i64,
}

impl Availability {
    /// Up time over the time the state was known and seen: `None` when there was none (all of it
    /// unknown or blind), which a page shows as "no data", never as 0 % or 100 %.
    pub fn ratio(&self) -> Option<f64> {
        let known = self.up_ms + self.down_ms;
        (known > 0).then(|| self.up_ms as f64 / known as f64)
    }

    /// Whether any of the window was seen down.
    pub fn had_outage(&self) -> bool {
        self.down_ms > 0
    }

    /// Counts `length` milliseconds spent as `state` (`None`: blind).
    fn add(&mut self, state: Option<Seen>, length: i64) {
        match state {
            Some(Seen::Up) => self.up_ms += length,
            Some(Seen::Down) => self.down_ms += length,
            Some(Seen::Unknown) => self.unknown_ms += length,
            None => self.blind_ms += length,
        }
    }
}

/// One stretch of a window in one state, for the outages a day lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stretch {
    pub from_ms: i64,
    pub to_ms: i64,
    /// `None`: Lookout could not see.
    pub state: Option<Seen>,
}

/// The stretches of `from_ms..to_ms`, in order, each in one state or blind. `before` is the
/// state at `from_ms` (the last transition before the window), `transitions` are those inside
/// or after it in time order (others are ignored), `blind` the windows Lookout could not see (in
/// any order, possibly overlapping). Before the first known state the thing is unknown.
pub fn stretches(
    before: Option<Seen>,
    transitions: &[Transition],
    blind: &[Blind],
    from_ms: i64,
    to_ms: i64,
) -> Vec<Stretch> {
    if to_ms <= from_ms {
        return Vec::new();
    }
    // Every moment something may change inside the window.
    let mut cuts: Vec<i64> = vec![from_ms, to_ms];
    for transition in transitions {
        if transition.at_ms > from_ms && transition.at_ms < to_ms {
            cuts.push(transition.at_ms);
        }
    }
    for window in blind {
        for edge in [window.from_ms, window.to_ms] {
            if edge > from_ms && edge < to_ms {
                cuts.push(edge);
            }
        }
    }
    cuts.sort_unstable();
    cuts.dedup();

    let mut out: Vec<Stretch> = Vec::with_capacity(cuts.len());
    let mut state = before.unwrap_or(Seen::Unknown);
    let mut next = transitions
        .iter()
        .position(|t| t.at_ms > from_ms)
        .unwrap_or(transitions.len());
    // Transitions at or before the window's start set the state it starts in.
    for transition in &transitions[..next] {
        state = transition.state;
    }
    for pair in cuts.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        while next < transitions.len() && transitions[next].at_ms <= start {
            state = transitions[next].state;
            next += 1;
        }
        let seen = !blind
            .iter()
            .any(|window| window.from_ms <= start && start < window.to_ms);
        let shown = seen.then_some(state);
        match out.last_mut() {
            Some(last) if last.state == shown && last.to_ms == start => last.to_ms = end,
            _ => out.push(Stretch {
                from_ms: start,
                to_ms: end,
                state: shown,
            }),
        }
    }
    out
}

/// How `from_ms..to_ms` was spent (see [`stretches`] for the arguments).
pub fn availability(
    before: Option<Seen>,
    transitions: &[Transition],
    blind: &[Blind],
    from_ms: i64,
    to_ms: i64,
) -> Availability {
    let mut spent = Availability::default();
    for stretch in stretches(before, transitions, blind, from_ms, to_ms) {
        spent.add(stretch.state, stretch.to_ms - stretch.from_ms);
    }
    spent
}

const DAY_MS: i64 = 86_400_000;

/// One UTC day of an uptime bar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Day {
    pub start_ms: i64,
    pub spent: Availability,
    /// The stretches it was down, in order (clipped to the day).
    pub outages: Vec<(i64, i64)>,
}

/// The last `days` UTC days up to `now_ms` (the last one is today, so far), oldest first.
pub fn days(
    before: Option<Seen>,
    transitions: &[Transition],
    blind: &[Blind],
    days: u32,
    now_ms: i64,
) -> Vec<Day> {
    let today = now_ms - now_ms.rem_euclid(DAY_MS);
    let first = today - i64::from(days.saturating_sub(1)) * DAY_MS;
    let all = stretches(before, transitions, blind, first, now_ms);
    (0..i64::from(days))
        .map(|n| {
            let start = first + n * DAY_MS;
            let end = (start + DAY_MS).min(now_ms);
            let mut spent = Availability::default();
            let mut outages = Vec::new();
            for stretch in &all {
                let (from, to) = (stretch.from_ms.max(start), stretch.to_ms.min(end));
                if to <= from {
                    continue;
                }
                spent.add(stretch.state, to - from);
                if stretch.state == Some(Seen::Down) {
                    outages.push((from, to));
                }
            }
            Day {
                start_ms: start,
                spent,
                outages,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(at_ms: i64, state: Seen) -> Transition {
        Transition { at_ms, state }
    }

    /// The state at each millisecond, one at a time: what the exact computation must agree with.
    fn replay(
        before: Option<Seen>,
        transitions: &[Transition],
        blind: &[Blind],
        from_ms: i64,
        to_ms: i64,
    ) -> Availability {
        let mut spent = Availability::default();
        for ms in from_ms..to_ms {
            if blind.iter().any(|b| b.from_ms <= ms && ms < b.to_ms) {
                spent.blind_ms += 1;
                continue;
            }
            let state = transitions
                .iter()
                .rfind(|t| t.at_ms <= ms)
                .map(|t| t.state)
                .or(before)
                .unwrap_or(Seen::Unknown);
            match state {
                Seen::Up => spent.up_ms += 1,
                Seen::Down => spent.down_ms += 1,
                Seen::Unknown => spent.unknown_ms += 1,
            }
        }
        spent
    }

    #[test]
    fn availability_matches_a_replay_of_every_moment() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |bound: i64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as i64
        };
        for _ in 0..300 {
            let mut transitions: Vec<Transition> = (0..next(8))
                .map(|_| {
                    let state = [Seen::Up, Seen::Down, Seen::Unknown][next(3) as usize];
                    t(next(400) - 50, state)
                })
                .collect();
            transitions.sort_by_key(|t| t.at_ms);
            let blind: Vec<Blind> = (0..next(3))
                .map(|_| {
                    let from_ms = next(400) - 50;
                    Blind {
                        from_ms,
                        to_ms: from_ms + next(120),
                    }
                })
                .collect();
            let before = [None, Some(Seen::Up), Some(Seen::Down)][next(3) as usize];
            let (from, to) = (next(100), 100 + next(250));
            assert_eq!(
                availability(before, &transitions, &blind, from, to),
                replay(before, &transitions, &blind, from, to),
                "{before:?} {transitions:?} {blind:?} {from}..{to}"
            );
        }
    }

    #[test]
    fn a_window_lookout_could_not_see_is_no_data_not_up() {
        // Up all along, but Lookout was down for the second half: 100 % of what it saw, and the
        // blind half counted apart.
        let spent = availability(
            Some(Seen::Up),
            &[],
            &[Blind {
                from_ms: 50,
                to_ms: 100,
            }],
            0,
            100,
        );
        assert_eq!((spent.up_ms, spent.blind_ms), (50, 50));
        assert_eq!(spent.ratio(), Some(1.0));
        // Blind the whole time: no figure at all.
        let spent = availability(
            Some(Seen::Up),
            &[],
            &[Blind {
                from_ms: 0,
                to_ms: 100,
            }],
            0,
            100,
        );
        assert_eq!(spent.ratio(), None);
        assert_eq!(availability(None, &[], &[], 0, 100).ratio(), None);
    }

    #[test]
    fn days_split_at_utc_midnight_and_list_their_outages() {
        let day = DAY_MS;
        let now = 3 * day + day / 2;
        let transitions = [t(day + day / 2, Seen::Down), t(2 * day + day / 4, Seen::Up)];
        let cells = days(Some(Seen::Up), &transitions, &[], 3, now);
        assert_eq!(cells.len(), 3);
        assert_eq!(cells[0].start_ms, day);
        assert_eq!(cells[0].outages, vec![(day + day / 2, 2 * day)]);
        assert_eq!(cells[1].outages, vec![(2 * day, 2 * day + day / 4)]);
        assert_eq!(cells[1].spent.ratio(), Some(0.75));
        // Today counts only up to now.
        assert_eq!(cells[2].spent.up_ms, day / 2);
        assert!(!cells[2].spent.had_outage());
    }
}
