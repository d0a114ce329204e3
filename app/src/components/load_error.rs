//! What a page shows in place of data that could not be loaded.

use leptos::prelude::*;

/// What a page shows where data could not be loaded: the server function's message, which never
/// carries database details (those go to the log).
#[component]
pub fn LoadError(error: ServerFnError) -> impl IntoView {
    view! { <p class="error" role="alert">{error.to_string()}</p> }
}

/// What a page's server function answers when the database fails: the outcome's fixed text,
/// with the cause in the log.
#[cfg(feature = "ssr")]
pub fn unavailable(error: sqlx::Error) -> ServerFnError {
    tracing::error!(error = ?error, "reading for a page failed");
    ServerFnError::new(crate::domain::outcome::Outcome::Unavailable.text())
}
