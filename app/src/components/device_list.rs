//! The device list that both the overview (its counts) and the devices page read.

use crate::domain::device_list::DeviceList;
use leptos::prelude::*;

/// The devices of the topics the visitor may read.
#[server(endpoint = "devices", output = crate::domain::answer::JsonAnswer)]
pub async fn load_devices() -> Result<DeviceList, ServerFnError> {
    let state = crate::server::state::app_state()?;
    let unavailable = |error: sqlx::Error| {
        tracing::error!(error = ?error, "listing the devices failed");
        ServerFnError::new("the device list is unavailable right now")
    };
    let visitor = crate::server::access::current_visitor();
    let access = state.access.rules().await.map_err(unavailable)?;
    let rules = state.store.liveness_rules().await.map_err(unavailable)?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let devices = crate::server::devices::find_devices(
        &state.store,
        &rules,
        |topic| access.may_read(&visitor, topic),
        now_ms,
    )
    .await
    .map_err(unavailable)?;
    Ok(DeviceList::new(&devices, now_ms))
}
