//! The form posts of the account page (`app::pages::account`): a user's personal access tokens,
//! made and revoked through `app::server::token_edits` (which checks and audits). Anyone signed
//! in gets here (the paths are the dashboard's area); each user touches only their own tokens,
//! but an admin may revoke anyone's.

use crate::admin::{back, Acting};
use app::domain::outcome::Outcome;
use app::domain::tokens::TokenText;
use app::pages::account::{ACCOUNT, NEW_SECRET_KEY};
use app::server::access::manages_every_token;
use app::server::state::AppState;
use app::server::token_edits::{self, TokenError};
use axum::extract::State;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use tower_sessions::Session;

/// Every field is optional text, so a malformed post still gets the page back with a message.
#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    form_id: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    filters: String,
    #[serde(default)]
    expiry_days: String,
}

fn token_outcome(error: TokenError) -> Outcome {
    match error {
        TokenError::Invalid(problem) => Outcome::Token(problem),
        TokenError::Full => Outcome::TooManyTokens,
        TokenError::NoSuchToken => Outcome::UnknownToken,
        TokenError::Database(error) => {
            tracing::error!(%error, "a change to access tokens failed");
            Outcome::Unavailable
        }
    }
}

/// `POST /account/tokens/add`: name, scope, filters, expiry_days. The secret waits in the
/// session for the account page, which shows it once.
pub async fn add_token(
    State(state): State<AppState>,
    acting: Acting,
    session: Session,
    Form(form): Form<TokenForm>,
) -> Response {
    let text = TokenText {
        name: &form.name,
        scope: &form.scope,
        filters: &form.filters,
        expiry_days: &form.expiry_days,
    };
    let outcome = async {
        let (_, secret) =
            token_edits::create_token(&state.store, acting.actor(), acting.user().id, text)
                .await
                .map_err(token_outcome)?;
        if let Err(error) = session.insert(NEW_SECRET_KEY, secret).await {
            // Made but never shown: the user sees it listed, unusable, and revokes it.
            tracing::error!(%error, "keeping a new token for the account page failed");
            return Err(Outcome::Unavailable);
        }
        Ok(Outcome::TokenCreated)
    };
    back(ACCOUNT, &form.form_id, outcome.await)
}

/// `POST /account/tokens/revoke`: id. A user's own token; an admin's, anyone's.
pub async fn revoke_token(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<TokenForm>,
) -> Response {
    let outcome = async {
        let id = form.id.trim().parse().map_err(|_| Outcome::BadForm)?;
        let owner = (!manages_every_token(&acting.visitor())).then(|| acting.user().id);
        token_edits::revoke_token(&state.store, acting.actor(), id, owner)
            .await
            .map_err(token_outcome)?;
        Ok(Outcome::TokenRevoked)
    };
    back(ACCOUNT, &form.form_id, outcome.await)
}
