//! The admin pages: users, access rules, device rules, series, status pages and alerts. They read through the
//! `admin_*` server functions and change things with plain form posts to `/admin/...` (handled in
//! `server/src/admin.rs`), so they work without JavaScript. Who may open them is the access
//! policy's decision (`Area::Admin`).

pub mod alerts;
pub mod device_rules;
pub mod rules;
pub mod series;
pub mod status_pages;
pub mod users;

#[cfg(feature = "ssr")]
pub use crate::components::load_error::unavailable;
