//! Who can log in, and the limits on their names and passwords. The server checks them
//! (`server::accounts`); the admin pages state them.

use crate::domain::roles::Role;

/// Someone who can log in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
}

/// Fewer characters are guessable offline from a stolen hash. No rules about character classes:
/// they push people towards `Password1!`, while length is what makes guessing slow (NIST SP
/// 800-63B asks for at least 8 and no composition rules; 10 leaves some margin).
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Generous for any passphrase or manager-generated password, yet it bounds the work a login
/// request can ask of the server.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Names show in logs, the audit log and page headers, so they stay short and printable.
pub const MAX_NAME_CHARS: usize = 64;
