//! `/devices`: every device the visitor's topics reveal, with its state, why, and when it last
//! sent. What a state means is decided in [`crate::domain::liveness`]; this page fetches and
//! shows.

use crate::components::device_list::load_devices;
use crate::components::load_error::LoadError;
use crate::components::page_clock::PageClock;
use crate::domain::device_list::DeviceList;
use leptos::prelude::*;

/// `/devices`: every device with its state, the reason and when it last sent.
#[component]
pub fn DevicesPage() -> impl IntoView {
    let list = Resource::new(|| (), |_| load_devices());
    // Silence is decided by the clock, not by messages: the list is decided again now and then
    // once the page is hydrated (the interval runs only in the browser).
    Effect::new(move |_| {
        if let Ok(interval) = set_interval_with_handle(move || list.refetch(), DEVICES_REFRESH) {
            on_cleanup(move || interval.clear());
        }
    });
    view! {
        <main class="devices">
            <h1>"Devices"</h1>
            // Keeps the current list on screen while the next one loads.
            <Transition fallback=|| view! { <p>"Loading devices…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(list) => view! { <DeviceTable list/> }.into_any(),
                        Err(error) => {
                            view! { <LoadError error/> }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </main>
    }
}

/// How often the device list is decided again.
const DEVICES_REFRESH: std::time::Duration = std::time::Duration::from_secs(10);

#[component]
fn DeviceTable(list: DeviceList) -> impl IntoView {
    let clock = PageClock::start();
    let age_of = clock.age_from(list.server_now_ms);
    let counts = list.counts;
    let summary = view! {
        <p class="device-counts" aria-label="Devices by state">
            <span class="device-state online">{format!("{} online", counts.online)}</span>
            <span class="device-state offline">{format!("{} offline", counts.offline)}</span>
            <span class="device-state unknown">{format!("{} unknown", counts.unknown)}</span>
        </p>
    };
    let table = if list.devices.is_empty() {
        view! {
            <p class="empty">
                "No devices yet. An admin says how to find them (which topics belong to a device, \
                 how often it sends) on the device rules page."
            </p>
        }
        .into_any()
    } else {
        let rows = list
            .devices
            .into_iter()
            .map(|device| {
                let state = device.state.as_str();
                let key = format!("{}/{}", device.rule, device.name);
                let last_seen = match device.last_seen_ms {
                    Some(at_ms) => view! { <span>{move || age_of(at_ms)}</span> }.into_any(),
                    None => view! { <span class="never">"nothing live"</span> }.into_any(),
                };
                view! {
                    <tr data-device=key data-state=state>
                        <th scope="row" class="device">
                            {device.name} <span class="rule">{device.rule}</span>
                        </th>
                        <td><span class=format!("device-state {state}")>{state}</span></td>
                        <td class="reason">{device.reason}</td>
                        <td class="age">{last_seen}</td>
                        <td class="count">{device.topics}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <table class="device-table">
                <thead>
                    <tr>
                        <th scope="col">"Device"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Why"</th>
                        <th scope="col">"Last message"</th>
                        <th scope="col">"Topics"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <div class="devices-view" data-hydrated=move || clock.hydrated.get().to_string()>
            {summary}
            {table}
        </div>
    }
}
