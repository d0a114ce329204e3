//! Ages that keep counting on a hydrated page, from the server's clock at render time.

use crate::domain::wording::format_age;
use leptos::prelude::*;
use std::time::Duration;

/// Ages on a page that keep counting once it is hydrated. Effects run only in the browser: the
/// `hydrated` marker tells users (and tests) the page is live, and the ticking offset keeps the
/// ages current without asking the server again.
#[derive(Clone, Copy)]
pub struct PageClock {
    pub hydrated: RwSignal<bool>,
    elapsed_ms: RwSignal<i64>,
}

impl PageClock {
    pub fn start() -> Self {
        let clock = Self {
            hydrated: RwSignal::new(false),
            elapsed_ms: RwSignal::new(0),
        };
        Effect::new(move |_| {
            clock.hydrated.set(true);
            let tick = Duration::from_secs(1);
            if let Ok(interval) =
                set_interval_with_handle(move || clock.elapsed_ms.update(|ms| *ms += 1000), tick)
            {
                on_cleanup(move || interval.clear());
            }
        });
        clock
    }

    /// "12 s ago" for a time `at_ms`, counted from the server's clock at render time
    /// (`server_now_ms`), so server and browser agree.
    pub fn age_from(
        self,
        server_now_ms: i64,
    ) -> impl Fn(i64) -> String + Copy + Send + Sync + 'static {
        move |at_ms: i64| format_age(server_now_ms - at_ms + self.elapsed_ms.get())
    }
}
