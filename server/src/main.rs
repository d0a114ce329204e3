use clap::{Parser, Subcommand};
use lookout::config::Settings;
use lookout::startup::Application;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();

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
