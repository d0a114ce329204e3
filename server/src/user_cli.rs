//! `lookout user ...`: adding users, setting passwords, listing, disabling. Needs only the
//! database: the broker may be down, or not configured yet, while the first admin is created.
//! Passwords come from the terminal or standard input, never from the command line, where other
//! local users could read them in the process list and the shell keeps them in its history.

use crate::config::Settings;
use anyhow::Context;
use app::domain::roles::Role;
use app::server::accounts;
use app::server::store::audit::Actor;
use app::server::store::Store;
use clap::Subcommand;
use std::io::{BufRead, IsTerminal};
use std::path::Path;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user. The password is asked twice on a terminal, or read as one line of stdin.
    Add {
        name: String,
        /// viewer, operator or admin.
        #[arg(long)]
        role: String,
    },
    /// Set a user's password (asked as for `add`) and end all of their sessions.
    Passwd { name: String },
    /// List every user with role, state and creation time.
    List,
    /// Stop a user from logging in and end all of their sessions.
    Disable { name: String },
    /// Let a disabled user log in again.
    Enable { name: String },
    /// Give a user another role.
    Role {
        name: String,
        /// viewer, operator or admin.
        role: String,
    },
}

pub async fn run(config: Option<&Path>, command: UserCommand) -> anyhow::Result<()> {
    let settings = Settings::load(config)?;
    let store = crate::startup::open_database(&settings).await?;
    let actor = Actor::CLI;
    match command {
        UserCommand::Add { name, role } => {
            // Before the password prompt, so a typo does not cost typing it twice.
            let role: Role = role.parse()?;
            accounts::check_name(&name)?;
            let password = read_new_password()?;
            let user = accounts::add_user(&store, actor, &name, &password, role).await?;
            println!("added {} ({})", user.name, user.role);
        }
        UserCommand::Passwd { name } => {
            accounts::find_user(&store, &name).await?;
            let password = read_new_password()?;
            let ended = accounts::change_password(&store, actor, &name, &password).await?;
            println!("password of {name} changed; {ended} session(s) ended");
        }
        UserCommand::List => list(&store).await?,
        UserCommand::Disable { name } => {
            let ended = accounts::set_disabled(&store, actor, &name, true).await?;
            println!("{name} disabled; {ended} session(s) ended");
        }
        UserCommand::Enable { name } => {
            accounts::set_disabled(&store, actor, &name, false).await?;
            println!("{name} enabled");
        }
        UserCommand::Role { name, role } => {
            let role: Role = role.parse()?;
            accounts::set_role(&store, actor, &name, role).await?;
            println!("{name} is now {role}");
        }
    }
    Ok(())
}

async fn list(store: &Store) -> anyhow::Result<()> {
    let users = store.list_users().await.context("listing the users")?;
    if users.is_empty() {
        println!("no users yet: create the first admin with `lookout user add NAME --role admin`");
        return Ok(());
    }
    let rows: Vec<[String; 4]> = users
        .iter()
        .map(|info| {
            [
                info.user.name.clone(),
                info.user.role.to_string(),
                if info.user.disabled { "yes" } else { "no" }.to_owned(),
                info.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            ]
        })
        .collect();
    print!("{}", table(["NAME", "ROLE", "DISABLED", "CREATED"], &rows));
    Ok(())
}

/// Left-aligned columns two spaces apart, the last one unpadded.
fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|title| title.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = header.map(str::to_owned);
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// On a terminal: asked twice without echo, and both must match. Otherwise: the first line of
/// standard input, so scripts can pipe it in.
fn read_new_password() -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        accounts::check_password(&first)?;
        let second =
            rpassword::prompt_password("Same password again: ").context("reading the password")?;
        if first != second {
            anyhow::bail!("the two passwords differ; nothing was changed");
        }
        first
    } else {
        let mut line = String::new();
        let read = std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        if read == 0 {
            anyhow::bail!("no password on standard input: pipe one line into the command, or run it on a terminal to be asked");
        }
        strip_line_end(line)
    };
    accounts::check_password(&password)?;
    Ok(password)
}

/// Only the line ending goes: spaces may be part of a passphrase.
fn strip_line_end(mut line: String) -> String {
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_line_ending_is_stripped_from_a_piped_password() {
        assert_eq!(strip_line_end(" pass phrase \n".into()), " pass phrase ");
        assert_eq!(strip_line_end("windows\r\n".into()), "windows");
        assert_eq!(strip_line_end("no newline".into()), "no newline");
    }

    #[test]
    fn the_table_lines_up_its_columns() {
        let rows = [
            ["alice".to_owned(), "admin".to_owned()],
            ["bo".to_owned(), "viewer".to_owned()],
        ];
        assert_eq!(
            table(["NAME", "ROLE"], &rows),
            "NAME   ROLE\nalice  admin\nbo     viewer\n"
        );
    }
}
