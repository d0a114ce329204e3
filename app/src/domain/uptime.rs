//! Availability from recorded transitions: how long something was up, down or unknown over a
//! window, exactly (from the moments its state changed, not from samples), with the windows in
//! which Lookout itself could not see (not running, the broker away, storage failing) counted as
//! neither: "no data", never up and never down.
//!
//! Pure logic over times in Unix milliseconds; the store records the transitions and the blind
//! windows, the status pages draw what this decides.

use crate::domain::liveness::{
    format_interval, format_span, read_status, Cause, Device, DeviceState, LivenessRule, Reported,
    GRACE,
};
use crate::domain::status_page::Level;
use serde::{Deserialize, Serialize};

/// How often the watcher (`server::uptime_watch`) looks at every device and extends its stretch
/// of sight: the most a recorded blind window can be off by, and how late a silence is noticed
/// (it is still recorded at the moment it passed the grace).
pub const WATCH_TICK_MS: i64 = 10_000;
/// How far behind now the stretch being watched may end and still count as going on.
pub const WATCH_SLACK_MS: i64 = 3 * WATCH_TICK_MS;

/// How long uptime records are kept: the longest window a page shows (90 days), and a day more
/// so the oldest day of a bar is whole.
pub const UPTIME_KEPT_DAYS: u32 = 91;

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

pub const DAY_MS: i64 = 86_400_000;

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

/// How much of `from_ms..to_ms` the windows cover together (overlaps counted once).
pub fn covered_ms(windows: &[Blind], from_ms: i64, to_ms: i64) -> i64 {
    let mut clipped: Vec<(i64, i64)> = windows
        .iter()
        .map(|w| (w.from_ms.max(from_ms), w.to_ms.min(to_ms)))
        .filter(|(from, to)| from < to)
        .collect();
    clipped.sort_unstable();
    let (mut covered, mut reached) = (0, from_ms);
    for (from, to) in clipped {
        let from = from.max(reached);
        if to > from {
            covered += to - from;
            reached = to;
        }
    }
    covered
}

/// The windows of `from_ms..to_ms` that no stretch of sight covers: `seen` holds the stretches
/// Lookout watched (start, end; any order, possibly overlapping). A gap that reaches `to_ms` but
/// starts at most `slack_ms` before it is not blind: the watcher extends its stretch every few
/// seconds, so the stretch being watched now always ends a little in the past.
pub fn blind_between(seen: &[(i64, i64)], from_ms: i64, to_ms: i64, slack_ms: i64) -> Vec<Blind> {
    let mut seen: Vec<(i64, i64)> = seen.to_vec();
    seen.sort_unstable();
    let mut blind = Vec::new();
    let mut covered_to = from_ms;
    for (start, end) in seen {
        if start > covered_to && covered_to < to_ms {
            blind.push(Blind {
                from_ms: covered_to,
                to_ms: start.min(to_ms),
            });
        }
        covered_to = covered_to.max(end);
    }
    if covered_to < to_ms && (to_ms - covered_to > slack_ms || covered_to == from_ms) {
        blind.push(Blind {
            from_ms: covered_to,
            to_ms,
        });
    }
    blind
}

/// Several timelines of one thing (a device several liveness rules find) as one, at each moment
/// the worst of them: down over unknown over up. `before` as in [`stretches`], each timeline's
/// transitions in time order.
pub fn worst_of(timelines: &[(Option<Seen>, Vec<Transition>)]) -> (Option<Seen>, Vec<Transition>) {
    fn rank(state: Option<Seen>) -> u8 {
        match state {
            None => 0,
            Some(Seen::Up) => 1,
            Some(Seen::Unknown) => 2,
            Some(Seen::Down) => 3,
        }
    }
    let worst = |states: &[Option<Seen>]| states.iter().copied().max_by_key(|s| rank(*s)).flatten();
    let mut states: Vec<Option<Seen>> = timelines.iter().map(|(before, _)| *before).collect();
    let before = worst(&states);
    let mut moments: Vec<(i64, usize, Seen)> = timelines
        .iter()
        .enumerate()
        .flat_map(|(index, (_, transitions))| {
            transitions.iter().map(move |t| (t.at_ms, index, t.state))
        })
        .collect();
    moments.sort_by_key(|(at_ms, index, _)| (*at_ms, *index));
    let mut merged: Vec<Transition> = Vec::new();
    let mut current = before;
    let mut index = 0;
    while index < moments.len() {
        let at_ms = moments[index].0;
        while index < moments.len() && moments[index].0 == at_ms {
            states[moments[index].1] = Some(moments[index].2);
            index += 1;
        }
        let now = worst(&states);
        if now != current {
            if let Some(state) = now {
                merged.push(Transition { at_ms, state });
            }
            current = now;
        }
    }
    (before, merged)
}

impl Seen {
    pub fn of(state: DeviceState) -> Self {
        match state {
            DeviceState::Online => Seen::Up,
            DeviceState::Offline => Seen::Down,
            DeviceState::Unknown => Seen::Unknown,
        }
    }

    /// How uptime counts a status level: degraded is up (working, if not well), down is down.
    pub fn of_level(level: Level) -> Self {
        match level {
            Level::Up | Level::Degraded => Seen::Up,
            Level::Down => Seen::Down,
            Level::Unknown => Seen::Unknown,
        }
    }

    /// As the database keeps it (`device_transition.state`).
    pub fn key(self) -> &'static str {
        match self {
            Seen::Up => "online",
            Seen::Down => "offline",
            Seen::Unknown => "unknown",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        [Seen::Up, Seen::Down, Seen::Unknown]
            .into_iter()
            .find(|seen| seen.key() == key)
    }
}

/// A change of a device's state to record: what it became, the moment it did, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub state: Seen,
    pub at_ms: i64,
    pub cause: String,
}

/// The change a periodic look at a device finds: its verdict now against `last`, the state
/// recorded last and when. Lookout has seen without a break since `seeing_since_ms` (it started,
/// or the broker came back): a silence is counted from then at the earliest, since the device
/// may have sent while Lookout could not see, so a device is not called silent for Lookout's own
/// outage. Nothing when there is nothing to record yet; two changes for a device that was up
/// and went down since it was last recorded (its first messages came before the watcher followed
/// its rule, say): up at its newest live message, then down.
///
/// The times are the moments things happened, not when this look noticed: the report's time, the
/// moment the silence passed the rule's grace, the retained status's arrival. Only a device that
/// came back is timed by its newest message, as the messages in between are not looked at here;
/// the watcher records those from the live stream as they arrive, with their exact time, and a
/// look finds them only after it missed some (a lagging stream, another instance taking over).
pub fn sweep_change(
    device: &Device,
    last: Option<(Seen, i64)>,
    seeing_since_ms: i64,
    now_ms: i64,
) -> Vec<Change> {
    let state = Seen::of(device.verdict.state);
    if last.is_some_and(|(recorded, _)| recorded == state) {
        return Vec::new();
    }
    // The live stream records a message before the database holds it: evidence older than the
    // last record is the database lagging, not news.
    let evidence = &device.evidence;
    let newest = [
        evidence.last_live_ms,
        evidence.last_retained_ms,
        evidence.status.map(|status| status.at_ms),
    ]
    .into_iter()
    .flatten()
    .max();
    if let Some((_, recorded_at)) = last {
        if newest.is_none_or(|newest| newest < recorded_at) {
            return Vec::new();
        }
    }
    let mut live_before = None;
    let (at_ms, cause) = match device.verdict.cause {
        Cause::Silent {
            since_ms,
            interval_ms,
            at_least,
        } => {
            let grace_ms = interval_ms.saturating_mul(GRACE.0) / GRACE.1;
            let silent_at = since_ms.max(seeing_since_ms).saturating_add(grace_ms);
            if silent_at > now_ms {
                return Vec::new();
            }
            live_before = (!at_least).then_some(since_ms);
            (
                silent_at,
                format!(
                    "silent for more than {}, expected every {}",
                    format_span(grace_ms),
                    format_interval(interval_ms)
                ),
            )
        }
        Cause::ReportedOffline { at_ms, .. } => {
            live_before = evidence.last_live_ms.filter(|live| *live < at_ms);
            (
                at_ms,
                "reported offline (last will or status message)".to_owned(),
            )
        }
        Cause::Sending { .. } => (
            device.evidence.last_live_ms.unwrap_or(now_ms),
            "sending".to_owned(),
        ),
        Cause::Waiting {
            since_ms,
            reported_online: true,
            ..
        } => (since_ms, "retained status says online".to_owned()),
        Cause::Waiting { since_ms, .. } => (since_ms, "only retained messages".to_owned()),
        Cause::NothingReceived => (now_ms, "nothing received yet".to_owned()),
    };
    // Never before what is recorded already: the record stays in time order.
    let recorded_at = last.map_or(i64::MIN, |(_, at)| at);
    let mut changes = Vec::with_capacity(2);
    let was_up = last.is_some_and(|(recorded, _)| recorded == Seen::Up);
    if let Some(live) = live_before.filter(|live| !was_up && *live >= recorded_at) {
        changes.push(Change {
            state: Seen::Up,
            at_ms: live.min(now_ms),
            cause: "sending".to_owned(),
        });
    }
    changes.push(Change {
        state,
        at_ms: at_ms.max(recorded_at).min(now_ms),
        cause,
    });
    changes
}

/// The device a live message on `topic` is about under `rule`, and the change it makes at
/// `at_ms`: a report of offline on its status topic takes it down, any other live message shows
/// it is up (as [`crate::domain::liveness::decide`] would find the next time it looks).
pub fn message_change<'t>(
    rule: &LivenessRule,
    topic: &'t str,
    payload: &[u8],
    at_ms: i64,
) -> Option<(&'t str, Change)> {
    let on_status = rule
        .status
        .as_ref()
        .and_then(|pattern| pattern.device_of(topic));
    let device = on_status.or_else(|| rule.devices.device_of(topic))?;
    let reported = on_status.and_then(|_| read_status(payload, &rule.words));
    let (state, cause) = match reported {
        Some(Reported::Offline) => (Seen::Down, "reported offline (last will or status message)"),
        Some(Reported::Online) => (Seen::Up, "reported online"),
        None => (Seen::Up, "sending"),
    };
    Some((
        device,
        Change {
            state,
            at_ms,
            cause: cause.to_owned(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_time_counts_overlaps_once_and_only_inside_the_span() {
        let w = |from_ms, to_ms| Blind { from_ms, to_ms };
        assert_eq!(covered_ms(&[], 0, 100), 0);
        assert_eq!(covered_ms(&[w(10, 30), w(20, 40), w(50, 60)], 0, 100), 40);
        assert_eq!(covered_ms(&[w(-50, 20), w(90, 200)], 0, 100), 30);
        assert_eq!(covered_ms(&[w(10, 90), w(20, 30)], 0, 100), 80);
        assert_eq!(covered_ms(&[w(100, 200)], 0, 100), 0);
    }

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

    #[test]
    fn blind_windows_are_the_gaps_between_stretches_of_sight() {
        let b = |from_ms, to_ms| Blind { from_ms, to_ms };
        let seen = [(30, 40), (10, 20), (15, 18)];
        assert_eq!(
            blind_between(&seen, 0, 50, 5),
            vec![b(0, 10), b(20, 30), b(40, 50)]
        );
        // The stretch watched now ends a moment ago: not a blind window.
        assert_eq!(blind_between(&seen, 0, 50, 15), vec![b(0, 10), b(20, 30)]);
        // Nothing watched at all (before uptime was recorded): all of it.
        assert_eq!(blind_between(&[], 0, 50, 15), vec![b(0, 50)]);
        assert_eq!(blind_between(&[(0, 100)], 10, 50, 0), vec![]);
    }

    #[test]
    fn several_rules_of_one_device_show_the_worst_at_each_moment() {
        let (before, merged) = worst_of(&[
            (Some(Seen::Up), vec![t(10, Seen::Down), t(30, Seen::Up)]),
            (None, vec![t(20, Seen::Unknown), t(40, Seen::Up)]),
        ]);
        assert_eq!(before, Some(Seen::Up));
        assert_eq!(
            merged,
            vec![t(10, Seen::Down), t(30, Seen::Unknown), t(40, Seen::Up)]
        );
    }

    fn rule() -> LivenessRule {
        LivenessRule::check(
            7,
            crate::domain::liveness::RuleText {
                name: "sensors",
                devices: "sensors/+/#",
                status: "sensors/+/status",
                interval_seconds: "10",
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn device_at(seen: &[crate::domain::liveness::TopicSeen], now_ms: i64) -> Device {
        let [device] = crate::domain::liveness::evaluate(&[rule()], seen, now_ms)
            .try_into()
            .unwrap();
        device
    }

    #[test]
    fn a_silence_is_timed_when_it_passed_the_grace_and_not_during_lookouts_outage() {
        use crate::domain::liveness::TopicSeen;
        let seen = [TopicSeen::live("sensors/boiler/temp", 1_000, b"20")];
        let up = Some((Seen::Up, 1_000));
        // Expected every 10 s, silent after 15 s: down at 16 s, however late the look.
        let change = sweep_change(&device_at(&seen, 60_000), up, 0, 60_000);
        assert_eq!(moments(&change), [(Seen::Down, 16_000)]);
        // Lookout saw again from 50 s on: the device had until 65 s to show itself.
        assert_eq!(
            sweep_change(&device_at(&seen, 60_000), up, 50_000, 60_000),
            []
        );
        let change = sweep_change(&device_at(&seen, 70_000), up, 50_000, 70_000);
        assert_eq!(moments(&change), [(Seen::Down, 65_000)]);
        // The same state as recorded: nothing.
        assert_eq!(sweep_change(&device_at(&seen, 5_000), up, 0, 5_000), []);
        // Never seen up, and silent by the first look: up at its message, then down.
        let change = sweep_change(&device_at(&seen, 60_000), None, 0, 60_000);
        assert_eq!(moments(&change), [(Seen::Up, 1_000), (Seen::Down, 16_000)]);
    }

    fn moments(changes: &[Change]) -> Vec<(Seen, i64)> {
        changes.iter().map(|c| (c.state, c.at_ms)).collect()
    }

    #[test]
    fn a_live_message_tells_its_device_and_what_it_shows() {
        let rule = rule();
        let (device, change) =
            message_change(&rule, "sensors/boiler/status", b"offline", 5).unwrap();
        assert_eq!(
            (device, change.state, change.at_ms),
            ("boiler", Seen::Down, 5)
        );
        let (device, change) = message_change(&rule, "sensors/pump/temp", b"offline", 6).unwrap();
        assert_eq!(
            (device, change.state),
            ("pump", Seen::Up),
            "data, not a status"
        );
        assert_eq!(message_change(&rule, "plant/pump/temp", b"1", 6), None);
    }

    #[test]
    fn a_look_at_a_database_that_lags_the_live_stream_records_nothing() {
        use crate::domain::liveness::TopicSeen;
        // The stream recorded the device back at 20 s; the database still has only its
        // message of 1 s, long silent by now.
        let seen = [TopicSeen::live("sensors/boiler/temp", 1_000, b"20")];
        let device = device_at(&seen, 20_500);
        assert_eq!(
            sweep_change(&device, Some((Seen::Up, 20_000)), 0, 20_500),
            []
        );
        // The stream recorded its report of offline at 20 s; the database has only the data
        // message before it, so the device looks up.
        let seen = [TopicSeen::live("sensors/boiler/temp", 19_000, b"20")];
        let device = device_at(&seen, 20_500);
        assert_eq!(device.verdict.state, DeviceState::Online);
        assert_eq!(
            sweep_change(&device, Some((Seen::Down, 20_000)), 0, 20_500),
            []
        );
        // Once it holds something newer, a look records it.
        let seen = [TopicSeen::live("sensors/boiler/temp", 21_000, b"20")];
        let device = device_at(&seen, 21_500);
        let change = sweep_change(&device, Some((Seen::Down, 20_000)), 0, 21_500);
        assert_eq!(moments(&change), [(Seen::Up, 21_000)]);
    }
}
