//! What the login page should say. Logging in and out themselves are plain form posts handled by
//! the server (`server/src/login.rs`), so they work without JavaScript.

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
