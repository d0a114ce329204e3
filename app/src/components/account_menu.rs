//! The header's account menu: who is signed in, the links their role may use, and the logout
//! button; or the way to log in. Logging in and out are plain form posts handled by the server
//! (`server/src/login.rs`), so they work without JavaScript.

use crate::domain::publish::PUBLISH;
use crate::domain::roles::Role;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The signed-in user as the header shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignedInView {
    pub name: String,
    pub role: Role,
    /// An operator whom a compose rule lets build boards of their own.
    #[serde(default)]
    pub composes: bool,
}

#[server(endpoint = "current_visitor", output = crate::domain::answer::JsonAnswer)]
pub async fn load_current_visitor() -> Result<Option<SignedInView>, ServerFnError> {
    use crate::server::access::{current_visitor, BoardRights};
    let visitor = current_visitor();
    let Some(user) = visitor.user() else {
        return Ok(None);
    };
    let composes = match user.role {
        Role::Operator => {
            let state = crate::server::state::app_state()?;
            let rules = state
                .access
                .rules()
                .await
                .map_err(crate::components::load_error::unavailable)?;
            matches!(rules.board_rights(&visitor), BoardRights::Own { .. })
        }
        _ => false,
    };
    Ok(Some(SignedInView {
        name: user.name.clone(),
        role: user.role,
        composes,
    }))
}

/// Who is signed in, with the logout button; or the way to log in.
#[component]
pub fn AccountMenu() -> impl IntoView {
    let visitor = Resource::new(|| (), |_| load_current_visitor());
    view! {
        <Suspense>
            {move || Suspend::new(async move {
                match visitor.await.ok().flatten() {
                    Some(user) => {
                        // Only conveniences: the pages and forms themselves refuse everyone
                        // else.
                        let operator_links = (user.role >= Role::Operator).then(|| view! {
                            <a href=PUBLISH>"Publish"</a>
                            <a href="/incidents">"Incidents"</a>
                            {user.composes.then(|| view! { <a href="/admin/pages">"Boards"</a> })}
                        });
                        let admin_links = (user.role == Role::Admin).then(|| view! {
                            <nav class="admin-links" aria-label="Administration">
                                <a href="/admin/users">"Users"</a>
                                <a href="/admin/rules">"Rules"</a>
                                <a href="/admin/devices">"Device rules"</a>
                                <a href="/admin/series">"Series"</a>
                                <a href="/admin/pages">"Status pages"</a>
                                <a href="/admin/alerts">"Alerts"</a>
                            </nav>
                        });
                        view! {
                            <nav class="main-links" aria-label="Dashboard">
                                <a href="/">"Overview"</a>
                                <a href="/topics">"Explorer"</a>
                                <a href="/devices">"Devices"</a>
                                {operator_links}
                            </nav>
                            {admin_links}
                            <span class="account">
                                <a class="user" href="/account">{user.name}</a>
                                " (" {user.role.as_str()} ") "
                                <form method="post" action="/logout" class="logout">
                                    <button type="submit">"Log out"</button>
                                </form>
                            </span>
                        }
                        .into_any()
                    }
                    None => view! { <a class="account" href="/login">"Log in"</a> }.into_any(),
                }
            })}
        </Suspense>
    }
}
