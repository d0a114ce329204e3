//! The state every request handler and server function shares.

use crate::domain::series::SharedSeries;
use crate::server::access::AccessPolicy;
use crate::server::ingest_status::IngestStatus;
use crate::server::live_hub::LiveHub;
use crate::server::snapshot::StatusPages;
use crate::server::store::Store;
use axum::extract::FromRef;
use leptos::prelude::{use_context, LeptosOptions, ServerFnError};
use std::sync::Arc;

/// One pointer to [`Parts`]: axum clones the state for every middleware and handler of every
/// request, and cloning the parts one by one (Leptos' options alone hold a dozen strings) cost
/// more than serving a cached status page.
#[derive(Clone)]
pub struct AppState(Arc<Parts>);

pub struct Parts {
    pub leptos_options: LeptosOptions,
    pub store: Store,
    pub ingest: IngestStatus,
    pub access: AccessPolicy,
    pub live: LiveHub,
    pub status_pages: StatusPages,
    /// The named series (fields of JSON payloads) as the writer folds them and pages offer them.
    pub series: SharedSeries,
    /// Wakes this instance's sender of notices (`server/src/alert_outbox.rs`) when one is queued.
    pub outbox: Arc<tokio::sync::Notify>,
}

impl AppState {
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The state, in a server function: the server provides it as context to every request.
pub fn app_state() -> Result<AppState, ServerFnError> {
    use_context::<AppState>().ok_or_else(|| ServerFnError::new("application state is missing"))
}
