//! What the pages need to know about the visitor's login: who is signed in (for the header) and
//! what the login page should say. Logging in and out themselves are plain form posts handled by
//! the server (`server/src/login.rs`), so they work without JavaScript.

use crate::domain::roles::Role;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The signed-in user as the header shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignedInView {
    pub name: String,
    pub role: Role,
}

#[server(endpoint = "current_visitor", output = crate::domain::answer::JsonAnswer)]
pub async fn load_current_visitor() -> Result<Option<SignedInView>, ServerFnError> {
    Ok(crate::server::access::current_visitor()
        .user()
        .map(|user| SignedInView {
            name: user.name.clone(),
            role: user.role,
        }))
}

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
