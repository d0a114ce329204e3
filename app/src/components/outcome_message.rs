//! The outcome of an admin's last form post, named in the query (`?done=CODE` or `?error=CODE`)
//! and shown as the fixed text of that code.

use crate::domain::outcome::Outcome;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The outcome named in the query, if any.
#[component]
pub fn OutcomeMessage() -> impl IntoView {
    let query = use_query_map();
    move || {
        let query = query.read();
        let done = query.get("done").and_then(|code| Outcome::from_code(&code));
        let error = query
            .get("error")
            .and_then(|code| Outcome::from_code(&code));
        match (
            done.filter(|o| !o.is_error()),
            error.filter(|o| o.is_error()),
        ) {
            (_, Some(error)) => {
                Some(view! { <p class="error" role="alert">{error.text()}</p> }.into_any())
            }
            (Some(done), None) => {
                Some(view! { <p class="done" role="status">{done.text()}</p> }.into_any())
            }
            (None, None) => None,
        }
    }
}
