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
    /// Write the manual page keyward-server.1 into DIR and exit (for packaging).
    #[arg(long, hide = true, value_name = "DIR")]
    man_page: Option<PathBuf>,
}

/// Exit code for a configuration that cannot be used.
const EXIT_CONFIG: u8 = 3;
/// Exit code for a failure while starting or serving.
const EXIT_RUNTIME: u8 = 1;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(dir) = &args.man_page {
        return write_man_page(dir);
    }
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
    // Before anything starts: this may start the server again with the Kerberos variables.
    if let Err(e) = keyward_service::enter_kerberos_environment(&settings) {
        eprintln!("keyward-server: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
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
    // The signal handlers are registered inside the runtime, before anything starts.
    let shutdown = {
        let _entered = runtime.enter();
        keyward_server::shutdown_signal()
    };
    let served = runtime.block_on(keyward_server::run(settings, shutdown));
    keyward_service::end_kerberos_environment();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("keyward-server: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Writes keyward-server.1, generated from the flags above, into `dir` (created if missing).
fn write_man_page(dir: &std::path::Path) -> ExitCode {
    let page = clap_mangen::Man::new(<Args as clap::CommandFactory>::command()).manual("keyward");
    match std::fs::create_dir_all(dir).and_then(|()| page.generate_to(dir)) {
        Ok(path) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "keyward-server: cannot write the manual page into {}: {e}",
                dir.display()
            );
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
