//! The command-line grammar.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// keyward: directory sync, hardware keys and password rotation for Active Directory.
#[derive(Debug, Parser)]
#[command(name = "keyward", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// TOML configuration file (the server's).
    #[arg(long, global = true, env = "KEYWARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL; overrides the file and `KEYWARD_DATABASE_URL`.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// One JSON document on stdout; errors as JSON on stderr.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update the database schema.
    Migrate,
    /// Admin API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Employees.
    #[command(subcommand)]
    Employees(EmployeesCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and cannot be shown again.
    Create {
        /// Unique name, e.g. ci-pipeline.
        #[arg(long)]
        name: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by name.
    Revoke {
        /// The token's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EmployeesCommand {
    /// List every employee with its directory accounts.
    List,
    /// Show one employee, by id or e-mail.
    Show {
        /// Employee id or e-mail address.
        employee: String,
    },
    /// Create an employee for a person in no directory.
    Create {
        /// E-mail address (unique).
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        display_name: String,
    },
}
