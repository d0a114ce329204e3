//! The state every request handler and server function shares.

use crate::access::AccessPolicy;
use crate::ingest_status::IngestStatus;
use crate::live::LiveHub;
use crate::snapshot::StatusPages;
use crate::store::Store;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub store: Store,
    pub ingest: IngestStatus,
    pub access: AccessPolicy,
    pub live: LiveHub,
    pub status_pages: StatusPages,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
