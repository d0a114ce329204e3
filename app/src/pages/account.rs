//! `/account`: the signed-in user's personal access tokens for MQTT tools, made, listed and
//! revoked with plain forms (`server/src/account.rs`), so it works without JavaScript. An admin
//! also sees everyone's tokens and may revoke any. What a token is: [`crate::domain::tokens`].

use crate::components::load_error::LoadError;
use crate::components::outcome_message::{FieldProblem, FormId, OutcomeMessage};
use crate::domain::tokens::{TokenScope, TokenView, EXPIRY_DAYS, MAX_TOKENS_PER_USER};
use crate::domain::wording::format_utc_minute;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub const ACCOUNT: &str = "/account";
pub const ADD_TOKEN: &str = "/account/tokens/add";
pub const REVOKE_TOKEN: &str = "/account/tokens/revoke";
/// Where a new token's secret waits in the session for the one page that shows it.
pub const NEW_SECRET_KEY: &str = "new_token_secret";
/// Revoked and expired tokens stay listed this many days.
pub const KEPT_DAYS: i32 = 30;
/// At most this many tokens are listed in a table: a user keeps 20 in force, but may make and
/// revoke many more within [`KEPT_DAYS`], and an admin's table holds everyone's.
pub const LISTED_MAX: i64 = 200;

const NEW_TOKEN: &str = "new-token";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountData {
    pub name: String,
    pub tokens: Vec<TokenView>,
    /// Everyone else's tokens, for an admin; `None` for anyone else.
    pub others: Option<Vec<TokenView>>,
    /// The secret of the token just made, shown this once.
    pub new_secret: Option<String>,
    pub now_ms: i64,
}

#[server(endpoint = "account_tokens", output = crate::domain::answer::JsonAnswer)]
pub async fn load_account() -> Result<AccountData, ServerFnError> {
    use crate::components::load_error::unavailable;
    let visitor = crate::server::access::current_visitor();
    let Some(user) = visitor.user() else {
        return Err(ServerFnError::new("Log in first."));
    };
    let state = crate::server::state::app_state()?;
    let tokens = state
        .store
        .access_tokens(Some(user.id), KEPT_DAYS, LISTED_MAX)
        .await
        .map_err(unavailable)?;
    let others = match crate::server::access::manages_every_token(&visitor) {
        true => Some(
            state
                .store
                .access_tokens(None, KEPT_DAYS, LISTED_MAX)
                .await
                .map_err(unavailable)?
                .into_iter()
                .filter(|token| token.user != user.name)
                .collect(),
        ),
        false => None,
    };
    let session: tower_sessions::Session = leptos_axum::extract().await?;
    // A secret that cannot be read back is lost, not leaked: the user revokes it and makes
    // another.
    let new_secret = session
        .remove::<String>(NEW_SECRET_KEY)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "reading a new token from the session failed");
            None
        });
    Ok(AccountData {
        name: user.name.clone(),
        tokens,
        others,
        new_secret,
        now_ms: chrono::Utc::now().timestamp_millis(),
    })
}

/// `/account`: the user's tokens, a form for a new one, and (for an admin) everyone's.
#[component]
pub fn AccountPage() -> impl IntoView {
    let account = Resource::new(|| (), |_| load_account());
    view! {
        <main class="admin account">
            <h1>"Your account"</h1>
            <OutcomeMessage/>
            <Suspense fallback=|| view! { <p>"Loading your account…"</p> }>
                {move || Suspend::new(async move {
                    match account.await {
                        Ok(account) => view! { <Tokens account/> }.into_any(),
                        Err(error) => view! { <LoadError error/> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn Tokens(account: AccountData) -> impl IntoView {
    let [name, scope, filters, expiry] = ["name", "scope", "filters", "expiry_days"]
        .map(|field| FieldProblem::new(NEW_TOKEN, field));
    let now_ms = account.now_ms;
    view! {
        <h2>"Access tokens"</h2>
        <p class="notice">
            "A token lets an MQTT tool (MQTTX, MQTT.js, a script) act as "
            <strong>{account.name.clone()}</strong>
            " without your password: it gives your name as its user name and the token as its "
            "password. It may never do more than your role's rules allow: it reads, or reads and "
            "publishes, and may be narrowed to some topics. It expires, and you may revoke it at "
            "any time. Lookout keeps only a hash of it, so it is shown once, when made; at most "
            {MAX_TOKENS_PER_USER} " are in force at a time."
        </p>
        {account.new_secret.map(|secret| view! {
            <div class="notice new-token" role="status">
                <p><strong>"Your new token. Copy it now: it is not shown again."</strong></p>
                <p><code class="token-secret">{secret}</code></p>
            </div>
        })}
        <TokenTable tokens=account.tokens now_ms whose=false/>
        <h3>"New token"</h3>
        <form method="post" action=ADD_TOKEN class="stacked">
            <FormId id=NEW_TOKEN/>
            <label>"Name " <input name="name" required maxlength="64" placeholder="MQTTX on my laptop"
                aria-invalid=name.invalid() aria-describedby=name.described_by()/></label>
            {name.message()}
            <label>"May "
                <select name="scope" aria-invalid=scope.invalid() aria-describedby=scope.described_by()>
                    {[TokenScope::Read, TokenScope::ReadPublish].map(|scope| view! {
                        <option value=scope.as_str()>{scope.words()}</option>
                    }).collect_view()}
                </select>
            </label>
            {scope.message()}
            <label>"Only these topics (MQTT filters, one per line; empty: all your role may) "
                <textarea name="filters" rows="3" maxlength="4200" placeholder="plant/+/temperature"
                    aria-invalid=filters.invalid() aria-describedby=filters.described_by()></textarea>
            </label>
            {filters.message()}
            <label>"Expires after "
                <select name="expiry_days" aria-invalid=expiry.invalid()
                    aria-describedby=expiry.described_by()>
                    {EXPIRY_DAYS.map(|days| view! {
                        <option value=days selected=days == 90>{days} " days"</option>
                    }).collect_view()}
                </select>
            </label>
            {expiry.message()}
            <button type="submit">"Make token"</button>
        </form>
        {account.others.map(|others| view! {
            <h2>"Everyone's tokens"</h2>
            <p class="notice">"As an admin you may revoke anyone's token."</p>
            <TokenTable tokens=others now_ms whose=true/>
        })}
    }
}

#[component]
fn TokenTable(tokens: Vec<TokenView>, now_ms: i64, whose: bool) -> impl IntoView {
    if tokens.is_empty() {
        return view! { <p>"No tokens."</p> }.into_any();
    }
    let rows = tokens
        .into_iter()
        .map(|token| {
            let state = match (token.revoked_at_ms, token.is_live(now_ms)) {
                (Some(at), _) => format!("revoked {}", format_utc_minute(at)),
                (None, false) => "expired".to_owned(),
                (None, true) => "in force".to_owned(),
            };
            let topics = match token.filters.is_empty() {
                true => "all your role may".to_owned(),
                false => token.filters.join(", "),
            };
            let live = token.is_live(now_ms);
            let id = token.id;
            view! {
                <tr data-token=id>
                    {whose.then(|| view! { <td>{token.user.clone()}</td> })}
                    <td>{token.name}</td>
                    <td>{token.scope.words()}</td>
                    <td><code>{topics}</code></td>
                    <td>{format_utc_minute(token.created_at_ms)}</td>
                    <td>{format_utc_minute(token.expires_at_ms)}</td>
                    <td>{token.last_used_at_ms.map(format_utc_minute).unwrap_or_else(|| "never".to_owned())}</td>
                    <td>{state}</td>
                    <td class="actions">
                        {live.then(|| view! {
                            <form method="post" action=REVOKE_TOKEN>
                                <input type="hidden" name="id" value=id/>
                                <button type="submit" class="danger">"Revoke"</button>
                            </form>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="admin-table tokens">
            <thead>
                <tr>
                    {whose.then(|| view! { <th scope="col">"User"</th> })}
                    <th scope="col">"Name"</th>
                    <th scope="col">"May"</th>
                    <th scope="col">"Topics"</th>
                    <th scope="col">"Made"</th>
                    <th scope="col">"Expires"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col">"State"</th>
                    <th scope="col"><span class="visually-hidden">"Revoke"</span></th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}
