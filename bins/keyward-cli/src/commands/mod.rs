//! One module per command group; each returns data and prints it in the chosen format.

mod admins;
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
    let settings = load_settings(&cli.global)?;
    match cli.command {
        Command::Migrate(args) => migrate::run(&settings, &args, cli.global.output).await,
        Command::Token(cmd) => token::run(&open(&settings).await?, cmd, cli.global.output).await,
        Command::Admins(cmd) => admins::run(&open(&settings).await?, cmd, cli.global.output).await,
        Command::Employees(cmd) => {
            employees::run(&open(&settings).await?, cmd, cli.global.output).await
        }
        Command::Keys(cmd) => keys::run(&open(&settings).await?, cmd, cli.global.output).await,
        Command::Invitations(cmd) => {
            invitations::run(&open(&settings).await?, cmd, cli.global.output).await
        }
        Command::Mail(cmd) => {
            invitations::mail(&open(&settings).await?, cmd, cli.global.output).await
        }
        Command::Passwords(cmd) => {
            passwords::run(&open(&settings).await?, cmd, cli.global.output).await
        }
        Command::Workstations(cmd) => {
            passwords::workstations(&open(&settings).await?, cmd, cli.global.output).await
        }
        Command::Secrets(cmd) => passwords::secrets(&settings, cmd, cli.global.output).await,
        Command::Sync(args) => sync::run(&open(&settings).await?, args, cli.global.output).await,
        Command::Directory(cmd) => {
            directory::run(&Keyward::connect(&settings).await?, cmd, cli.global.output).await
        }
    }
}

fn load_settings(global: &Global) -> Result<Settings, Failure> {
    let overrides = Overrides {
        database_url: global.database_url.clone(),
        ..Overrides::default()
    };
    Ok(Settings::load(global.config.as_deref(), &overrides)?)
}

/// Opens the database as it is: an empty database, or a schema older or newer than this keyward,
/// is refused with the one-line message naming `keyward migrate` (exit 9 or 10). Only
/// `keyward migrate` changes the schema.
async fn open(settings: &Settings) -> Result<Keyward, Failure> {
    Ok(Keyward::open(settings).await?)
}
