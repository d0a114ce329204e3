//! `lookout demo`: Lookout with nothing to set up. It starts an MQTT broker inside the process,
//! uses PostgreSQL from `DATABASE_URL` or else a private cluster of its own, sets up an admin and
//! a status page, writes a week of the simulated devices' history on the first run, runs the same
//! [`Application`] as `lookout serve` against that broker, and starts simulated devices that
//! publish to it.

mod broker;
mod content;
mod devices;
mod history;
mod postgres;
mod simulator;

use crate::config::Settings;
use crate::maintenance;
use crate::startup::{self, Application};
use anyhow::Context;
use app::server::store::Store;
use postgres::PrivatePostgres;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

pub struct DemoOptions {
    /// Where the web pages are served.
    pub listen: SocketAddr,
    /// Where the in-process broker listens (port 0: a free one).
    pub mqtt_listen: SocketAddr,
    /// Where the private PostgreSQL cluster lives; [`default_data_dir`] when `None`.
    pub data_dir: Option<PathBuf>,
}

/// Runs the demo until Ctrl-C or SIGTERM, then stops what it started.
pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    // From the start: the signals' default action would end the process at once, leaving a
    // private PostgreSQL running without anyone to stop it.
    let interrupted = interrupted()?;
    tokio::pin!(interrupted);
    let demo = tokio::select! {
        started = start(&options) => started?,
        () = &mut interrupted => {
            // Dropping the half-started demo stops its PostgreSQL.
            tracing::info!("interrupted while starting");
            return Ok(());
        }
    };
    let Started {
        app,
        broker,
        postgres,
        database_url,
        password,
    } = demo;

    let simulation = simulator::start(broker);
    print_welcome(
        reachable(SocketAddr::new(options.listen.ip(), app.port())),
        broker,
        postgres.as_ref(),
        &database_url,
        password.as_deref(),
    );
    // The same signals the start-up waited for: the application stops gracefully (its writer
    // stores and acknowledges what it took) before the devices and the database go.
    let outcome = app.run_until(interrupted).await;
    drop(simulation);
    drop(postgres);
    outcome
}

struct Started {
    app: Application,
    broker: SocketAddr,
    postgres: Option<PrivatePostgres>,
    database_url: String,
    password: Option<String>,
}

async fn start(options: &DemoOptions) -> anyhow::Result<Started> {
    let (database_url, postgres) = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            if let Some(dir) = &options.data_dir {
                tracing::warn!(data_dir = %dir.display(), "DATABASE_URL is set, so the data directory is not used");
            }
            (url, None)
        }
        _ => {
            let data_dir = match &options.data_dir {
                Some(dir) => dir.clone(),
                None => default_data_dir()?,
            };
            let postgres = PrivatePostgres::start(&data_dir).await?;
            (postgres.url(), Some(postgres))
        }
    };
    let broker = broker::start(options.mqtt_listen).await?;
    let settings = settings(options, &database_url, broker)?;

    // Before the application starts, so its first page already finds them.
    let store = startup::open_database(&settings).await?;
    content::set_up_devices_and_page(&store)
        .await
        .context("setting up the demo's status page")?;
    write_history(&store, &settings).await?;
    let password = content::admin(&store)
        .await
        .context("setting up the demo's admin")?;
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(error) => {
            // The password is shown only once: not seeing it now would mean resetting it.
            if let Some(password) = &password {
                println!(
                    "The demo's admin was created before start-up failed: log in as {} with \
                     the password {password} once it runs.",
                    content::ADMIN
                );
            }
            return Err(error.into());
        }
    };
    Ok(Started {
        app,
        broker,
        postgres,
        database_url,
        password,
    })
}

/// The simulated devices' past. Before the admin is created, so that a run interrupted meanwhile
/// has made no password it never showed (the next run writes the rest of the history); before
/// the devices start, so that the history ends where they begin.
async fn write_history(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    // The partitions the application makes at start-up, made first: the history's last hours
    // belong in yesterday's and today's, which could not be made once such rows sat in
    // message_default.
    store
        .ensure_message_partitions(now.date_naive(), maintenance::PARTITION_DAYS_AHEAD)
        .await
        .context("creating message partitions")?;
    // Charts without a past still make a working demo, so a failure here does not stop it.
    if let Err(error) = history::backfill(store, &settings.retention, now).await {
        tracing::warn!(error = %format!("{error:#}"), "the demo's simulated history is incomplete");
    }
    Ok(())
}

/// The settings `serve` would read from the environment, with the demo's database, address and
/// broker. Other broker settings (a login, TLS files, subscriptions) are meant for another broker,
/// so they are ignored; everything else (the writer, retention, the web) still applies.
fn settings(
    options: &DemoOptions,
    database_url: &str,
    broker: SocketAddr,
) -> anyhow::Result<Settings> {
    let demo: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", database_url.to_owned()),
        ("LOOKOUT_LISTEN", options.listen.to_string()),
        ("LOOKOUT_MQTT_URL", format!("mqtt://{broker}")),
        ("LOOKOUT_MQTT_CLIENT_ID", "lookout-demo".to_owned()),
        ("LOOKOUT_MQTT_SUBSCRIPTIONS", "#".to_owned()),
    ]);
    let settings = Settings::load_from(None, |name| match demo.get(name) {
        Some(value) => Some(value.clone()),
        None if name.starts_with("LOOKOUT_MQTT_") => None,
        None => std::env::var(name).ok(),
    })?;
    Ok(settings)
}

/// `$XDG_DATA_HOME/lookout/demo` (`~/.local/share/lookout/demo`). For root,
/// `/var/lib/lookout/demo`: PostgreSQL then runs as the `postgres` user, which cannot enter
/// root's home.
pub fn default_data_dir() -> anyhow::Result<PathBuf> {
    if postgres::running_as_root()? {
        return Ok(PathBuf::from("/var/lib/lookout/demo"));
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .context("neither XDG_DATA_HOME nor HOME is set: choose a directory with --data-dir")?;
    Ok(data_home.join("lookout/demo"))
}

/// Where a client connects to reach a listener on `listen` (a wildcard address means any).
fn reachable(listen: SocketAddr) -> SocketAddr {
    if listen.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port())
    } else {
        listen
    }
}

/// Resolves at the first Ctrl-C or SIGTERM after this call.
fn interrupted() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// The one place the demo talks to its user rather than to the logs: on stdout (the logs go to
/// stderr), once everything has started.
fn print_welcome(
    web: SocketAddr,
    broker: SocketAddr,
    postgres: Option<&PrivatePostgres>,
    database_url: &str,
    password: Option<&str>,
) {
    let reset = match postgres {
        // The private cluster runs only as long as the demo does.
        Some(_) => format!(
            "while the demo runs: DATABASE_URL='{database_url}' lookout user passwd {}",
            content::ADMIN
        ),
        None => format!(
            "with the same DATABASE_URL: lookout user passwd {}",
            content::ADMIN
        ),
    };
    let password = match password {
        Some(password) => format!("{password}   (shown only this once; to change it, {reset})"),
        None => format!("printed when the demo first ran; to set a new one, {reset}"),
    };
    let database = match postgres {
        Some(postgres) => format!(
            "a private PostgreSQL in {} (stopped when the demo stops)",
            postgres.directory().display()
        ),
        None => "the one DATABASE_URL names".to_owned(),
    };
    println!(
        "\n\
         Lookout demo is running.\n\
         \n  Dashboard:    http://{web}/\
         \n  Log in as:    {admin}\
         \n  Password:     {password}\
         \n  Status page:  http://{web}/status/{slug}\
         \n  MQTT broker:  mqtt://{broker}   (publish your own: mosquitto_pub -h {host} -p {port} -t demo/hello -m hi)\
         \n  Database:     {database}\
         \n\nCtrl-C stops it.\n",
        admin = content::ADMIN,
        slug = content::PAGE_SLUG,
        host = broker.ip(),
        port = broker.port(),
    );
}
