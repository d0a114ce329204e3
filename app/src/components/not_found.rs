//! The page for an address that names nothing (also a topic that does not exist or that the
//! visitor may not read): a 404 on the server.

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <main>
            <h1>"Not found"</h1>
            <p>"There is no page here. " <a href="/">"See all topics"</a></p>
        </main>
    }
}
