//! What runs only on the server (the `ssr` feature): the store that speaks SQL, the access
//! policy, accounts, the state every request shares, the snapshots of public status pages, the
//! live hub, the ingest status, and the changes admins make. It uses the domain, and the store
//! nothing else of this layer; no component or page is known here.

pub mod access;
pub mod accounts;
pub mod alert_edits;
pub mod devices;
pub mod history;
pub mod ingest_status;
pub mod live_hub;
pub mod liveness_edits;
pub mod page_policy;
pub mod rule_edits;
pub mod series_edits;
pub mod snapshot;
pub mod state;
pub mod status_edits;
pub mod store;
pub mod token_edits;
pub mod topic_list;
