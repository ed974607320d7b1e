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
    /// Act through this running server's API (e.g. `https://keyward.example.com:8443`) instead
    /// of on the database; the admin token comes from `KEYWARD_TOKEN` or --token-file.
    /// `migrate`, `secrets` and `config` work on this host only.
    #[arg(long, global = true, env = "KEYWARD_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// With --server: a file whose first line is the admin token (when `KEYWARD_TOKEN` is not
    /// set).
    #[arg(long, global = true, env = "KEYWARD_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// With --server: trust the server's certificate if this PEM CA (bundle) signed it,
    /// instead of the system's roots.
    #[arg(long, global = true, env = "KEYWARD_SERVER_CA", value_name = "FILE")]
    pub server_ca: Option<PathBuf>,
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
    /// Create or update the database schema (the only command that changes it).
    Migrate(MigrateArgs),
    /// Admin API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Console administrators, who sign in with a passkey or security key.
    #[command(subcommand)]
    Admins(AdminsCommand),
    /// Employees.
    #[command(subcommand)]
    Employees(EmployeesCommand),
    /// Hardware keys and their lifecycle.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Configured directories (AD domains).
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// Synchronize directories: `keyward sync [DIRECTORY...]`, `keyward sync runs`, `keyward sync show RUN_ID`.
    Sync(SyncArgs),
    /// Invitations to enroll.
    #[command(subcommand)]
    Invitations(InvitationsCommand),
    /// Outgoing mail.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Domain passwords that live on keys: rotate, set, status (never shows a password).
    #[command(subcommand)]
    Passwords(PasswordsCommand),
    /// Workstations that run the agent: list, approve, revoke.
    #[command(subcommand)]
    Workstations(WorkstationsCommand),
    /// The key-encryption key that seals stored passwords.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Write a backup of the whole database to FILE (one file of JSON lines, mode 0600; never
    /// overwrites). Safe beside running servers: the rows are read in one snapshot. Sealed
    /// passwords stay sealed: keep the key-encryption key with it, apart.
    Backup {
        /// The backup file to write.
        file: PathBuf,
    },
    /// Restore a backup into this database, SQLite or PostgreSQL (either backend's backup): an
    /// empty database that `keyward migrate` of the same keyward made, with no server running on
    /// it. All or nothing.
    Restore {
        /// The backup file (from `keyward backup`).
        file: PathBuf,
    },
    /// The configuration (the file, `KEYWARD_*` variables and flags): check it.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The audit log: who changed what, when.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell on stdout.
    ///
    /// For example `keyward completions bash > ~/.local/share/bash-completion/completions/keyward`
    /// (the Debian package installs those of bash, zsh and fish). Needs no configuration.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages, keyward.1 and one per command (keyward-keys-assign.1), into
    /// DIR, for packaging.
    #[command(hide = true)]
    ManPages {
        /// Where to write them (created if missing).
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The newest records that match, newest first.
    List {
        #[command(flatten)]
        filter: AuditFilterArgs,
        /// How many records (1 to 10000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        limit: u64,
    },
    /// Every record that matches, newest first, on stdout: CSV (with a header row) or JSON
    /// lines (one record per line), read page by page.
    Export {
        #[command(flatten)]
        filter: AuditFilterArgs,
        /// `csv` or `jsonl`.
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
    },
}

/// Which audit records: every filter given must match.
#[derive(Debug, clap::Args)]
pub struct AuditFilterArgs {
    /// Exactly this actor: `cli`, `system`, `token:NAME`, `admin:EMAIL`, `workstation:ID`.
    #[arg(long)]
    pub actor: Option<String>,
    /// Exactly this subject, e.g. `key:SN-1`, `employee:ID`, `admin:EMAIL`.
    #[arg(long)]
    pub subject: Option<String>,
    /// Actions starting with this, e.g. `key.` or `key.assign`.
    #[arg(long)]
    pub action: Option<String>,
    /// At or after: 2026-12-03, 2026-12-03T09:30 (UTC) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Before: the same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
}

/// How `audit export` writes records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header row; formula-like fields are prefixed with `'`.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration as the server would use it: every setting rule, the mail
    /// templates, the TLS, key and password files and variables it names. Prints one line per
    /// problem and exits 3 if there is any; opens no database and changes nothing.
    Check {
        /// Also connect to every configured directory (as `keyward directory test`) and to the
        /// SMTP server (connect, EHLO, TLS, login; nothing is sent).
        #[arg(long)]
        connect: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PasswordsCommand {
    /// Start a rotation with generated passwords for an employee's accounts (those in the
    /// rotation group or on a key; with --directory, the account in that directory).
    Rotate {
        /// Employee id or e-mail.
        #[arg(long)]
        employee: String,
        /// Only the account in this directory.
        #[arg(long)]
        directory: Option<String>,
    },
    /// Set an account's password to a generated or given value; it goes to the key first,
    /// then to the directory.
    Set {
        /// Employee id or e-mail.
        #[arg(long)]
        employee: String,
        /// The directory of the account.
        #[arg(long)]
        directory: String,
        /// Generate the password from the directory's policy.
        #[arg(
            long,
            conflicts_with = "password_file",
            required_unless_present = "password_file"
        )]
        generate: bool,
        /// Read the password from this file (its first line); `-` reads standard input.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Each account's version, state, last commit and what it waits for.
    Status {
        /// Only this employee (id or e-mail).
        #[arg(long)]
        employee: Option<String>,
    },
    /// Run the due directory steps once (the server's worker does this on its own).
    Advance,
}

#[derive(Debug, Subcommand)]
pub enum WorkstationsCommand {
    /// Every workstation with its status, address and credential fingerprint, in
    /// registration order.
    List {
        /// Only the workstations after this one (the `next_cursor` of an earlier page; with
        /// --output json).
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
        /// At most this many (1 to 1000); without it, every workstation.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Approve a registered workstation.
    Approve {
        /// Workstation id.
        id: String,
    },
    /// Revoke a workstation for good.
    Revoke {
        /// Workstation id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Write a new random key file (mode 0600) for `secrets.key_file`; refuses to overwrite.
    NewKeyFile {
        /// Where to write it.
        path: PathBuf,
    },
    /// Check the configured key-encryption key against the database and open every stored
    /// secret with it (exits 3 naming each one that does not open).
    Check,
    /// Re-seal every stored secret with the key in the new key file (made with `new-key-file`).
    /// Stop every keyward-server on the database first. Safe to interrupt: run it again to
    /// finish. Then point `secrets.key_file` at the new file.
    RotateKey {
        /// The new key file.
        new_key_file: PathBuf,
        /// Secrets re-sealed per transaction.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        batch_size: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum InvitationsCommand {
    /// Invitations with their state (queued, sent, failed, accepted, expired, revoked).
    List,
    /// Send an invitation again with a fresh link and expiry.
    Resend {
        /// Invitation id.
        id: String,
    },
    /// Revoke an invitation: its link stops working.
    Revoke {
        /// Invitation id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Send every due message now (the server does this on its own every `mail.send_interval_secs`).
    Send,
}

/// `keyward migrate`: apply, show or list the pending migrations.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Show the applied and pending migrations and change nothing; exit 0 when the schema is
    /// current, 9 when it is behind (or empty), 10 when a newer keyward migrated it.
    #[arg(long, conflicts_with = "dry_run")]
    pub status: bool,
    /// List the migrations that would be applied and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SyncArgs {
    #[command(subcommand)]
    pub command: Option<SyncCommand>,
    /// Directories to synchronize (default: all configured).
    pub directories: Vec<String>,
    /// Read everything, even when an incremental run is possible.
    #[arg(long)]
    pub full: bool,
    /// Plan and report, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply the removals that this earlier run held (removal threshold).
    #[arg(long, value_name = "RUN_ID")]
    pub confirm_removals: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Recent runs, newest first.
    Runs {
        /// How many (1 to 1000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
        limit: u64,
    },
    /// One run's report.
    Show {
        /// The run id.
        run_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// List the configured directories (never their passwords).
    List,
    /// Connect, bind, and report what the server supports and each group's member count.
    Test {
        /// The directory's name in the configuration.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Import keys into stock (status ready): all or none.
    Import {
        /// Serial numbers.
        serials: Vec<String>,
        /// A list of serials: a CSV table whose header names a `serial` column (`,` or `;`
        /// separated, quoted fields and a UTF-8 BOM allowed, other columns ignored), or one
        /// serial per line. Blank lines and lines starting with `#` are skipped; any problem
        /// refuses the whole file, naming the line.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// List keys by serial.
    List {
        /// Only keys in this status.
        #[arg(long)]
        status: Option<String>,
        /// Only the keys after this serial (the `next_cursor` of an earlier page; with
        /// --output json).
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
        /// At most this many (1 to 1000); without it, every key.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Show one key.
    Show {
        /// Serial number.
        serial: String,
    },
    /// Give a ready key to an employee; prints the activation code once.
    Assign {
        /// Serial number.
        serial: String,
        /// Employee id or e-mail.
        #[arg(long)]
        employee: String,
    },
    /// Cancel the issuance of a reserved key not yet linked to a workstation.
    Cancel {
        /// Serial number.
        serial: String,
    },
    /// Enter an activation code: activates a reserved key or resumes a suspended one.
    Activate {
        /// Serial number.
        serial: String,
        /// The activation code.
        #[arg(long)]
        code: String,
    },
    /// Lock an active key.
    Lock {
        /// Serial number.
        serial: String,
        /// `locked_by_invalid_pin` or `admin`.
        #[arg(long, default_value = "admin")]
        reason: String,
    },
    /// Suspend an active key; prints the code that resumes it.
    Suspend {
        /// Serial number.
        serial: String,
        /// Why, for people.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Remove the locked status: the key becomes suspended; prints its new code.
    Unlock {
        /// Serial number.
        serial: String,
    },
    /// Take a key from its owner and queue a wipe.
    Deactivate {
        /// Serial number.
        serial: String,
        /// withdrawal, broken, lost, stolen or admin.
        #[arg(long)]
        reason: String,
    },
    /// Record that a deactivated key was wiped (back to stock).
    ConfirmWipe {
        /// Serial number.
        serial: String,
    },
    /// Mark a key lost or stolen (terminal).
    Compromise {
        /// Serial number.
        serial: String,
        /// lost or stolen.
        #[arg(long)]
        reason: String,
    },
    /// Remove a ready or compromised key from the inventory.
    Delete {
        /// Serial number.
        serial: String,
    },
    /// The key's audit records.
    History {
        /// Serial number.
        serial: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminsCommand {
    /// Create an admin; prints a one-time enrollment link to open in a browser, where they
    /// register a passkey or security key.
    Create {
        /// Their e-mail: what they type to sign in, and what audit records name.
        #[arg(long)]
        email: String,
        /// Their name, shown in the console.
        #[arg(long)]
        name: String,
    },
    /// Print a new one-time enrollment link for an admin (another device, a lost key).
    Link {
        /// The admin's e-mail.
        #[arg(long)]
        email: String,
    },
    /// List admins and their registered credentials.
    List,
    /// Disable an admin: no more sign-in, and their sessions end now.
    Disable {
        /// The admin's e-mail.
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and cannot be shown again.
    Create {
        /// Unique name, e.g. ci-pipeline (never reused, even after a revoke).
        #[arg(long)]
        name: String,
        /// What it may do, comma-separated: read, sync, keys, workstations, passwords, admin
        /// (everything). Required: a token has no rights by default.
        #[arg(long, value_name = "SCOPE[,SCOPE...]")]
        scope: String,
        /// When it stops working: `30d`, `12h`, an RFC 3339 time such as
        /// 2027-01-31T00:00:00Z, or `never` (the default).
        #[arg(long, value_name = "WHEN", default_value = "never")]
        expires: String,
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
