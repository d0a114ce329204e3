use clap::{Parser, Subcommand};
use lookout::config::Settings;
use lookout::startup::Application;
use lookout::user_cli::{self, UserCommand};
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
    /// Manage the people who log in. Needs only the database.
    User {
        /// A TOML file of settings, as for `serve`; only the database URL is used.
        #[arg(long, env = "LOOKOUT_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: UserCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The user commands print their own results; routine logs would only bury them.
    let default_filter = match cli.command {
        Command::User { .. } | Command::CheckConfig { .. } => "warn",
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
                print!("{}", settings.summary());
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
