//! What a page shows in place of data that could not be loaded.

use leptos::prelude::*;

/// What a page shows where data could not be loaded: the server function's message, which never
/// carries database details (those go to the log).
#[component]
pub fn LoadError(error: ServerFnError) -> impl IntoView {
    view! { <p class="error" role="alert">{error.to_string()}</p> }
}
