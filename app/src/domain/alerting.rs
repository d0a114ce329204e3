//! When an alert fires, reminds, resolves or is held as flapping: the state of one rule for one
//! subject (a device, a topic), driven by what is observed and by the clock, as plain data. The
//! engine that feeds it (ingest, liveness, timers) and the channels that deliver what it says
//! live on the server; this is what users of other tools complain of when it is wrong: storms
//! from a value that hovers at its threshold (hysteresis and a duration guard against it), from a
//! device that comes and goes (the flap guard holds it and says so once), and reminders that come
//! too often or never.
//!
//! Times are milliseconds since the Unix epoch; nothing here reads a clock.

use serde::{Deserialize, Serialize};

/// How one rule's state moves, the same for every subject it watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// How long a subject must be bad before the alert fires (0: at once).
    pub for_ms: i64,
    /// While firing, say so again this often (none: once).
    pub reminder_ms: Option<i64>,
    /// Whether the end of a firing is told.
    pub notify_resolve: bool,
    /// More than this many changes (firing or resolved) within `flap_window_ms` hold the alert
    /// as flapping: told once, then nothing until it has kept still for a whole window.
    pub flap_changes: u32,
    pub flap_window_ms: i64,
}

/// The shortest reminder interval a rule may ask for: a reminder is for a person, not a log.
pub const MIN_REMINDER_MS: i64 = 5 * 60 * 1000;

impl Timing {
    /// A timing a person can live with, or what is wrong with it.
    pub fn checked(self) -> Result<Self, &'static str> {
        if self.for_ms < 0 {
            return Err("the duration before firing cannot be negative");
        }
        if self
            .reminder_ms
            .is_some_and(|every| every < MIN_REMINDER_MS)
        {
            return Err("reminders can come at most every 5 minutes");
        }
        if self.flap_changes < 2 {
            return Err("the flap guard needs at least 2 changes");
        }
        if self.flap_window_ms <= 0 {
            return Err("the flap window must be longer than nothing");
        }
        Ok(self)
    }
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            for_ms: 0,
            reminder_ms: None,
            notify_resolve: true,
            // Three firings and their ends within ten minutes is no longer news each time.
            flap_changes: 6,
            flap_window_ms: 10 * 60 * 1000,
        }
    }
}

/// A threshold on a number, with a separate level at which it counts as recovered, so a value
/// that hovers at the threshold does not fire and resolve at every message.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// Bad above `trigger` (else below it).
    pub above: bool,
    pub trigger: f64,
    /// Good again only beyond this, on the good side of `trigger` (or at it: no hysteresis).
    pub recover: f64,
}

impl Threshold {
    pub fn checked(self) -> Result<Self, &'static str> {
        if !self.trigger.is_finite() || !self.recover.is_finite() {
            return Err("thresholds are numbers");
        }
        let on_good_side = if self.above {
            self.recover <= self.trigger
        } else {
            self.recover >= self.trigger
        };
        if !on_good_side {
            return Err("the recovery level must be on the good side of the threshold");
        }
        Ok(self)
    }

    /// Whether `value` is bad, for a subject that is bad now (`was_bad`) or not: crossing
    /// `trigger` makes it bad, and only crossing `recover` makes it good again.
    pub fn is_bad(&self, value: f64, was_bad: bool) -> bool {
        let beyond = |level: f64| {
            if self.above {
                value > level
            } else {
                value < level
            }
        };
        if was_bad {
            // Still bad until it is back past the recovery level.
            !self.recovered(value)
        } else {
            beyond(self.trigger)
        }
    }

    fn recovered(&self, value: f64) -> bool {
        if self.above {
            value <= self.recover
        } else {
            value >= self.recover
        }
    }
}

/// What one subject's alert says, to be delivered to the rule's channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Told {
    /// Bad for at least the rule's duration, since `since` (when it first turned bad).
    Firing { since_ms: i64 },
    /// Still firing, since `since`.
    Reminder { since_ms: i64 },
    /// Good again; it had fired since `since`.
    Resolved { since_ms: i64 },
    /// Changing too often to tell each change: held until it keeps still.
    Flapping { changes: u32 },
    /// Kept still for a whole flap window after flapping; `firing` is how it stands now, since
    /// `since` (when it turned bad, or when it last turned good).
    Steady { firing: bool, since_ms: i64 },
}

/// One rule's state for one subject.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertState {
    /// Since when the subject has been bad without a break (before the duration has passed,
    /// the alert is pending).
    bad_since_ms: Option<i64>,
    /// Whether the alert is firing (told or, while flapping, held).
    firing: bool,
    /// When the current firing began (told or, while flapping, held).
    fired_ms: Option<i64>,
    /// When it was last told it fires (the firing itself or a reminder).
    told_ms: Option<i64>,
    /// The times of the recent changes between firing and not, oldest first, for the flap
    /// guard; never more than the guard's count plus one.
    changes_ms: Vec<i64>,
    flapping: bool,
    /// Whether the channels' last word differs from `firing`: a maintenance window kept a
    /// firing or its end from them. (Absent in states stored before maintenance: in step.)
    #[serde(default)]
    unheard: bool,
    /// Since when the firing the channels last heard of had been bad, for an end told late.
    #[serde(default)]
    heard_since_ms: Option<i64>,
}

impl AlertState {
    pub fn is_firing(&self) -> bool {
        self.firing
    }

    pub fn is_flapping(&self) -> bool {
        self.flapping
    }

    /// Whether a maintenance window kept a firing or its end from the channels, which
    /// [`AlertState::pass`] tells once nothing mutes it any more.
    pub fn owes_word(&self) -> bool {
        self.unheard
    }

    /// Since when it has been bad, while it is.
    pub fn bad_since_ms(&self) -> Option<i64> {
        self.bad_since_ms
    }

    /// Takes in whether the subject is bad at `now_ms`, and tells what changes because of it
    /// (and of the time that passed).
    pub fn observe(&mut self, timing: &Timing, now_ms: i64, bad: bool) -> Vec<Told> {
        match (bad, self.bad_since_ms) {
            (true, None) => self.bad_since_ms = Some(now_ms),
            (false, Some(_)) => self.bad_since_ms = None,
            _ => {}
        }
        self.advance(timing, now_ms)
    }

    /// Tells what the passing of time alone changes by `now_ms`: a duration that ran out, a
    /// reminder that is due, a flapping alert that kept still.
    pub fn advance(&mut self, timing: &Timing, now_ms: i64) -> Vec<Told> {
        let mut told = Vec::new();
        let should_fire = self
            .bad_since_ms
            .is_some_and(|since| now_ms - since >= timing.for_ms);
        if should_fire != self.firing {
            self.firing = should_fire;
            let fired_ms = self.fired_ms.take();
            if should_fire {
                self.fired_ms = Some(now_ms);
            }
            self.changes_ms.push(now_ms);
            let window_start = now_ms - timing.flap_window_ms;
            self.changes_ms.retain(|at| *at > window_start);
            let limit = timing.flap_changes as usize;
            if self.changes_ms.len() > limit + 1 {
                let extra = self.changes_ms.len() - (limit + 1);
                self.changes_ms.drain(..extra);
            }
            if !self.flapping && self.changes_ms.len() > limit {
                self.flapping = true;
                told.push(Told::Flapping {
                    changes: self.changes_ms.len() as u32,
                });
            } else if !self.flapping {
                let since_ms = self.bad_since_ms.unwrap_or(now_ms);
                if self.firing {
                    self.told_ms = Some(now_ms);
                    told.push(Told::Firing { since_ms });
                } else if timing.notify_resolve {
                    told.push(Told::Resolved {
                        since_ms: fired_ms.unwrap_or(now_ms),
                    });
                }
            }
            if !self.firing {
                self.told_ms = None;
            }
        }
        if self.flapping
            && self
                .changes_ms
                .last()
                .is_none_or(|last| now_ms - last >= timing.flap_window_ms)
        {
            self.flapping = false;
            let last_change_ms = self.changes_ms.last().copied().unwrap_or(now_ms);
            self.changes_ms.clear();
            let since_ms = if self.firing {
                self.told_ms = Some(now_ms);
                self.bad_since_ms.unwrap_or(last_change_ms)
            } else {
                last_change_ms
            };
            told.push(Told::Steady {
                firing: self.firing,
                since_ms,
            });
        }
        if self.firing && !self.flapping {
            if let (Some(every), Some(told_ms)) = (timing.reminder_ms, self.told_ms) {
                if now_ms - told_ms >= every {
                    self.told_ms = Some(now_ms);
                    told.push(Told::Reminder {
                        since_ms: self.bad_since_ms.unwrap_or(told_ms),
                    });
                }
            }
        }
        told
    }

    /// What of `told` reaches the channels: nothing while `muted` (a maintenance window covers
    /// the subject), and once it is not, what they missed, so their last word matches the state
    /// again: a firing that began during the window is told when the window ends, an end of a
    /// firing they were told is told too, and a firing that came and went inside the window is
    /// never told; an end is told only if the rule tells ends. `was_firing` is how it stood
    /// before `told` (which already moved it).
    pub fn pass(
        &mut self,
        timing: &Timing,
        was_firing: bool,
        muted: bool,
        now_ms: i64,
        told: Vec<Told>,
    ) -> Vec<Told> {
        let mut heard = was_firing != self.unheard;
        let mut passed = Vec::new();
        if !muted {
            for word in told {
                match word {
                    Told::Firing { since_ms } => {
                        // After an end that was muted, the channels still think it fires.
                        if !heard {
                            self.heard_since_ms = Some(since_ms);
                            passed.push(word);
                        }
                        heard = true;
                    }
                    Told::Reminder { since_ms } => {
                        if !heard {
                            self.heard_since_ms = Some(since_ms);
                            passed.push(Told::Firing { since_ms });
                        } else {
                            passed.push(word);
                        }
                        heard = true;
                    }
                    Told::Resolved { .. } => {
                        if heard {
                            passed.push(word);
                        }
                        heard = false;
                    }
                    Told::Flapping { .. } => passed.push(word),
                    Told::Steady { firing, since_ms } => {
                        if firing {
                            self.heard_since_ms = Some(since_ms);
                        }
                        passed.push(word);
                        heard = firing;
                    }
                }
            }
            // What a window kept from them (a flapping state says its word when it settles).
            if heard != self.firing && !self.flapping {
                if self.firing {
                    let since_ms = self.bad_since_ms.unwrap_or(now_ms);
                    self.heard_since_ms = Some(since_ms);
                    self.told_ms = Some(now_ms);
                    passed.push(Told::Firing { since_ms });
                } else if timing.notify_resolve {
                    passed.push(Told::Resolved {
                        since_ms: self.heard_since_ms.unwrap_or(now_ms),
                    });
                }
                heard = self.firing;
            }
        }
        self.unheard = heard != self.firing;
        passed
    }

    /// When [`AlertState::advance`] next has something to tell, if nothing is observed before:
    /// the engine sleeps until then instead of polling.
    pub fn next_deadline_ms(&self, timing: &Timing) -> Option<i64> {
        let pending = match (self.firing, self.bad_since_ms) {
            (false, Some(since)) => Some(since + timing.for_ms),
            _ => None,
        };
        let held_or_reminded = if self.flapping {
            self.changes_ms
                .last()
                .map(|last| last + timing.flap_window_ms)
        } else if let (true, Some(every), Some(told)) =
            (self.firing, timing.reminder_ms, self.told_ms)
        {
            Some(told + every)
        } else {
            None
        };
        pending.into_iter().chain(held_or_reminded).min()
    }

    /// Counts a pending badness from `now_ms` at the earliest: after Lookout could not see, a
    /// silence it could not have observed must not fire the moment it sees again. A firing is
    /// left as it is.
    pub fn recount_from(&mut self, now_ms: i64) {
        if let (false, Some(since)) = (self.firing, self.bad_since_ms) {
            self.bad_since_ms = Some(since.max(now_ms));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    fn timing() -> Timing {
        Timing {
            for_ms: 2 * MINUTE,
            reminder_ms: Some(30 * MINUTE),
            notify_resolve: true,
            flap_changes: 4,
            flap_window_ms: 10 * MINUTE,
        }
    }

    #[test]
    fn an_alert_fires_only_after_its_duration_and_resolves_once() {
        let timing = timing();
        let mut state = AlertState::default();
        assert_eq!(state.observe(&timing, 0, true), []);
        assert_eq!(state.next_deadline_ms(&timing), Some(2 * MINUTE));
        // Bad again and again within the duration: still pending, nothing told.
        assert_eq!(state.observe(&timing, MINUTE, true), []);
        assert_eq!(
            state.advance(&timing, 2 * MINUTE),
            [Told::Firing { since_ms: 0 }]
        );
        assert!(state.is_firing());
        // Every later bad reading is the same firing.
        assert_eq!(state.observe(&timing, 3 * MINUTE, true), []);
        assert_eq!(
            state.observe(&timing, 5 * MINUTE, false),
            [Told::Resolved {
                since_ms: 2 * MINUTE
            }]
        );
        assert_eq!(state.observe(&timing, 6 * MINUTE, false), []);
        assert_eq!(state.next_deadline_ms(&timing), None);
    }

    #[test]
    fn a_bad_spell_shorter_than_the_duration_tells_nothing() {
        let timing = timing();
        let mut state = AlertState::default();
        assert_eq!(state.observe(&timing, 0, true), []);
        assert_eq!(state.observe(&timing, MINUTE, false), []);
        // The duration counts from the new spell, not the old one.
        assert_eq!(state.observe(&timing, 90_000, true), []);
        assert_eq!(state.advance(&timing, 2 * MINUTE + 1), []);
        assert_eq!(
            state.advance(&timing, 90_000 + 2 * MINUTE),
            [Told::Firing { since_ms: 90_000 }]
        );
    }

    #[test]
    fn reminders_come_at_their_interval_while_firing_and_stop_with_it() {
        let timing = timing();
        let mut state = AlertState::default();
        state.observe(&timing, 0, true);
        state.advance(&timing, 2 * MINUTE);
        assert_eq!(state.next_deadline_ms(&timing), Some(32 * MINUTE));
        assert_eq!(state.advance(&timing, 31 * MINUTE), []);
        assert_eq!(
            state.advance(&timing, 32 * MINUTE),
            [Told::Reminder { since_ms: 0 }]
        );
        // Counted from the last reminder, and only once however late the clock is read.
        assert_eq!(state.advance(&timing, 61 * MINUTE), []);
        assert_eq!(
            state.advance(&timing, 95 * MINUTE),
            [Told::Reminder { since_ms: 0 }]
        );
        state.observe(&timing, 96 * MINUTE, false);
        assert_eq!(state.advance(&timing, 200 * MINUTE), []);
        assert_eq!(state.next_deadline_ms(&timing), None);
    }

    #[test]
    fn without_reminders_or_resolve_notices_a_firing_is_told_once() {
        let timing = Timing {
            reminder_ms: None,
            notify_resolve: false,
            ..timing()
        };
        let mut state = AlertState::default();
        state.observe(&timing, 0, true);
        assert_eq!(
            state.advance(&timing, 2 * MINUTE),
            [Told::Firing { since_ms: 0 }]
        );
        assert_eq!(state.advance(&timing, 500 * MINUTE), []);
        assert_eq!(state.observe(&timing, 501 * MINUTE, false), []);
    }

    #[test]
    fn a_flapping_subject_is_told_once_then_held_until_it_keeps_still() {
        let timing = Timing {
            for_ms: 0,
            ..timing()
        };
        let mut state = AlertState::default();
        let mut told = Vec::new();
        // Comes and goes every 30 s for 5 minutes: 10 changes.
        for step in 0..10 {
            told.extend(state.observe(&timing, step * 30_000, step % 2 == 0));
        }
        assert_eq!(
            told,
            [
                Told::Firing { since_ms: 0 },
                Told::Resolved { since_ms: 0 },
                Told::Firing { since_ms: 60_000 },
                Told::Resolved { since_ms: 60_000 },
                Told::Flapping { changes: 5 },
            ]
        );
        // A firing longer than the flap window still tells when it began.
        let mut long = AlertState::default();
        long.observe(&timing, 0, true);
        assert_eq!(
            long.observe(&timing, 60 * MINUTE, false),
            [Told::Resolved { since_ms: 0 }]
        );
        assert!(state.is_flapping());
        // Settles on bad at 5 min; held until a whole window passes without a change.
        assert_eq!(state.observe(&timing, 5 * MINUTE, true), []);
        assert_eq!(state.next_deadline_ms(&timing), Some(15 * MINUTE));
        assert_eq!(state.advance(&timing, 14 * MINUTE), []);
        assert_eq!(
            state.advance(&timing, 15 * MINUTE),
            [Told::Steady {
                firing: true,
                since_ms: 5 * MINUTE
            }]
        );
        assert!(!state.is_flapping());
        // From then on it reminds as any firing does.
        assert_eq!(
            state.advance(&timing, 45 * MINUTE),
            [Told::Reminder {
                since_ms: 5 * MINUTE
            }]
        );
    }

    #[test]
    fn changes_spread_wider_than_the_window_are_no_flapping() {
        let timing = Timing {
            for_ms: 0,
            reminder_ms: None,
            ..timing()
        };
        let mut state = AlertState::default();
        for step in 0..20 {
            // A change every 3 minutes: at most 4 within any 10.
            let told = state.observe(&timing, step * 3 * MINUTE, step % 2 == 0);
            assert_eq!(told.len(), 1, "step {step}: {told:?}");
            assert!(!matches!(told[0], Told::Flapping { .. }), "step {step}");
        }
    }

    #[test]
    fn maintenance_keeps_words_back_and_tells_what_was_missed_after_it() {
        let timing = Timing {
            for_ms: 0,
            ..timing()
        };
        // Fires inside the window: told when the window ends, since when it began.
        let mut state = AlertState::default();
        let told = state.observe(&timing, MINUTE, true);
        assert_eq!(state.pass(&timing, false, true, MINUTE, told), []);
        assert!(state.owes_word());
        // Reminders while muted say nothing either.
        let told = state.advance(&timing, 40 * MINUTE);
        assert_eq!(state.pass(&timing, true, true, 40 * MINUTE, told), []);
        assert_eq!(
            state.pass(&timing, true, false, 50 * MINUTE, Vec::new()),
            [Told::Firing { since_ms: MINUTE }]
        );
        assert!(!state.owes_word());
        // Its end, outside any window, is told as usual.
        let told = state.observe(&timing, 60 * MINUTE, false);
        assert_eq!(
            state.pass(&timing, true, false, 60 * MINUTE, told),
            [Told::Resolved { since_ms: MINUTE }]
        );

        // Comes and goes inside the window: never told.
        let mut brief = AlertState::default();
        let told = brief.observe(&timing, 0, true);
        assert_eq!(brief.pass(&timing, false, true, 0, told), []);
        let told = brief.observe(&timing, MINUTE, false);
        assert_eq!(brief.pass(&timing, true, true, MINUTE, told), []);
        assert_eq!(
            brief.pass(&timing, false, false, 2 * MINUTE, Vec::new()),
            []
        );
        assert!(!brief.owes_word());

        // Told before the window, ends inside it: the end is told after it.
        let mut told_before = AlertState::default();
        let told = told_before.observe(&timing, 0, true);
        assert_eq!(
            told_before.pass(&timing, false, false, 0, told),
            [Told::Firing { since_ms: 0 }]
        );
        let told = told_before.observe(&timing, 10 * MINUTE, false);
        assert_eq!(told_before.pass(&timing, true, true, 10 * MINUTE, told), []);
        assert!(told_before.owes_word());
        // Fires again before the window ends: the channels think it fires, nothing to say.
        let told = told_before.observe(&timing, 12 * MINUTE, true);
        assert_eq!(
            told_before.pass(&timing, false, true, 12 * MINUTE, told),
            []
        );
        assert_eq!(
            told_before.pass(&timing, true, false, 30 * MINUTE, Vec::new()),
            []
        );
        let told = told_before.observe(&timing, 40 * MINUTE, false);
        assert_eq!(
            told_before.pass(&timing, true, false, 40 * MINUTE, told),
            [Told::Resolved {
                since_ms: 12 * MINUTE
            }]
        );
    }

    #[test]
    fn a_rule_that_does_not_tell_ends_tells_none_after_maintenance_either() {
        let timing = Timing {
            for_ms: 0,
            notify_resolve: false,
            ..timing()
        };
        let mut state = AlertState::default();
        let told = state.observe(&timing, 0, true);
        assert_eq!(
            state.pass(&timing, false, false, 0, told),
            [Told::Firing { since_ms: 0 }]
        );
        // Its end, outside any window: nothing, and nothing owed.
        let told = state.observe(&timing, MINUTE, false);
        assert_eq!(state.pass(&timing, true, false, MINUTE, told), []);
        assert!(!state.owes_word());
        // Its end inside a window: nothing after it either.
        let told = state.observe(&timing, 2 * MINUTE, true);
        state.pass(&timing, false, false, 2 * MINUTE, told);
        let told = state.observe(&timing, 3 * MINUTE, false);
        assert_eq!(state.pass(&timing, true, true, 3 * MINUTE, told), []);
        assert_eq!(
            state.pass(&timing, false, false, 4 * MINUTE, Vec::new()),
            []
        );
        assert!(!state.owes_word());
    }

    #[test]
    fn a_state_stored_before_maintenance_existed_reads_as_in_step() {
        let timing = Timing {
            for_ms: 0,
            ..timing()
        };
        let mut state = AlertState::default();
        state.observe(&timing, 0, true);
        let mut stored = serde_json::to_value(&state).unwrap();
        let fields = stored.as_object_mut().unwrap();
        fields.remove("unheard");
        fields.remove("heard_since_ms");
        let mut read: AlertState = serde_json::from_value(stored).unwrap();
        assert!(!read.owes_word());
        let told = read.observe(&timing, MINUTE, false);
        assert_eq!(
            read.pass(&timing, true, false, MINUTE, told),
            [Told::Resolved { since_ms: 0 }]
        );
    }

    #[test]
    fn a_threshold_recovers_only_past_its_recovery_level() {
        let hot = Threshold {
            above: true,
            trigger: 80.0,
            recover: 75.0,
        }
        .checked()
        .unwrap();
        let timing = Timing {
            for_ms: 0,
            ..timing()
        };
        let mut state = AlertState::default();
        let mut told = Vec::new();
        for (n, value) in [79.0, 80.5, 79.0, 81.0, 76.0, 75.0, 79.9, 80.0]
            .into_iter()
            .enumerate()
        {
            let bad = hot.is_bad(value, state.bad_since_ms().is_some());
            told.extend(state.observe(&timing, n as i64 * 1000, bad));
        }
        // One firing at 80.5, one recovery at 75, none for the hovering between.
        assert_eq!(
            told,
            [
                Told::Firing { since_ms: 1000 },
                Told::Resolved { since_ms: 1000 }
            ]
        );
        let cold = Threshold {
            above: false,
            trigger: 5.0,
            recover: 7.0,
        };
        assert!(cold.is_bad(4.9, false));
        assert!(cold.is_bad(6.9, true));
        assert!(!cold.is_bad(7.0, true));
        assert!(!cold.is_bad(6.0, false));
    }

    #[test]
    fn settings_a_person_cannot_live_with_are_refused() {
        let refused = [
            Timing {
                reminder_ms: Some(MINUTE),
                ..timing()
            },
            Timing {
                for_ms: -1,
                ..timing()
            },
            Timing {
                flap_changes: 1,
                ..timing()
            },
            Timing {
                flap_window_ms: 0,
                ..timing()
            },
        ];
        for timing in refused {
            assert!(timing.checked().is_err(), "{timing:?}");
        }
        assert!(timing().checked().is_ok());
        for (above, trigger, recover) in [(true, 80.0, 85.0), (false, 5.0, 4.0)] {
            let threshold = Threshold {
                above,
                trigger,
                recover,
            };
            assert!(threshold.checked().is_err(), "{threshold:?}");
        }
        assert!(Threshold {
            above: true,
            trigger: f64::NAN,
            recover: 1.0
        }
        .checked()
        .is_err());
    }
}
