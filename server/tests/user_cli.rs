//! `lookout user ...` run as the real binary against a fresh database, the way an administrator
//! uses it, and the logins it makes possible checked with `accounts::authenticate`.

mod support;

use app::domain::roles::Role;
use app::server::accounts::authenticate;
use app::server::store::Store;
use sqlx::PgPool;
use std::process::{Output, Stdio};
use std::time::Duration;
use support::fresh_database;
use tokio::io::AsyncWriteExt;

/// A fresh database and the commands run against it.
struct Admin {
    database_url: String,
    db: PgPool,
}

impl Admin {
    async fn new() -> Self {
        let database_url = fresh_database().await;
        Admin {
            db: PgPool::connect(&database_url).await.unwrap(),
            database_url,
        }
    }

    /// Runs `lookout user ARGS` with only this database configured, `stdin` piped in.
    async fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lookout"));
        command.arg("user").args(args).env_clear();
        if let Ok(path) = std::env::var("PATH") {
            command.env("PATH", path);
        }
        // An unreachable broker: the user commands must not need one.
        command
            .env("DATABASE_URL", &self.database_url)
            .env("LOOKOUT_MQTT_URL", "mqtt://127.0.0.1:1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        // The command may exit before reading (a refused argument): a broken pipe is fine.
        let _ = input.write_all(stdin.as_bytes()).await;
        drop(input);
        tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("lookout user finished within a minute")
            .unwrap()
    }

    /// Runs a command that must succeed, and returns its standard output.
    async fn ok(&self, args: &[&str], stdin: &str) -> String {
        let output = self.run(args, stdin).await;
        assert!(
            output.status.success(),
            "lookout user {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs a command that must fail with exit code `code`, and returns its standard error.
    async fn refused(&self, args: &[&str], stdin: &str, code: i32) -> String {
        let output = self.run(args, stdin).await;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(
            output.status.code(),
            Some(code),
            "lookout user {args:?}: {stderr}"
        );
        stderr
    }

    async fn add(&self, name: &str, role: &str, password: &str) {
        self.ok(&["add", name, "--role", role], &format!("{password}\n"))
            .await;
    }

    async fn store(&self) -> Store {
        Store::connect(&self.database_url, Duration::from_secs(10))
            .await
            .unwrap()
    }

    async fn user_count(&self) -> i64 {
        sqlx::query_scalar("select count(*) from app_user")
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// Records sessions for `name`, as the login page will.
    async fn log_in_sessions(&self, name: &str, sessions: &[&str]) {
        let store = self.store().await;
        let credentials = store.user_by_name(name).await.unwrap().unwrap();
        for session in sessions {
            let recorded = store
                .record_user_session(session, credentials.user.id, &credentials.password_hash)
                .await
                .unwrap();
            assert!(recorded);
        }
    }

    async fn sessions_of(&self, name: &str) -> Vec<String> {
        sqlx::query_scalar(
            "select session_id from user_session s join app_user u on u.id = s.user_id \
             where u.name = $1 order by session_id",
        )
        .bind(name)
        .fetch_all(&self.db)
        .await
        .unwrap()
    }

    /// The audit log's actions, oldest first, with their actor name and target user.
    async fn audit_trail(&self) -> Vec<(String, Option<String>, Option<String>)> {
        sqlx::query_as("select action, actor_name, detail->>'user' from audit_log order by id")
            .fetch_all(&self.db)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_fresh_install_says_how_to_create_the_first_admin() {
    let admin = Admin::new().await;
    let listing = admin.ok(&["list"], "").await;
    assert!(
        listing.contains("lookout user add NAME --role admin"),
        "{listing}"
    );
}

#[tokio::test]
async fn a_user_added_with_a_piped_password_is_listed_and_can_log_in() {
    let admin = Admin::new().await;
    let said = admin
        .ok(
            &["add", "alice", "--role", "admin"],
            "correct horse battery\n",
        )
        .await;
    assert_eq!(said.trim(), "added alice (admin)");
    admin.add("bob", "Operator", "bob's long passphrase").await;

    let listing = admin.ok(&["list"], "").await;
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 3, "{listing}");
    assert!(
        lines[0].starts_with("NAME   ROLE      DISABLED  CREATED"),
        "{listing}"
    );
    assert!(
        lines[1].starts_with("alice  admin     no        20"),
        "{listing}"
    );
    assert!(
        lines[2].starts_with("bob    operator  no        20"),
        "{listing}"
    );

    // The stored hash is argon2id with the stated parameters, and nothing else holds the password.
    let hash: String =
        sqlx::query_scalar("select password_hash from app_user where name = 'alice'")
            .fetch_one(&admin.db)
            .await
            .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    let audit: String = sqlx::query_scalar("select string_agg(detail::text, ' ') from audit_log")
        .fetch_one(&admin.db)
        .await
        .unwrap();
    assert!(!audit.contains("correct horse"), "{audit}");

    let store = admin.store().await;
    let alice = authenticate(&store, "ALICE", "correct horse battery")
        .await
        .unwrap()
        .expect("the name matches in any case");
    assert_eq!((alice.name.as_str(), alice.role), ("alice", Role::Admin));
    // Trailing spaces belong to the password; only the line ending was taken off.
    let bob = authenticate(&store, "bob", "bob's long passphrase")
        .await
        .unwrap();
    assert_eq!(bob.map(|user| user.role), Some(Role::Operator));
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_are_both_refused_alike() {
    let admin = Admin::new().await;
    admin.add("alice", "viewer", "correct horse battery").await;
    let store = admin.store().await;
    assert_eq!(
        authenticate(&store, "alice", "wrong horse battery")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        authenticate(&store, "mallory", "correct horse battery")
            .await
            .unwrap(),
        None
    );
    assert_eq!(authenticate(&store, "alice", "").await.unwrap(), None);
}

#[tokio::test]
async fn a_name_taken_in_any_letter_case_is_refused() {
    let admin = Admin::new().await;
    admin.add("Alice", "admin", "correct horse battery").await;
    let stderr = admin
        .refused(
            &["add", "alice", "--role", "viewer"],
            "another long password\n",
            1,
        )
        .await;
    assert!(
        stderr.contains("a user called \"alice\" already exists"),
        "{stderr}"
    );
    assert_eq!(admin.user_count().await, 1);
}

#[tokio::test]
async fn there_is_no_way_to_give_a_password_on_the_command_line() {
    let admin = Admin::new().await;
    let stderr = admin
        .refused(
            &[
                "add",
                "alice",
                "--role",
                "admin",
                "--password",
                "correct horse battery",
            ],
            "",
            2,
        )
        .await;
    assert!(
        stderr.contains("unexpected argument '--password'"),
        "{stderr}"
    );
    let stderr = admin
        .refused(&["passwd", "alice", "correct horse battery"], "", 2)
        .await;
    assert!(stderr.contains("unexpected argument"), "{stderr}");
    assert!(admin.ok(&["list"], "").await.starts_with("no users yet"));
}

#[tokio::test]
async fn weak_or_missing_passwords_and_bad_roles_are_refused() {
    let admin = Admin::new().await;
    let stderr = admin
        .refused(&["add", "alice", "--role", "admin"], "123456789\n", 1)
        .await;
    assert!(
        stderr.contains("the password is too short: 9 characters, at least 10"),
        "{stderr}"
    );
    let stderr = admin
        .refused(&["add", "alice", "--role", "admin"], "", 1)
        .await;
    assert!(stderr.contains("no password on standard input"), "{stderr}");
    let stderr = admin
        .refused(
            &["add", "alice", "--role", "root"],
            "correct horse battery\n",
            1,
        )
        .await;
    assert!(
        stderr.contains("unknown role \"root\": expected viewer, operator or admin"),
        "{stderr}"
    );
    let stderr = admin
        .refused(
            &["add", "al ice", "--role", "admin"],
            "correct horse battery\n",
            1,
        )
        .await;
    assert!(
        stderr.contains("\"al ice\" is not a valid user name"),
        "{stderr}"
    );
    assert_eq!(admin.user_count().await, 0);
}

#[tokio::test]
async fn passwd_replaces_the_password_and_ends_only_that_users_sessions() {
    let admin = Admin::new().await;
    admin.add("alice", "admin", "correct horse battery").await;
    admin.add("bob", "viewer", "bob's long passphrase").await;
    // Sessions in tower-sessions' own table, which the migrations make even in a database only
    // the CLI ever opened.
    sqlx::raw_sql(
        "insert into tower_sessions.session values \
             ('a1', '', now() + interval '1 day'), ('a2', '', now() + interval '1 day'), \
             ('b1', '', now() + interval '1 day')",
    )
    .execute(&admin.db)
    .await
    .unwrap();
    admin.log_in_sessions("alice", &["a1", "a2"]).await;
    admin.log_in_sessions("bob", &["b1"]).await;

    let said = admin
        .ok(&["passwd", "alice"], "a brand new passphrase\n")
        .await;
    assert_eq!(said.trim(), "password of alice changed; 2 session(s) ended");

    let store = admin.store().await;
    assert_eq!(
        authenticate(&store, "alice", "correct horse battery")
            .await
            .unwrap(),
        None
    );
    assert!(authenticate(&store, "alice", "a brand new passphrase")
        .await
        .unwrap()
        .is_some());
    assert!(admin.sessions_of("alice").await.is_empty());
    assert_eq!(admin.sessions_of("bob").await, ["b1"]);
    let left: Vec<String> = sqlx::query_scalar("select id from tower_sessions.session order by id")
        .fetch_all(&admin.db)
        .await
        .unwrap();
    assert_eq!(left, ["b1"]);

    let stderr = admin.refused(&["passwd", "alice"], "short\n", 1).await;
    assert!(stderr.contains("too short"), "{stderr}");
}

#[tokio::test]
async fn a_disabled_user_cannot_log_in_and_loses_their_sessions_until_enabled() {
    let admin = Admin::new().await;
    admin.add("alice", "admin", "correct horse battery").await;
    admin.add("bob", "operator", "bob's long passphrase").await;
    // Sessions the web server never stored (no rows in tower-sessions' table): ending them
    // must still work.
    admin.log_in_sessions("bob", &["b1", "b2"]).await;

    let said = admin.ok(&["disable", "BOB"], "").await;
    assert_eq!(said.trim(), "BOB disabled; 2 session(s) ended");
    assert!(admin.sessions_of("bob").await.is_empty());
    let store = admin.store().await;
    assert_eq!(
        authenticate(&store, "bob", "bob's long passphrase")
            .await
            .unwrap(),
        None
    );
    assert!(admin
        .ok(&["list"], "")
        .await
        .contains("bob    operator  yes"));

    admin.ok(&["enable", "bob"], "").await;
    assert!(authenticate(&store, "bob", "bob's long passphrase")
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn the_last_enabled_admin_can_be_neither_disabled_nor_demoted() {
    let admin = Admin::new().await;
    admin.add("alice", "admin", "correct horse battery").await;
    admin.add("bob", "admin", "bob's long passphrase").await;
    admin.ok(&["disable", "bob"], "").await;

    let stderr = admin.refused(&["disable", "alice"], "", 1).await;
    assert!(
        stderr.contains("\"alice\" is the last enabled admin"),
        "{stderr}"
    );
    let stderr = admin.refused(&["role", "alice", "operator"], "", 1).await;
    assert!(
        stderr.contains("\"alice\" is the last enabled admin"),
        "{stderr}"
    );
    assert!(
        authenticate(&admin.store().await, "alice", "correct horse battery")
            .await
            .unwrap()
            .is_some()
    );

    // With another admin enabled, either may step down.
    admin.ok(&["enable", "bob"], "").await;
    let said = admin.ok(&["role", "alice", "viewer"], "").await;
    assert_eq!(said.trim(), "alice is now viewer");
    admin.refused(&["disable", "bob"], "", 1).await;
}

#[tokio::test]
async fn commands_on_an_unknown_user_name_it() {
    let admin = Admin::new().await;
    for args in [
        &["passwd", "ghost"][..],
        &["disable", "ghost"],
        &["enable", "ghost"],
        &["role", "ghost", "viewer"],
    ] {
        let stderr = admin.refused(args, "a long enough password\n", 1).await;
        assert!(
            stderr.contains("there is no user called \"ghost\""),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test]
async fn every_change_is_in_the_audit_log_by_the_cli() {
    let admin = Admin::new().await;
    admin.add("alice", "admin", "correct horse battery").await;
    admin.add("bob", "viewer", "bob's long passphrase").await;
    admin
        .ok(&["passwd", "bob"], "a brand new passphrase\n")
        .await;
    admin.ok(&["role", "bob", "operator"], "").await;
    admin.ok(&["disable", "bob"], "").await;
    admin.ok(&["enable", "bob"], "").await;
    // Refused changes change nothing, so they add nothing.
    admin.refused(&["disable", "alice"], "", 1).await;

    let cli = Some("cli".to_owned());
    let row = |action: &str, user: &str| (action.to_owned(), cli.clone(), Some(user.to_owned()));
    assert_eq!(
        admin.audit_trail().await,
        [
            row("user_added", "alice"),
            row("user_added", "bob"),
            row("password_changed", "bob"),
            row("role_changed", "bob"),
            row("user_disabled", "bob"),
            row("user_enabled", "bob"),
        ]
    );
    let recent = admin.store().await.recent_audit(2).await.unwrap();
    assert_eq!(recent[0].action, "user_enabled");
    assert_eq!(recent[1].action, "user_disabled");
    assert_eq!(recent[1].detail["sessions_ended"], 0);
    assert_eq!(recent[1].actor_user_id, None);
}

#[tokio::test]
async fn serve_warns_until_there_is_an_enabled_admin() {
    let admin = Admin::new().await;
    // Its broker is unreachable, so `serve` stops right after the database checks, having
    // logged what it found.
    let serve = || async {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", &admin.database_url)
            .env("LOOKOUT_MQTT_URL", "mqtt://127.0.0.1:1")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output();
        let output = tokio::time::timeout(Duration::from_secs(60), output)
            .await
            .expect("serve gave up on the broker within a minute")
            .unwrap();
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let hint = "no admin user yet: create one with `lookout user add NAME --role admin`";
    let stderr = serve().await;
    assert!(stderr.contains(hint), "{stderr}");
    admin.add("alice", "admin", "correct horse battery").await;
    let stderr = serve().await;
    assert!(!stderr.contains("no admin user yet"), "{stderr}");
    assert!(stderr.contains("LOOKOUT_MQTT_URL"), "{stderr}");
}
