use clap::{Parser, Subcommand};
use lookout::config::Settings;
use lookout::demo::{self, DemoOptions};
use lookout::startup::Application;
use lookout::user_cli::{self, UserCommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Lookout turns MQTT traffic into web pages.
#[derive(Parser)]
#[command(name = "lookout", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Subscribe to the broker, store every message, and serve the web pages.
    Serve {
        /// A TOML file of settings; environment variables override its keys.
        #[arg(long, env = "LOOKOUT_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Check the settings without starting anything: every problem names its setting.
    CheckConfig {
        /// A TOML file of settings; environment variables override its keys.
        #[arg(long, env = "LOOKOUT_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Try Lookout with nothing to set up: an MQTT broker inside this process, simulated devices,
    /// an admin and a public status page.
    ///
    /// Uses the PostgreSQL database DATABASE_URL names, or, when it is unset, a private cluster
    /// created with the machine's initdb under the data directory, started for the demo and
    /// stopped when it ends (Ctrl-C). A second run reuses what the first set up. Other LOOKOUT_*
    /// settings apply as for `serve`, except the broker's.
    Demo {
        /// Where the web pages are served.
        #[arg(long, env = "LOOKOUT_LISTEN", default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// Where the demo's MQTT broker listens; port 0 picks a free one. Devices of your own
        /// may publish to it too.
        #[arg(long, env = "LOOKOUT_DEMO_MQTT_LISTEN", default_value = "127.0.0.1:0")]
        mqtt_listen: SocketAddr,
        /// Where the private PostgreSQL cluster lives when DATABASE_URL is unset [default:
        /// $XDG_DATA_HOME/lookout/demo, that is ~/.local/share/lookout/demo; for root
        /// /var/lib/lookout/demo]
        #[arg(long, env = "LOOKOUT_DEMO_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Take a stopped instance out of its shared group for good, losing nothing: unsubscribe its
    /// broker session from the group's share, store what the broker still held for it, then end
    /// the session. Run it with the settings the instance ran with (its client id).
    LeaveGroup {
        /// A TOML file of settings; environment variables override its keys.
        #[arg(long, env = "LOOKOUT_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Manage the people who log in. Needs only the database.
    User {
        /// A TOML file of settings, as for `serve`; only the database URL is used.
        #[arg(long, env = "LOOKOUT_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The user commands print their own results; routine logs would only bury them.
    let default_filter = match cli.command {
        Command::User { .. } | Command::CheckConfig { .. } => "warn",
        // The demo's broker logs every connection, and every client that goes away without a
        // DISCONNECT as an error: the demo's pump does that on purpose.
        Command::Demo { .. } => "info,rumqttd=off",
        _ => "info",
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr);
    // One JSON object per line for log collectors; read before the settings, since loading them
    // may already log.
    match std::env::var("LOOKOUT_LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().flatten_event(true).init(),
        Ok("text") | Err(_) => logs.init(),
        Ok(other) => {
            eprintln!("lookout: LOOKOUT_LOG_FORMAT: expected text or json, got {other:?}");
            return ExitCode::FAILURE;
        }
    }

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lookout: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Serve { config } => {
                let settings = Settings::load(config.as_deref())?;
                Application::build(settings)
                    .await?
                    .run_until_stopped()
                    .await
            }
            Command::CheckConfig { config } => {
                let settings = Settings::load(config.as_deref())?;
                // Files are read too: a certificate that cannot be used is a wrong setting.
                if let Some(tls) = &settings.web.tls {
                    lookout::https::server_config(tls)?;
                }
                print!("{}", settings.summary());
                Ok(())
            }
            Command::Demo {
                listen,
                mqtt_listen,
                data_dir,
            } => {
                demo::run(DemoOptions {
                    listen,
                    mqtt_listen,
                    data_dir,
                })
                .await
            }
            Command::LeaveGroup { config } => {
                let settings = Settings::load(config.as_deref())?;
                let left = lookout::leave_group::run(settings).await?;
                println!(
                    "Left the group: {} messages the broker still held for this instance are \
                     stored, and its broker session is gone.",
                    left.stored
                );
                Ok(())
            }
            Command::User { config, command } => user_cli::run(config.as_deref(), command).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lookout: {error:#}");
            ExitCode::FAILURE
        }
    }
}
