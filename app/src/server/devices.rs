//! Finding devices: the topics under the liveness rules' prefixes, read from the store, then
//! decided by [`crate::domain::liveness`]. Shared by the device list, the overview and public
//! status pages.

use crate::domain::liveness::{self, Device, LivenessRule};
use crate::server::store::Store;

/// The devices `rules` find among the topics `visible` lets through, decided at `now_ms`. Only
/// those topics count, so nothing of a hidden topic (not even a status) shapes what is shown.
pub async fn find_devices(
    store: &Store,
    rules: &[LivenessRule],
    visible: impl Fn(&str) -> bool,
    now_ms: i64,
) -> Result<Vec<Device>, sqlx::Error> {
    let mut prefixes: Vec<&str> = rules
        .iter()
        .flat_map(|rule| rule.literal_prefixes())
        .collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    let mut topics = store.device_topics(&prefixes).await?;
    topics.retain(|seen| visible(&seen.topic));
    Ok(liveness::evaluate(rules, &topics, now_ms))
}
