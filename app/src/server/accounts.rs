//! Users and their passwords: hashing, checking a login, the rules for names and passwords, and
//! the changes an admin makes (each written to the audit log). The SQL is in
//! [`crate::server::store::users`].

use crate::domain::accounts::{User, MAX_NAME_CHARS, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use crate::domain::roles::Role;
use crate::server::store::audit::{Actor, AuditEntry};
use crate::server::store::users::{Credentials, UserChange};
use crate::server::store::Store;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("a user called {0:?} already exists (names are compared ignoring case)")]
    NameTaken(String),
    #[error("there is no user called {0:?}")]
    UnknownUser(String),
    #[error("{0}")]
    BadName(String),
    #[error("{0}")]
    WeakPassword(String),
    #[error("{name:?} is the last enabled admin: without one, nobody could manage users; make another user admin first")]
    LastAdmin { name: String },
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

pub type Result<T, E = AccountError> = std::result::Result<T, E>;

/// Refuses a password that is too short or too long, saying which limit it broke.
pub fn check_password(password: &str) -> Result<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AccountError::WeakPassword(format!(
            "the password is too short: {chars} characters, at least {MIN_PASSWORD_CHARS} needed \
             (a passphrase of a few words is easy to type and hard to guess)"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::WeakPassword(format!(
            "the password is too long: {} bytes, at most {MAX_PASSWORD_BYTES} allowed",
            password.len()
        )));
    }
    Ok(())
}

/// A password for someone who will copy it rather than type it from memory (the demo's admin):
/// 20 characters from an alphabet without look-alikes (0/O, 1/l/I), about 115 bits.
pub fn generate_password() -> String {
    use argon2::password_hash::rand_core::RngCore;
    const ALPHABET: &[u8] = b"23456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    (0..20)
        .map(|_| {
            // Rejection sampling: a plain modulo would favour the first letters.
            let limit = u32::MAX - u32::MAX % ALPHABET.len() as u32;
            let n = std::iter::repeat_with(|| OsRng.next_u32())
                .find(|n| *n < limit)
                .expect("an endless iterator finds one");
            ALPHABET[(n % ALPHABET.len() as u32) as usize] as char
        })
        .collect()
}

/// A follower's secret (`domain::subscription::TOKEN_CHARS` hex characters, 128 bits).
pub fn follower_token() -> String {
    random_bytes::<16>()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `N` bytes from the operating system's random source, for secrets and tokens.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use argon2::password_hash::rand_core::RngCore;
    let mut bytes = [0; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// Refuses an empty or overlong name, and whitespace or control characters, which would make
/// look-alike names and garble log lines.
pub fn check_name(name: &str) -> Result<()> {
    let bad = |problem: &str| Err(AccountError::BadName(format!("{name:?} {problem}")));
    if name.is_empty() {
        return Err(AccountError::BadName("the user name is empty".to_owned()));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return bad(&format!(
            "is too long for a user name: at most {MAX_NAME_CHARS} characters"
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("is not a valid user name: no spaces or control characters");
    }
    Ok(())
}

/// OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane): about 20-50 ms on a server core,
/// slow enough to make offline guessing costly, cheap enough that a few concurrent logins do not
/// exhaust memory. Written out rather than the crate's defaults so an upgrade cannot change them
/// silently; stored hashes carry their own parameters, so raising these later keeps old
/// passwords working.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashed once, on first use, so a login for an unknown user costs as much as a real one.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(b"no user has this password; it only costs time", &salt)
        .expect("hashing a fixed password succeeds")
        .to_string()
});

/// The PHC string of `password` (algorithm, parameters, salt and hash), with a fresh salt.
/// Runs on a blocking thread: tens of milliseconds of CPU would stall the async workers.
pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| AccountError::Hashing(error.to_string()))
    })
    .await
    .map_err(|error| AccountError::Hashing(error.to_string()))?
}

/// Whether `password` matches the PHC string `hash`, with the parameters stored in it. On a
/// blocking thread, as [`hash_password`].
pub async fn verify_password(password: &str, hash: &str) -> Result<bool> {
    verify_in_slot(None, password, hash.to_owned()).await
}

/// As [`verify_password`]; `slot` is held until the hash is done, even if the caller stops
/// waiting (a login whose client went away): the cap on checks counts the work, not the waiters.
async fn verify_in_slot(slot: Option<PasswordSlot>, password: &str, hash: String) -> Result<bool> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        verify_blocking(&password, &hash)
    })
    .await
    .map_err(|error| AccountError::Hashing(error.to_string()))?
}

fn verify_blocking(password: &str, hash: &str) -> Result<bool> {
    let parsed =
        PasswordHash::new(hash).map_err(|error| AccountError::Hashing(error.to_string()))?;
    match hasher().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(error) => Err(AccountError::Hashing(error.to_string())),
    }
}

/// How long a login waits for a free password check before it is told to try again: a queue
/// that only grows would hold connections and memory while answering nobody.
pub const PASSWORD_CHECK_WAIT: Duration = Duration::from_secs(2);

/// At most this many password checks run at once, whatever the core count: 19 MiB each.
const MAX_RUNNING_CHECKS: usize = 8;

/// How many logins may wait for a free check, per check that may run.
const WAITING_PER_CHECK: usize = 16;

/// The cap on password checks (argon2id: 19 MiB and tens of milliseconds of a core each) running
/// at once in this process. More checks at once than cores would only share the cores and add
/// memory, so the cap is the available parallelism (at most [`MAX_RUNNING_CHECKS`]); logins
/// beyond it wait a bounded time in a bounded queue, then are told the server is busy.
#[derive(Clone, Debug)]
pub struct PasswordChecks {
    running: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    max_wait: Duration,
}

/// Leave to run one password check, held until the check is done.
#[derive(Debug)]
pub struct PasswordSlot(#[allow(dead_code)] OwnedSemaphorePermit);

impl PasswordChecks {
    /// `running` checks at once; a login waits at most `max_wait` for one.
    pub fn new(running: usize, max_wait: Duration) -> Self {
        let running = running.max(1);
        Self {
            running: Arc::new(Semaphore::new(running)),
            waiting: Arc::default(),
            max_waiting: running * WAITING_PER_CHECK,
            max_wait,
        }
    }

    /// As many checks at once as this machine has cores for (at most [`MAX_RUNNING_CHECKS`]).
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        Self::new(cores.min(MAX_RUNNING_CHECKS), PASSWORD_CHECK_WAIT)
    }

    /// A free slot, after waiting at most the bounded time; `None` when the process is busy
    /// (every slot taken that long, or too many logins already waiting).
    pub async fn slot(&self) -> Option<PasswordSlot> {
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Some(PasswordSlot(permit));
        }
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        // Counted before the check, so racing logins cannot all slip under the cap; the guard
        // uncounts this one however the wait ends (a slot, the timeout, the client gone).
        let _waiting = Waiting(&self.waiting);
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.max_waiting {
            return None;
        }
        let permit = tokio::time::timeout(self.max_wait, self.running.clone().acquire_owned());
        permit.await.ok()?.ok().map(PasswordSlot)
    }
}

/// What checking a login found.
#[derive(Debug)]
pub enum LoginCheck {
    /// The password is the user's and the user is enabled.
    Accepted(Credentials),
    /// Refused. `user` is whom the name belongs to, if anyone: for the audit log, never for the
    /// answer, which is the same either way.
    Refused { user: Option<User> },
}

/// The user `name` if `password` is theirs and they are not disabled; `None` otherwise, without
/// saying which. An unknown name still costs one hash verification (against a dummy hash), so the
/// time taken does not tell whether a name exists.
pub async fn authenticate(store: &Store, name: &str, password: &str) -> Result<Option<User>> {
    Ok(check_login(store, name, password)
        .await?
        .map(|credentials| credentials.user))
}

/// As [`authenticate`], with the hash the password matched: a login records its session only
/// while that hash is still the user's ([`Store::record_user_session`]), so a password changed
/// during the login cannot leave a session behind.
pub async fn check_login(store: &Store, name: &str, password: &str) -> Result<Option<Credentials>> {
    Ok(match check(store, None, name, password).await? {
        LoginCheck::Accepted(credentials) => Some(credentials),
        LoginCheck::Refused { .. } => None,
    })
}

/// As [`check_login`], running the hash in `slot` (from [`PasswordChecks::slot`]), and saying
/// whose name it was when refused.
pub async fn check_login_in_slot(
    store: &Store,
    slot: PasswordSlot,
    name: &str,
    password: &str,
) -> Result<LoginCheck> {
    check(store, Some(slot), name, password).await
}

// No name in the span: a name that matches no user may be a password typed in the wrong field.
#[tracing::instrument(skip_all)]
async fn check(
    store: &Store,
    slot: Option<PasswordSlot>,
    name: &str,
    password: &str,
) -> Result<LoginCheck> {
    let found = store.user_by_name(name).await?;
    if password.len() > MAX_PASSWORD_BYTES {
        // Refused before any work; its length was the caller's own choice, so this tells nothing.
        return Ok(LoginCheck::Refused {
            user: found.map(|credentials| credentials.user),
        });
    }
    let Some(credentials) = found else {
        verify_in_slot(slot, password, DUMMY_HASH.clone()).await?;
        return Ok(LoginCheck::Refused { user: None });
    };
    // A disabled user's own hash is checked too: the same work, so disabled looks like wrong.
    let matches = verify_in_slot(slot, password, credentials.password_hash.clone()).await?;
    Ok(if matches && !credentials.user.disabled {
        LoginCheck::Accepted(credentials)
    } else {
        LoginCheck::Refused {
            user: Some(credentials.user),
        }
    })
}

/// Adds a user after checking the name and the password.
#[tracing::instrument(skip_all, fields(user = %name, role = %role))]
pub async fn add_user(
    store: &Store,
    actor: Actor<'_>,
    name: &str,
    password: &str,
    role: Role,
) -> Result<User> {
    check_name(name)?;
    check_password(password)?;
    let hash = hash_password(password).await?;
    let user = store
        .create_user(name, &hash, role)
        .await?
        .ok_or_else(|| AccountError::NameTaken(name.to_owned()))?;
    store
        .audit(&AuditEntry::new(
            actor,
            "user_added",
            serde_json::json!({ "user_id": user.id, "user": user.name, "role": role }),
        ))
        .await?;
    Ok(user)
}

/// The user called `name` (any letter case), or an error naming it.
pub async fn find_user(store: &Store, name: &str) -> Result<User> {
    store
        .user_by_name(name)
        .await?
        .map(|credentials| credentials.user)
        .ok_or_else(|| AccountError::UnknownUser(name.to_owned()))
}

/// Sets a new password and ends all of the user's sessions, since whoever knew the old password
/// may be logged in. Returns how many sessions ended.
#[tracing::instrument(skip_all, fields(user = %name))]
pub async fn change_password(
    store: &Store,
    actor: Actor<'_>,
    name: &str,
    password: &str,
) -> Result<u64> {
    check_password(password)?;
    let user = find_user(store, name).await?;
    let hash = hash_password(password).await?;
    if !store.set_password(user.id, &hash).await? {
        return Err(AccountError::UnknownUser(name.to_owned()));
    }
    let ended = store.end_user_sessions(user.id).await?;
    // Whoever logged in with the old password may hold a device cookie of this user.
    store.forget_login_devices(user.id).await?;
    store
        .audit(&AuditEntry::new(
            actor,
            "password_changed",
            serde_json::json!({ "user_id": user.id, "user": user.name, "sessions_ended": ended }),
        ))
        .await?;
    Ok(ended)
}

/// Disables a user (ending all of their sessions) or enables them again. Returns how many
/// sessions ended. The last enabled admin cannot be disabled.
#[tracing::instrument(skip_all, fields(user = %name, disabled))]
pub async fn set_disabled(
    store: &Store,
    actor: Actor<'_>,
    name: &str,
    disabled: bool,
) -> Result<u64> {
    let user = find_user(store, name).await?;
    check_change(store.set_disabled(user.id, disabled).await?, &user)?;
    let ended = if disabled {
        store.end_user_sessions(user.id).await?
    } else {
        0
    };
    let action = if disabled {
        "user_disabled"
    } else {
        "user_enabled"
    };
    store
        .audit(&AuditEntry::new(
            actor,
            action,
            serde_json::json!({ "user_id": user.id, "user": user.name, "sessions_ended": ended }),
        ))
        .await?;
    Ok(ended)
}

/// Gives a user another role; the last enabled admin keeps theirs. Sessions stay: each request
/// reads the user's current role.
#[tracing::instrument(skip_all, fields(user = %name, role = %role))]
pub async fn set_role(store: &Store, actor: Actor<'_>, name: &str, role: Role) -> Result<()> {
    let user = find_user(store, name).await?;
    check_change(store.set_role(user.id, role).await?, &user)?;
    store
        .audit(&AuditEntry::new(
            actor,
            "role_changed",
            serde_json::json!({ "user_id": user.id, "user": user.name, "from": user.role, "to": role }),
        ))
        .await
        .map_err(AccountError::from)
}

fn check_change(change: UserChange, user: &User) -> Result<()> {
    match change {
        UserChange::Done => Ok(()),
        // Removed between the look-up and the change.
        UserChange::NoSuchUser => Err(AccountError::UnknownUser(user.name.clone())),
        UserChange::LastAdmin => Err(AccountError::LastAdmin {
            name: user.name.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_need_ten_characters_counted_as_characters_not_bytes() {
        assert!(check_password("correct horse").is_ok());
        assert!(check_password("0123456789").is_ok());
        let short = check_password("123456789").unwrap_err().to_string();
        assert!(
            short.contains("too short: 9 characters, at least 10"),
            "{short}"
        );
        // Ten characters, twenty bytes: long enough.
        assert!(check_password("éééééééééé").is_ok());
        assert!(check_password("ééééé").is_err());
    }

    #[test]
    fn passwords_over_a_kilobyte_are_refused() {
        assert!(check_password(&"x".repeat(MAX_PASSWORD_BYTES)).is_ok());
        let long = check_password(&"x".repeat(MAX_PASSWORD_BYTES + 1))
            .unwrap_err()
            .to_string();
        assert!(
            long.contains("too long: 1025 bytes, at most 1024"),
            "{long}"
        );
    }

    #[test]
    fn names_are_short_printable_and_without_spaces() {
        assert!(check_name("alice").is_ok());
        assert!(check_name("ops.bob-2@site").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("al ice").is_err());
        assert!(check_name("alice\n").is_err());
        assert!(check_name(&"a".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(check_name(&"a".repeat(MAX_NAME_CHARS + 1)).is_err());
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_the_stated_parameters_and_a_fresh_salt() {
        let first = hash_password("correct horse battery").await.unwrap();
        let second = hash_password("correct horse battery").await.unwrap();
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second, "each hash has its own salt");
        assert!(verify_password("correct horse battery", &first)
            .await
            .unwrap());
        assert!(!verify_password("correct horse battery!", &first)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn beyond_the_cap_a_password_check_waits_a_bounded_time_then_is_refused() {
        let checks = PasswordChecks::new(1, Duration::from_millis(300));
        let first = checks.slot().await.expect("a free slot");
        let started = std::time::Instant::now();
        assert!(checks.slot().await.is_none(), "the only slot is taken");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        drop(first);
        assert!(checks.slot().await.is_some());
    }

    #[tokio::test]
    async fn only_a_bounded_number_of_logins_wait_for_a_password_check() {
        let checks = PasswordChecks::new(1, Duration::from_secs(60));
        let held = checks.slot().await.unwrap();
        let waiters: Vec<_> = (0..WAITING_PER_CHECK)
            .map(|_| {
                let checks = checks.clone();
                tokio::spawn(async move { checks.slot().await.is_some() })
            })
            .collect();
        while checks.waiting.load(Ordering::Relaxed) < WAITING_PER_CHECK {
            tokio::task::yield_now().await;
        }
        let started = std::time::Instant::now();
        assert!(checks.slot().await.is_none(), "the queue is full");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused at once"
        );
        drop(held);
        for waiter in waiters {
            assert!(waiter.await.unwrap(), "each waiter gets the slot in turn");
        }
        assert_eq!(checks.waiting.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_check_keeps_its_slot_until_its_hash_is_done_even_if_its_login_left() {
        // A slow hash (64 MiB, 3 passes): surely still running a moment after it started.
        let params = Params::new(65_536, 3, 1, None).unwrap();
        let slow = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"correct horse", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        let checks = PasswordChecks::new(1, Duration::from_millis(1));
        let slot = checks.slot().await.unwrap();
        // Polled once (the hash starts on its blocking thread), then dropped, as a login's
        // future is when its client goes away.
        let verifying = verify_in_slot(Some(slot), "wrong horse", slow);
        assert!(tokio::time::timeout(Duration::from_micros(1), verifying)
            .await
            .is_err());
        assert!(
            checks.slot().await.is_none(),
            "the hash still holds the slot"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while checks.slot().await.is_none() {
            assert!(std::time::Instant::now() < deadline, "never released");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[test]
    fn the_dummy_hash_is_a_real_hash_with_the_same_cost() {
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!verify_blocking("", &DUMMY_HASH).unwrap());
    }
}
