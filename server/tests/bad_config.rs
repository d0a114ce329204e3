//! The real binary refuses settings it cannot use, naming the setting, instead of starting.

mod support;

use std::process::{Command, Output};
use std::time::Duration;
use support::{broker_url, fresh_database, unique_name};

/// Runs `lookout serve` with only the given variables (plus PATH) and returns how it ended.
fn serve_with(vars: &[(&str, &str)], args: &[&str]) -> Output {
    run_with("serve", vars, args)
}

/// Runs a `lookout` command with only the given variables (plus PATH).
fn run_with(subcommand: &str, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lookout"));
    command.arg(subcommand).args(args).env_clear();
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    command.env("RUST_LOG", "warn");
    for (key, value) in vars {
        command.env(key, value);
    }
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A binary that starts instead of refusing would run forever: bound the wait. Until the
    // waiting thread has reaped it, the child's pid cannot be reused, so killing it is safe.
    let pid = child.id();
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output().unwrap());
    });
    match outcome.recv_timeout(Duration::from_secs(30)) {
        Ok(output) => output,
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            let output = outcome.recv().unwrap();
            panic!(
                "lookout kept running instead of refusing: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

fn assert_refused(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "it started: {stderr}");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

#[test]
fn a_missing_database_url_is_refused_by_name() {
    let output = serve_with(&[], &[]);
    assert_refused(&output, "DATABASE_URL is not set");
}

#[test]
fn an_unreachable_database_is_refused_by_name_without_its_password() {
    let output = serve_with(
        &[(
            "DATABASE_URL",
            "postgres://lookout:s3cret@127.0.0.1:1/lookout",
        )],
        &[],
    );
    assert_refused(
        &output,
        "DATABASE_URL: cannot connect to PostgreSQL at postgres://lookout:***@127.0.0.1:1/lookout",
    );
    assert!(!String::from_utf8_lossy(&output.stderr).contains("s3cret"));
}

#[test]
fn a_malformed_broker_url_is_refused_by_name() {
    let output = serve_with(
        &[
            ("DATABASE_URL", "postgres://x@127.0.0.1/x"),
            ("LOOKOUT_MQTT_URL", "mqtt//127.0.0.1:1883"),
        ],
        &[],
    );
    assert_refused(&output, "LOOKOUT_MQTT_URL is not valid");
}

#[tokio::test]
async fn an_unreachable_broker_is_refused_by_name() {
    let database_url = fresh_database().await;
    let output = serve_with(
        &[
            ("DATABASE_URL", &database_url),
            ("LOOKOUT_MQTT_URL", "mqtt://127.0.0.1:1"),
            ("LOOKOUT_MQTT_CLIENT_ID", &unique_name("lookout")),
        ],
        &[],
    );
    assert_refused(
        &output,
        "LOOKOUT_MQTT_URL: cannot connect to the broker at mqtt://127.0.0.1:1",
    );
}

#[tokio::test]
async fn a_busy_listen_address_is_refused_by_name() {
    let database_url = fresh_database().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = serve_with(
        &[
            ("DATABASE_URL", &database_url),
            ("LOOKOUT_MQTT_URL", &broker_url()),
            ("LOOKOUT_MQTT_CLIENT_ID", &unique_name("lookout")),
            (
                "LOOKOUT_MQTT_SUBSCRIPTIONS",
                &format!("{}/#", unique_name("t")),
            ),
            ("LOOKOUT_LISTEN", &address),
        ],
        &[],
    );
    assert_refused(
        &output,
        &format!("LOOKOUT_LISTEN: cannot listen on {address}"),
    );
}

#[test]
fn a_typo_in_the_config_file_is_refused_by_key() {
    let dir = std::env::temp_dir().join(unique_name("lookout-config"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lookout.toml");
    std::fs::write(
        &path,
        "database_url = \"postgres://x@127.0.0.1/x\"\nlisten_addr = \"127.0.0.1:3000\"\n",
    )
    .unwrap();
    let output = serve_with(&[], &["--config", path.to_str().unwrap()]);
    assert_refused(&output, "unknown field `listen_addr`");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_config_file_is_refused_by_path() {
    let output = serve_with(&[], &["--config", "/nonexistent/lookout.toml"]);
    assert_refused(
        &output,
        "cannot read the config file /nonexistent/lookout.toml",
    );
}

#[test]
fn check_config_validates_without_starting_and_never_prints_a_password() {
    let good = [
        (
            "DATABASE_URL",
            "postgres://lookout:db-secret-4711@db.invalid:5432/lookout",
        ),
        (
            "LOOKOUT_MQTT_URL",
            "mqtt://ingest:broker-secret-4711@broker.invalid:1883",
        ),
        ("LOOKOUT_LISTEN", "0.0.0.0:8080"),
    ];
    // Neither host exists: check-config does not connect, it only reads the settings.
    let output = run_with("check-config", &good, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("The settings are valid"), "{stdout}");
    assert!(
        stdout.contains("0.0.0.0:8080") && stdout.contains("[LOOKOUT_LISTEN]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mqtt.username") && stdout.contains("ingest"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("secret-4711"),
        "a password was printed: {stdout}"
    );

    let bad = [
        ("DATABASE_URL", "postgres://lookout@db.invalid/lookout"),
        ("LOOKOUT_STATUS_TTL_SECONDS", "0"),
    ];
    let output = run_with("check-config", &bad, &[]);
    assert_refused(&output, "LOOKOUT_STATUS_TTL_SECONDS");
    let output = run_with("check-config", &[("LOOKOUT_LOG_FORMAT", "xml")], &[]);
    assert_refused(&output, "LOOKOUT_LOG_FORMAT");
}

#[test]
fn check_config_reads_the_https_files_and_refuses_a_key_that_does_not_fit() {
    let certificates = support::services::TestCertificates::generate();
    let cert = certificates.server_cert.display().to_string();
    let key = certificates.server_key.display().to_string();
    let database = ("DATABASE_URL", "postgres://lookout@db.invalid/lookout");
    let output = run_with(
        "check-config",
        &[
            database,
            ("LOOKOUT_TLS_CERT_FILE", &cert),
            ("LOOKOUT_TLS_KEY_FILE", &key),
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("web.tls_cert_file") && stdout.contains(&cert),
        "{stdout}"
    );

    // The authority's certificate with the server's key: readable, but not a pair.
    let ca = certificates.ca.display().to_string();
    let output = run_with(
        "check-config",
        &[
            database,
            ("LOOKOUT_TLS_CERT_FILE", &ca),
            ("LOOKOUT_TLS_KEY_FILE", &key),
        ],
        &[],
    );
    assert_refused(
        &output,
        "LOOKOUT_TLS_KEY_FILE is not valid: the key does not go with",
    );
}
