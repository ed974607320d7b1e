//! `keyward-server`: parse flags, load settings, start logging, serve.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use keyward_service::{LogFormat, Overrides, Settings};
use tracing_subscriber::EnvFilter;

/// keyward's HTTP server. Settings come from the file, then KEYWARD_* variables, then flags.
#[derive(Debug, Parser)]
#[command(name = "keyward-server", version)]
struct Args {
    /// TOML configuration file.
    #[arg(long, env = "KEYWARD_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Database URL (default `sqlite://keyward.db`).
    #[arg(long)]
    database_url: Option<String>,
    /// Log format: text or json.
    #[arg(long, value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// Log filter, e.g. info or keyward=debug,info.
    #[arg(long)]
    log_level: Option<String>,
}

/// Exit code for a configuration that cannot be used.
const EXIT_CONFIG: u8 = 3;
/// Exit code for a failure while starting or serving.
const EXIT_RUNTIME: u8 = 1;

fn main() -> ExitCode {
    let args = Args::parse();
    let overrides = Overrides {
        listen: args.listen,
        database_url: args.database_url,
        log_format: args.log_format.map(|f| {
            if f == "json" {
                LogFormat::Json
            } else {
                LogFormat::Text
            }
        }),
        log_level: args.log_level,
    };
    let settings = match Settings::load(args.config.as_deref(), &overrides) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("keyward-server: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let filter = match EnvFilter::try_new(&settings.log_level) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("keyward-server: configuration error: key `log_level`: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    match settings.log_format {
        LogFormat::Json => subscriber.json().init(),
        LogFormat::Text => subscriber.init(),
    }
    if let Err(e) = keyward_server::check_transport(&settings) {
        eprintln!("keyward-server: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    // A broken template file stops the server here, naming the file, rather than failing
    // every message it would render.
    if let Err(e) = keyward_service::check_mail_templates(&settings.mail) {
        eprintln!("keyward-server: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keyward-server: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match runtime.block_on(keyward_server::run(
        settings,
        keyward_server::shutdown_signal(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("keyward-server: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
