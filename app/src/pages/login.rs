//! `/login`: the login form, and what it should say on a fresh install. Logging in and out
//! themselves are plain form posts handled by the server (`server/src/login.rs`), so they work
//! without JavaScript.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Whether anyone can log in yet: a fresh install says how to create the first admin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoginHints {
    pub no_users_yet: bool,
}

#[server(endpoint = "login_hints", output = crate::domain::answer::JsonAnswer)]
pub async fn load_login_hints() -> Result<LoginHints, ServerFnError> {
    let state = crate::server::state::app_state()?;
    let users = state.store.count_users().await.map_err(|error| {
        tracing::error!(%error, "counting users failed");
        ServerFnError::new("unavailable right now")
    })?;
    Ok(LoginHints {
        no_users_yet: users == 0,
    })
}

/// `/login`: a plain form posted to the server, so it works with JavaScript off. The query says
/// what happened last (`failed`, `logged_out`) and where to go after (`next`).
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let hints = Resource::new(|| (), |_| load_login_hints());
    let next = move || query.read().get("next").unwrap_or_default();
    let failed = move || query.read().get("failed").is_some();
    let logged_out = move || query.read().get("logged_out").is_some();

    view! {
        <main class="login">
            <h1>"Log in"</h1>
            <Show when=logged_out>
                <p class="notice" role="status">"You have logged out."</p>
            </Show>
            <Suspense>
                {move || Suspend::new(async move {
                    hints.await.ok().filter(|hints| hints.no_users_yet).map(|_| view! {
                        <p class="notice">
                            "No users yet. Create the first admin on the server with "
                            <code>"lookout user add NAME --role admin"</code> "."
                        </p>
                    })
                })}
            </Suspense>
            <form method="post" action="/login" class="login-form">
                <input type="hidden" name="next" value=next/>
                // A failed login is said at the fields it is about, and they say so too.
                <label>
                    "User name"
                    <input
                        name="name"
                        autocomplete="username"
                        required
                        aria-invalid=move || failed().then_some("true")
                        aria-describedby=move || failed().then_some("login-failed")
                    />
                </label>
                <label>
                    "Password"
                    <input
                        name="password"
                        type="password"
                        autocomplete="current-password"
                        required
                        aria-invalid=move || failed().then_some("true")
                        aria-describedby=move || failed().then_some("login-failed")
                    />
                </label>
                <Show when=failed>
                    <p class="field-error" id="login-failed" role="alert">
                        "That user name and password do not match."
                    </p>
                </Show>
                <button type="submit">"Log in"</button>
            </form>
        </main>
    }
}
