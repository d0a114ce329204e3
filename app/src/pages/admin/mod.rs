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

/// What an admin page's server function answers when the database fails: the outcome's fixed
/// text, with the cause in the log.
#[cfg(feature = "ssr")]
pub fn unavailable(error: sqlx::Error) -> leptos::prelude::ServerFnError {
    tracing::error!(error = ?error, "reading for an admin page failed");
    leptos::prelude::ServerFnError::new(crate::domain::outcome::Outcome::Unavailable.text())
}
