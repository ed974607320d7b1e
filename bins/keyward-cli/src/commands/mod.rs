//! One module per command group; each returns data and prints it in the chosen format.

mod admins;
mod audit;
mod backup;
mod config;
mod directory;
mod employees;
mod generate;
mod invitations;
mod keys;
mod migrate;
mod passwords;
mod secrets;
mod sync;
mod token;

use keyward_service::{Keyward, Overrides, Settings};

use crate::backend::Backend;
use crate::cli::{Cli, Command, Global, OutputFormat};
use crate::exit::Failure;
use crate::remote::{Remote, ServerOptions};

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let global = &cli.global;
    match cli.command {
        // Generated from the grammar alone: no configuration, database or server, whatever
        // --config, --server or their variables say.
        Command::Completions { shell } => generate::completions(shell),
        Command::ManPages { dir } => generate::man_pages(&dir, global.output),
        // These work on this host's database and files; `config check` reports a file that
        // does not load instead of stopping at it.
        Command::Config(cmd) => {
            local_only(global, "config")?;
            config::run(global, cmd, &overrides(global)).await
        }
        Command::Migrate(args) => {
            local_only(global, "migrate")?;
            migrate::run(&load_settings(global)?, &args, global.output).await
        }
        Command::Secrets(cmd) => {
            local_only(global, "secrets")?;
            secrets::run(&load_settings(global)?, cmd, global.output).await
        }
        Command::Backup { file } => {
            local_only(global, "backup")?;
            backup::backup(&load_settings(global)?, &file, global.output).await
        }
        Command::Restore { file } => {
            local_only(global, "restore")?;
            backup::restore(&load_settings(global)?, &file, global.output).await
        }
        // Boxed: every command's future is in this one, and it is large.
        command => {
            let backend = backend(global, &command).await?;
            Box::pin(dispatch(&backend, command, global.output)).await
        }
    }
}

/// The commands that work on a backend: the database, or a server with `--server`.
async fn dispatch(
    backend: &Backend,
    command: Command,
    output: OutputFormat,
) -> Result<(), Failure> {
    match command {
        Command::Token(cmd) => token::run(backend, cmd, output).await,
        Command::Admins(cmd) => admins::run(backend, cmd, output).await,
        Command::Audit(cmd) => audit::run(backend, cmd, output).await,
        Command::Employees(cmd) => employees::run(backend, cmd, output).await,
        Command::Keys(cmd) => keys::run(backend, cmd, output).await,
        Command::Invitations(cmd) => invitations::run(backend, cmd, output).await,
        Command::Mail(cmd) => invitations::mail(backend, cmd, output).await,
        Command::Passwords(cmd) => passwords::run(backend, cmd, output).await,
        Command::Workstations(cmd) => passwords::workstations(backend, cmd, output).await,
        Command::Sync(args) => sync::run(backend, args, output).await,
        Command::Directory(cmd) => directory::run(backend, cmd, output).await,
        // `run` handles these before a backend exists.
        Command::Config(_)
        | Command::Migrate(_)
        | Command::Secrets(_)
        | Command::Backup { .. }
        | Command::Restore { .. } => Err(Failure::local_only(
            "config, migrate, secrets, backup and restore",
        )),
        Command::Completions { .. } | Command::ManPages { .. } => Err(Failure {
            code: "internal",
            exit_code: crate::exit::INTERNAL,
            message: "completions and man pages need no backend".to_owned(),
        }),
    }
}

/// The server's API with `--server`; else the database, opened as it is (an empty database,
/// or a schema older or newer than this keyward, is refused with the one-line message naming
/// `keyward migrate`, exit 9 or 10: only `keyward migrate` changes the schema). `directory`
/// needs the configuration only.
async fn backend(global: &Global, command: &Command) -> Result<Backend, Failure> {
    if let Some(url) = &global.server {
        return Ok(Backend::Remote(Remote::new(&ServerOptions {
            url: url.clone(),
            ca_file: global.server_ca.clone(),
            token_file: global.token_file.clone(),
        })?));
    }
    let settings = load_settings(global)?;
    // This may start `keyward` again with the Kerberos variables its directories need.
    keyward_service::enter_kerberos_environment(&settings)?;
    let keyward = match command {
        Command::Directory(_) => Keyward::connect(&settings).await?,
        _ => Keyward::open(&settings).await?,
    };
    Ok(Backend::Direct(Box::new(keyward)))
}

/// Refuses `--server` for a command that works on this host only.
fn local_only(global: &Global, command: &str) -> Result<(), Failure> {
    match global.server {
        Some(_) => Err(Failure::local_only(command)),
        None => Ok(()),
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
