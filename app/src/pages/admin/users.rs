//! `/admin/users`: every user, with forms to add one, change a role, set a new password and
//! disable or enable.

use crate::components::load_error::LoadError;
use crate::components::outcome_message::{FieldProblem, FormId, OutcomeMessage};
use crate::domain::roles::Role;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A user as the users page lists them; never their password hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    /// Formatted on the server, so the page reads the same with and without JavaScript.
    pub created: String,
}

#[server(endpoint = "admin_users", output = crate::domain::answer::JsonAnswer)]
pub async fn load_admin_users() -> Result<Vec<UserView>, ServerFnError> {
    let users = crate::server::state::app_state()?
        .store
        .list_users()
        .await
        .map_err(super::unavailable)?;
    Ok(users
        .into_iter()
        .map(|info| UserView {
            name: info.user.name,
            role: info.user.role,
            disabled: info.user.disabled,
            created: info.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        })
        .collect())
}

/// The add form's [`FormId`].
const ADD_USER_FORM: &str = "add-user";

#[component]
fn RoleSelect(
    selected: Role,
    #[prop(optional)] form: Option<String>,
    #[prop(optional)] label: Option<String>,
) -> impl IntoView {
    view! {
        <select name="role" form=form aria-label=label>
            {Role::ALL
                .into_iter()
                .map(|role| {
                    view! {
                        <option value=role.as_str() selected=role == selected>
                            {role.as_str()}
                        </option>
                    }
                })
                .collect_view()}
        </select>
    }
}

/// `/admin/users`: every user, with forms to add one, change a role, set a new password and
/// disable or enable.
#[component]
pub fn UsersPage() -> impl IntoView {
    let users = Resource::new(|| (), |_| load_admin_users());
    let (name_problem, password_problem) = (
        FieldProblem::new(ADD_USER_FORM, "name"),
        FieldProblem::new(ADD_USER_FORM, "password"),
    );
    view! {
        <main class="admin">
            <h1>"Users"</h1>
            <OutcomeMessage/>
            <Suspense fallback=|| view! { <p>"Loading users…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(users) => view! { <UserTable users/> }.into_any(),
                        Err(error) => {
                            view! { <LoadError error/> }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
            <h2>"Add a user"</h2>
            <form method="post" action="/admin/users/add" class="admin-form">
                <FormId id=ADD_USER_FORM/>
                <label>
                    "Name"
                    <input
                        name="name"
                        required
                        autocomplete="off"
                        aria-invalid=name_problem.invalid()
                        aria-describedby=name_problem.described_by()
                    />
                </label>
                {name_problem.message()}
                <label>"Role" <RoleSelect selected=Role::Viewer/></label>
                <label>
                    "Password"
                    <input
                        name="password"
                        type="password"
                        required
                        minlength="10"
                        autocomplete="new-password"
                        aria-invalid=password_problem.invalid()
                        aria-describedby=password_problem.described_by()
                    />
                </label>
                {password_problem.message()}
                <button type="submit">"Add user"</button>
            </form>
        </main>
    }
}

#[component]
fn UserTable(users: Vec<UserView>) -> impl IntoView {
    let rows = users
        .into_iter()
        .enumerate()
        .map(|(row, user)| {
            let name = user.name.clone();
            // Named by row, as a user name may hold characters a form id may not.
            let password_form = format!("password-{row}");
            let password_problem = FieldProblem::new(&password_form, "password");
            let (toggle, toggle_label) = if user.disabled {
                ("false", "Enable")
            } else {
                ("true", "Disable")
            };
            view! {
                <tr data-user=user.name.clone()>
                    <th scope="row" class="name">{user.name.clone()}</th>
                    <td class="role">{user.role.as_str()}</td>
                    <td class="state">{if user.disabled { "disabled" } else { "active" }}</td>
                    <td class="created">{user.created}</td>
                    <td class="actions">
                        <form method="post" action="/admin/users/role">
                            <input type="hidden" name="name" value=name.clone()/>
                            <RoleSelect selected=user.role label=format!("Role of {name}")/>
                            <button type="submit">"Change role"</button>
                        </form>
                        <form method="post" action="/admin/users/password">
                            <FormId id=password_form/>
                            <input type="hidden" name="name" value=name.clone()/>
                            <input
                                name="password"
                                type="password"
                                required
                                minlength="10"
                                autocomplete="new-password"
                                aria-label=format!("New password for {name}")
                                aria-invalid=password_problem.invalid()
                                aria-describedby=password_problem.described_by()
                            />
                            <button type="submit">"Set password"</button>
                            {password_problem.message()}
                        </form>
                        <form method="post" action="/admin/users/disable">
                            <input type="hidden" name="name" value=name.clone()/>
                            <input type="hidden" name="disabled" value=toggle/>
                            <button type="submit">{toggle_label}</button>
                        </form>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="admin-table users">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Role"</th>
                    <th scope="col">"State"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Change"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
}
