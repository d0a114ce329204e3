//! What runs only on the server (the `ssr` feature): the store that speaks SQL, the access
//! policy, accounts, the shared state, snapshots of status pages, the live hub, and the changes
//! admins make. It uses the domain; no page or component is known here.

pub mod devices;
pub mod ingest_status;
pub mod live_hub;
pub mod store;
pub mod topic_list;
