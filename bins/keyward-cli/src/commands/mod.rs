//! One module per command group; each returns data and prints it in the chosen format.

mod admins;
mod audit;
mod config;
mod directory;
mod employees;
mod invitations;
mod keys;
mod migrate;
mod passwords;
mod sync;
mod token;

use keyward_service::{Keyward, Overrides, Settings};

use crate::cli::{Cli, Command, Global};
use crate::exit::Failure;

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        // `config check` reports a file that does not load instead of stopping at it.
        Command::Config(cmd) => config::run(&cli.global, cmd, &overrides(&cli.global)).await,
        // Boxed: every command's future is in this one, and it is large.
        command => Box::pin(run_with_settings(&cli.global, command)).await,
    }
}

/// Every command but `config`: the settings must load first.
async fn run_with_settings(global: &Global, command: Command) -> Result<(), Failure> {
    let settings = load_settings(global)?;
    let output = global.output;
    match command {
        Command::Migrate(args) => migrate::run(&settings, &args, output).await,
        Command::Token(cmd) => token::run(&open(&settings).await?, cmd, output).await,
        Command::Admins(cmd) => admins::run(&open(&settings).await?, cmd, output).await,
        Command::Audit(cmd) => audit::run(&open(&settings).await?, cmd, output).await,
        Command::Employees(cmd) => employees::run(&open(&settings).await?, cmd, output).await,
        Command::Keys(cmd) => keys::run(&open(&settings).await?, cmd, output).await,
        Command::Invitations(cmd) => invitations::run(&open(&settings).await?, cmd, output).await,
        Command::Mail(cmd) => invitations::mail(&open(&settings).await?, cmd, output).await,
        Command::Passwords(cmd) => passwords::run(&open(&settings).await?, cmd, output).await,
        Command::Workstations(cmd) => {
            passwords::workstations(&open(&settings).await?, cmd, output).await
        }
        Command::Secrets(cmd) => passwords::secrets(&settings, cmd, output).await,
        Command::Sync(args) => sync::run(&open(&settings).await?, args, output).await,
        Command::Directory(cmd) => {
            directory::run(&Keyward::connect(&settings).await?, cmd, output).await
        }
        // `run` dispatches it before the settings are loaded; here for the exhaustive match.
        Command::Config(cmd) => config::run(global, cmd, &overrides(global)).await,
    }
}

fn overrides(global: &Global) -> Overrides {
    Overrides {
        database_url: global.database_url.clone(),
        ..Overrides::default()
    }
}

fn load_settings(global: &Global) -> Result<Settings, Failure> {
    Ok(Settings::load(
        global.config.as_deref(),
        &overrides(global),
    )?)
}

/// Opens the database as it is: an empty database, or a schema older or newer than this keyward,
/// is refused with the one-line message naming `keyward migrate` (exit 9 or 10). Only
/// `keyward migrate` changes the schema.
async fn open(settings: &Settings) -> Result<Keyward, Failure> {
    Ok(Keyward::open(settings).await?)
}
