//! Personal access tokens made and revoked (each written to the audit log), and a password given
//! to the MQTT endpoint checked as one. A secret is [`SECRET_PREFIX`] and 256 random bits in hex;
//! only its SHA-256 is stored, so the database cannot give it back and the check is one indexed
//! look-up (no password hashing: nobody guesses 256 bits).

use crate::domain::tokens::{TokenProblem, TokenSpec, TokenText, SECRET_PREFIX};
use crate::server::accounts::random_bytes;
use crate::server::store::audit::{Actor, AuditEntry};
use crate::server::store::tokens::{TokenAdded, TokenGrant};
use crate::server::store::Store;
use serde_json::json;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Invalid(TokenProblem),
    #[error("that user keeps as many tokens as they may")]
    Full,
    #[error("there is no such token in force that may be revoked so")]
    NoSuchToken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<TokenProblem> for TokenError {
    fn from(problem: TokenProblem) -> Self {
        TokenError::Invalid(problem)
    }
}

type Result<T, E = TokenError> = std::result::Result<T, E>;

/// What is stored of `secret`.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn new_secret() -> String {
    let hex: String = random_bytes::<32>()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{SECRET_PREFIX}{hex}")
}

/// Makes a token for `user_id` as `text` says; returns its id and its secret, which is never
/// available again.
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn create_token(
    store: &Store,
    actor: Actor<'_>,
    user_id: i64,
    text: TokenText<'_>,
) -> Result<(i64, String)> {
    let spec = TokenSpec::check(text)?;
    let secret = new_secret();
    let id = match store
        .add_access_token(user_id, &spec, &secret_hash(&secret))
        .await?
    {
        TokenAdded::Added(id) => id,
        TokenAdded::Full => return Err(TokenError::Full),
    };
    let filters: Vec<&str> = spec.filters.iter().map(|filter| filter.as_str()).collect();
    let detail = json!({
        "token_id": id,
        "user_id": user_id,
        "name": spec.name,
        "scope": spec.scope.as_str(),
        "filters": filters,
        "expiry_days": spec.expiry_days,
    });
    store
        .audit(&AuditEntry::new(actor, "token_created", detail))
        .await?;
    Ok((id, secret))
}

/// Revokes token `id`: of `owner` only, or anyone's for `None` (an admin).
#[tracing::instrument(skip_all, fields(id))]
pub async fn revoke_token(
    store: &Store,
    actor: Actor<'_>,
    id: i64,
    owner: Option<i64>,
) -> Result<()> {
    let (user_id, name) = store
        .revoke_access_token(id, owner)
        .await?
        .ok_or(TokenError::NoSuchToken)?;
    let detail = json!({ "token_id": id, "user_id": user_id, "name": name });
    store
        .audit(&AuditEntry::new(actor, "token_revoked", detail))
        .await?;
    Ok(())
}

/// The grant a user `name` gets by giving `password`, when it is a token of theirs in force.
pub async fn authenticate(store: &Store, name: &str, password: &str) -> Result<Option<TokenGrant>> {
    if !password.starts_with(SECRET_PREFIX) {
        return Ok(None);
    }
    Ok(store.grant_of_token(name, &secret_hash(password)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_long_random_and_marked_and_kept_only_as_its_hash() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + 64);
        assert_eq!(secret_hash(&a), secret_hash(&a));
        assert_ne!(secret_hash(&a), secret_hash(&b));
    }
}
