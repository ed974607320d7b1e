//! keyward's settings and how they are layered: defaults, then a TOML file, then `KEYWARD_*`
//! environment variables, then command-line flags. Unknown keys are refused in every layer.
//!
//! Every setting is documented in `docs/configuration.md`; a test keeps the two in step.
//!
//! On hostile input (any file, any value for any key) loading never panics: it gives settings
//! whose every duration is at most ten years (so no deadline computed from one can overflow), or
//! a one-line refusal naming the file or variable and the key (for a TOML syntax error, the line
//! and the key on it). The property tests at the end of this file check it; `PROPTEST_CASES=N`
//! runs N cases of each.

use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Environment variables with this prefix are settings (`KEYWARD_LISTEN` sets `listen`).
pub const ENV_PREFIX: &str = "KEYWARD_";

/// Environment variables with the prefix that are not settings and are therefore not checked:
/// the config file path itself, the test suite's own variables, and the CLI's remote mode
/// (`KEYWARD_SERVER`, `KEYWARD_SERVER_CA`, `KEYWARD_TOKEN`, `KEYWARD_TOKEN_FILE`).
const ENV_NOT_SETTINGS: &[&str] = &["config", "test_", "server", "token"];

/// The default SQLite database, a file in the working directory created on first use.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://keyward.db?mode=rwc";

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Every setting of a keyward installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address the server listens on.
    pub listen: SocketAddr,
    /// Serve plain HTTP on an address that is not loopback (TLS ends in a proxy in front):
    /// without it the server refuses to start there without `[tls]`. Warned on every start.
    pub insecure_http: bool,
    /// The server's own TLS (`[tls]`): certificate, key, optional client CA for the agent API.
    pub tls: TlsSettings,
    /// HTTP limits (`[http]`): request timeouts and concurrency.
    pub http: HttpSettings,
    /// Database URL: `sqlite://PATH?mode=rwc`, `sqlite::memory:` or `postgres://…`.
    pub database_url: String,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `keyward=debug,info`.
    pub log_level: String,
    /// Hardware-key rules.
    pub keys: KeySettings,
    /// Sync rules.
    pub sync: SyncSettings,
    /// Outgoing mail: invitations and notifications.
    pub mail: MailSettings,
    /// The key-encryption key that seals stored passwords.
    pub secrets: SecretsSettings,
    /// Password rotation.
    pub passwords: PasswordSettings,
    /// The workstation agent API: registration.
    pub agent: AgentSettings,
    /// The web console (`[console]`): its address, sessions and enrollment links.
    pub console: ConsoleSettings,
    /// The directories (AD domains) keyward reads: `[[directories]]` tables in the file.
    pub directories: Vec<keyward_directory::DirectoryConfig>,
}

/// How mail is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// STARTTLS on a plain port (587), required.
    #[default]
    Starttls,
    /// TLS from the first byte (465).
    Tls,
    /// No encryption: only for a relay on the same host or tests.
    None,
}

/// Outgoing mail (`[mail]`). Mail is off while `smtp_host` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSettings {
    /// SMTP server; empty turns mail off (messages still queue and wait).
    pub smtp_host: String,
    /// SMTP port.
    pub smtp_port: u16,
    /// `starttls`, `tls` or `none`.
    pub security: SmtpSecurity,
    /// PEM file of the CA that signed the SMTP server's certificate; system roots when empty.
    pub ca_file: Option<std::path::PathBuf>,
    /// SMTP user name, when the server wants a login.
    pub username: Option<String>,
    /// Environment variable holding the SMTP password.
    pub password_env: Option<String>,
    /// Sender address, e.g. `keyward <keyward@example.com>`.
    pub from: String,
    /// The address people open links at, e.g. `https://keyward.example.com`.
    pub public_url: String,
    /// Hours an invitation link stays valid.
    pub invitation_ttl_hours: u32,
    /// Tell an employee when a key is assigned to them.
    pub notify_key_assigned: bool,
    /// Put the activation code in that message. The code waits in the outbox sealed with the
    /// key-encryption key (`[secrets]` must be set) and is dropped once the message is sent.
    pub include_activation_code: bool,
    /// Delivery attempts before a message is marked failed.
    pub max_attempts: u32,
    /// Seconds before the first retry; doubles with each attempt (at most an hour).
    pub retry_base_secs: u64,
    /// Seconds between the server's outbox runs.
    pub send_interval_secs: u64,
    /// Seconds a sender holds the message it is sending; a crashed sender's message is sent
    /// again after this.
    pub claim_secs: u64,
    /// A directory with `invitation.txt`, `invitation.html`, `key_assigned.txt`,
    /// `key_assigned.html`, `password_rotated.txt`, `password_rotated.html` replacing the
    /// built-in templates (any subset).
    pub templates_dir: Option<std::path::PathBuf>,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_host: String::new(),
            smtp_port: 587,
            security: SmtpSecurity::Starttls,
            ca_file: None,
            username: None,
            password_env: None,
            from: "keyward <keyward@localhost>".into(),
            public_url: "http://127.0.0.1:8080".into(),
            invitation_ttl_hours: 168,
            notify_key_assigned: true,
            include_activation_code: false,
            max_attempts: 8,
            retry_base_secs: 30,
            send_interval_secs: 5,
            claim_secs: 60,
            templates_dir: None,
        }
    }
}

/// Sync rules (`[sync]` in the file, `KEYWARD_SYNC__<NAME>` in the environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSettings {
    /// Days an account that left scope is kept (marked missing) before it is removed.
    pub grace_days: u32,
    /// A run that would mark more accounts missing than this holds them for confirmation.
    pub max_removals: u32,
    /// ... or more than this percentage of the directory's accounts.
    pub max_removal_percent: u8,
    /// Seconds between scheduled incremental runs of every directory (0: no schedule).
    pub incremental_interval_secs: u64,
    /// Seconds between scheduled full runs (0: none).
    pub full_interval_secs: u64,
    /// Accounts (read and stored) a run plans and writes at a time, in whole merge components:
    /// a run's memory grows with this, not with the directory. Each batch is one transaction.
    pub batch_accounts: u32,
}

impl SyncSettings {
    fn validate(&self) -> Result<()> {
        if self.batch_accounts == 0 {
            return Err(Error::Config(
                "key `sync.batch_accounts`: must be at least 1".into(),
            ));
        }
        if self.max_removal_percent > 100 {
            return Err(Error::Config(
                "key `sync.max_removal_percent`: must be 0 to 100".into(),
            ));
        }
        Ok(())
    }
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            grace_days: 7,
            max_removals: 100,
            max_removal_percent: 20,
            incremental_interval_secs: 300,
            full_interval_secs: 86_400,
            batch_accounts: 5_000,
        }
    }
}

/// Where the key-encryption key comes from (`[secrets]`): exactly one of a key file (made by
/// `keyward secrets new-key-file`) or a passphrase in an environment variable, stretched with
/// PBKDF2. Without either, everything else works but passwords cannot be rotated.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsSettings {
    /// A file holding the key (base64 of 32 random bytes), readable only by keyward.
    pub key_file: Option<std::path::PathBuf>,
    /// The name of an environment variable holding a passphrase (at least 12 characters).
    pub passphrase_env: Option<String>,
}

/// The server's own TLS (`[tls]`). With `cert_file` and `key_file` the server speaks HTTPS
/// only; both files are read again when they change (and on SIGHUP), without a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM file with the server's certificate chain, leaf first.
    pub cert_file: Option<std::path::PathBuf>,
    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<std::path::PathBuf>,
    /// PEM file with the CA(s) that sign workstations' client certificates: when set, every
    /// `/api/v1/agent` call needs a client certificate it signed (mutual TLS).
    pub client_ca_file: Option<std::path::PathBuf>,
    /// Seconds between two checks of the files' modification times; `0`: only on SIGHUP.
    pub reload_interval_secs: u64,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            reload_interval_secs: 30,
        }
    }
}

impl TlsSettings {
    /// Whether the server speaks HTTPS.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some()
    }
}

/// HTTP limits (`[http]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Seconds a request may take before it is answered `503 unavailable` (every route but a
    /// directory sync).
    pub request_timeout_secs: u64,
    /// The same for `POST /api/v1/directories/{name}/sync`, which reads a whole directory.
    pub sync_timeout_secs: u64,
    /// Requests served at once; one more is answered `503 unavailable` at once.
    pub max_concurrent_requests: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            request_timeout_secs: 30,
            sync_timeout_secs: 3600,
            max_concurrent_requests: 256,
        }
    }
}

/// Password rotation (`[passwords]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordSettings {
    /// Seconds between two passes of the server's rotation worker.
    pub poll_interval_secs: u64,
    /// Seconds a worker holds a directory step; a crashed worker's step is taken over after it.
    pub claim_secs: u64,
    /// First retry delay after a transient directory error; doubles up to `retry_max_secs`.
    pub retry_base_secs: u64,
    /// Longest retry delay.
    pub retry_max_secs: u64,
    /// Failed directory attempts after which a rotation is reported as stalled (overdue in
    /// `keyward passwords status`, a warning in the log). It is never given up: the directory
    /// may already hold the candidate, so it is retried every `retry_max_secs` until it works.
    pub max_attempts: u32,
    /// A rotation waiting longer than this for its key is reported as overdue.
    pub key_wait_warn_hours: u32,
    /// Mail the employee when a rotation commits (never the password).
    pub notify_rotated: bool,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        Self {
            poll_interval_secs: 5,
            claim_secs: 120,
            retry_base_secs: 30,
            retry_max_secs: 900,
            max_attempts: 8,
            key_wait_warn_hours: 72,
            notify_rotated: true,
        }
    }
}

/// Workstation registration (`[agent]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSettings {
    /// Registrations one client address may make at once (the size of its token bucket).
    pub registration_burst: u32,
    /// Registrations a client address gets back per minute once its burst is used.
    pub registration_per_minute: u32,
    /// Reverse proxies whose `X-Forwarded-For` is believed. Empty (the default): the client
    /// address is the TCP peer's, and the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// An environment variable holding the registration secret; when set (or
    /// `registration_secret_file`), a registration must carry it.
    pub registration_secret_env: Option<String>,
    /// A file whose first line is the registration secret.
    pub registration_secret_file: Option<std::path::PathBuf>,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            registration_burst: 10,
            registration_per_minute: 6,
            trusted_proxies: Vec::new(),
            registration_secret_env: None,
            registration_secret_file: None,
        }
    }
}

/// Hardware-key rules (`[keys]` in the file, `KEYWARD_KEYS__<NAME>` in the environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// Keys one employee may hold at once (in Reserved, Active, Locked or Suspended).
    pub per_employee: u8,
    /// Digits in an activation code, 6 to 12.
    pub activation_code_length: u8,
    /// Hours an activation code stays valid.
    pub activation_code_ttl_hours: u32,
    /// Wrong activation codes allowed before the key locks, 1 to 10.
    pub activation_code_attempts: u8,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            per_employee: 1,
            activation_code_length: 8,
            activation_code_ttl_hours: 72,
            activation_code_attempts: 3,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            insecure_http: false,
            tls: TlsSettings::default(),
            http: HttpSettings::default(),
            database_url: DEFAULT_DATABASE_URL.into(),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            keys: KeySettings::default(),
            sync: SyncSettings::default(),
            mail: MailSettings::default(),
            secrets: SecretsSettings::default(),
            passwords: PasswordSettings::default(),
            agent: AgentSettings::default(),
            console: ConsoleSettings::default(),
            directories: Vec::new(),
        }
    }
}

/// Settings given as command-line flags; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--database-url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// `--log-format`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// `--log-level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
}

impl Settings {
    /// Checks rules that span fields or need more than a type: run by [`Settings::load`],
    /// which refuses the first problem.
    fn validate(&self) -> Result<()> {
        self.problems()
            .into_iter()
            .next()
            .map_or(Ok(()), |first| Err(Error::Config(first)))
    }

    /// Every rule these settings break, one line each, in the order [`Settings::load`] checks
    /// them (it refuses the first; `keyward config check` lists them all).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |result: Result<()>| {
            if let Err(e) = result {
                problems.push(config_message(e));
            }
        };
        check(self.validate_keys_and_mail());
        check(self.sync.validate());
        check(self.validate_secrets_and_rotation());
        check(self.validate_agent());
        check(self.console.validate());
        check(self.validate_transport());
        check(self.validate_durations());
        let mut names = std::collections::HashSet::new();
        for directory in &self.directories {
            check(
                directory
                    .validate()
                    .map_err(|e| Error::Config(format!("[[directories]]: {e}"))),
            );
            if !names.insert(directory.name.as_str()) {
                check(Err(Error::Config(format!(
                    "[[directories]]: the name {:?} is used twice",
                    directory.name
                ))));
            }
        }
        check(crate::kerberos_environment(self).map(|_| ()));
        problems
    }

    fn validate_keys_and_mail(&self) -> Result<()> {
        let k = &self.keys;
        if k.per_employee == 0 {
            return Err(Error::Config(
                "key `keys.per_employee`: must be at least 1".into(),
            ));
        }
        self.activation_code_policy()?;
        if self.mail.invitation_ttl_hours == 0
            || self.mail.max_attempts == 0
            || self.mail.claim_secs == 0
        {
            return Err(Error::Config(
                "keys `mail.invitation_ttl_hours`, `mail.max_attempts` and `mail.claim_secs` \
                 must be at least 1"
                    .into(),
            ));
        }
        if !self.mail.smtp_host.is_empty() {
            self.mail
                .from
                .parse::<lettre::message::Mailbox>()
                .map_err(|e| {
                    Error::Config(format!(
                        "key `mail.from`: {:?} is not an address: {e}",
                        self.mail.from
                    ))
                })?;
        }
        // One without the other would send mail without logging in, silently ignoring the
        // setting that is there, and the server would refuse every message.
        if self.mail.username.is_some() != self.mail.password_env.is_some() {
            return Err(Error::Config(
                "keys `mail.username` and `mail.password_env`: set both to log in to the SMTP \
                 server, or neither"
                    .into(),
            ));
        }
        Ok(())
    }

    fn validate_secrets_and_rotation(&self) -> Result<()> {
        if self.secrets.key_file.is_some() && self.secrets.passphrase_env.is_some() {
            return Err(Error::Config(
                "keys `secrets.key_file` and `secrets.passphrase_env`: set one, not both".into(),
            ));
        }
        if self.mail.include_activation_code
            && self.secrets.key_file.is_none()
            && self.secrets.passphrase_env.is_none()
        {
            return Err(Error::Config(
                "key `mail.include_activation_code` needs a key-encryption key to seal the code \
                 in the outbox: set `secrets.key_file` or `secrets.passphrase_env`"
                    .into(),
            ));
        }
        let p = &self.passwords;
        if p.poll_interval_secs == 0
            || p.claim_secs == 0
            || p.retry_base_secs == 0
            || p.max_attempts == 0
        {
            return Err(Error::Config(
                "keys `passwords.poll_interval_secs`, `passwords.claim_secs`, \
                 `passwords.retry_base_secs` and `passwords.max_attempts` must be at least 1"
                    .into(),
            ));
        }
        Ok(())
    }

    fn validate_agent(&self) -> Result<()> {
        let a = &self.agent;
        if a.registration_burst == 0 || a.registration_per_minute == 0 {
            return Err(Error::Config(
                "keys `agent.registration_burst` and `agent.registration_per_minute` must be at \
                 least 1"
                    .into(),
            ));
        }
        if a.registration_secret_env.is_some() && a.registration_secret_file.is_some() {
            return Err(Error::Config(
                "keys `agent.registration_secret_env` and `agent.registration_secret_file`: set \
                 one, not both"
                    .into(),
            ));
        }
        Ok(())
    }

    /// `[tls]` and `[http]`: only combinations that mean something. Whether the files can be
    /// read and the address needs TLS is checked by the server when it starts.
    fn validate_transport(&self) -> Result<()> {
        let tls = &self.tls;
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            return Err(Error::Config(
                "keys `tls.cert_file` and `tls.key_file`: set both to serve HTTPS, or neither"
                    .into(),
            ));
        }
        if tls.client_ca_file.is_some() && !tls.enabled() {
            return Err(Error::Config(
                "key `tls.client_ca_file`: client certificates need TLS: set `tls.cert_file` \
                 and `tls.key_file` too"
                    .into(),
            ));
        }
        let h = &self.http;
        if h.request_timeout_secs == 0 || h.sync_timeout_secs == 0 || h.max_concurrent_requests == 0
        {
            return Err(Error::Config(
                "keys `http.request_timeout_secs`, `http.sync_timeout_secs` and \
                 `http.max_concurrent_requests` must be at least 1"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Every duration at most ten years: no part of keyward means "never" by a longer one, and
    /// a deadline that far (`now` plus a huge `sync.grace_days`, say) would overflow the date
    /// arithmetic that uses it.
    fn validate_durations(&self) -> Result<()> {
        const MINUTE: u64 = 60;
        const HOUR: u64 = 3600;
        const DAY: u64 = 86_400;
        let (s, m, p, c) = (&self.sync, &self.mail, &self.passwords, &self.console);
        let durations: [(&str, u64, u64, &str); 18] = [
            ("sync.grace_days", s.grace_days.into(), DAY, "days"),
            (
                "sync.incremental_interval_secs",
                s.incremental_interval_secs,
                1,
                "seconds",
            ),
            (
                "sync.full_interval_secs",
                s.full_interval_secs,
                1,
                "seconds",
            ),
            (
                "mail.invitation_ttl_hours",
                m.invitation_ttl_hours.into(),
                HOUR,
                "hours",
            ),
            ("mail.retry_base_secs", m.retry_base_secs, 1, "seconds"),
            (
                "mail.send_interval_secs",
                m.send_interval_secs,
                1,
                "seconds",
            ),
            ("mail.claim_secs", m.claim_secs, 1, "seconds"),
            (
                "passwords.poll_interval_secs",
                p.poll_interval_secs,
                1,
                "seconds",
            ),
            ("passwords.claim_secs", p.claim_secs, 1, "seconds"),
            ("passwords.retry_base_secs", p.retry_base_secs, 1, "seconds"),
            ("passwords.retry_max_secs", p.retry_max_secs, 1, "seconds"),
            (
                "passwords.key_wait_warn_hours",
                p.key_wait_warn_hours.into(),
                HOUR,
                "hours",
            ),
            (
                "console.session_idle_minutes",
                c.session_idle_minutes.into(),
                MINUTE,
                "minutes",
            ),
            (
                "console.session_max_hours",
                c.session_max_hours.into(),
                HOUR,
                "hours",
            ),
            (
                "console.enrollment_ttl_hours",
                c.enrollment_ttl_hours.into(),
                HOUR,
                "hours",
            ),
            (
                "tls.reload_interval_secs",
                self.tls.reload_interval_secs,
                1,
                "seconds",
            ),
            (
                "http.request_timeout_secs",
                self.http.request_timeout_secs,
                1,
                "seconds",
            ),
            (
                "http.sync_timeout_secs",
                self.http.sync_timeout_secs,
                1,
                "seconds",
            ),
        ];
        for (key, value, unit, units) in durations {
            let max = keyward_directory::MAX_DURATION_SECS / unit;
            if value > max {
                return Err(Error::Config(format!(
                    "key `{key}`: {value} is more than ten years; at most {max} {units}"
                )));
            }
        }
        Ok(())
    }

    /// The configuration of the directory called `name`: the one lookup of a directory by
    /// name. Callers say what a missing one means (not found for a command naming it, a
    /// configuration error for a stored account whose directory was removed).
    pub fn directory(&self, name: &str) -> Option<&keyward_directory::DirectoryConfig> {
        self.directories.iter().find(|d| d.name == name)
    }

    /// The activation-code policy these settings describe.
    pub fn activation_code_policy(&self) -> Result<keyward_keys::ActivationCodePolicy> {
        let k = &self.keys;
        // Each bound by its key, so that a refusal says which setting to change.
        for (key, ok, rule) in [
            (
                "keys.activation_code_length",
                (6..=12).contains(&k.activation_code_length),
                "must be 6 to 12 digits",
            ),
            (
                "keys.activation_code_attempts",
                (1..=10).contains(&k.activation_code_attempts),
                "must be 1 to 10",
            ),
            (
                "keys.activation_code_ttl_hours",
                (1..=720).contains(&k.activation_code_ttl_hours),
                "must be 1 to 720 (30 days)",
            ),
        ] {
            if !ok {
                return Err(Error::Config(format!("key `{key}`: {rule}")));
            }
        }
        let policy = keyward_keys::ActivationCodePolicy {
            length: k.activation_code_length,
            ttl: chrono::Duration::hours(i64::from(k.activation_code_ttl_hours)),
            max_attempts: k.activation_code_attempts,
            ..keyward_keys::ActivationCodePolicy::default()
        };
        policy
            .validate()
            .map_err(|e| Error::Config(format!("keys.activation_code_*: {e}")))?;
        Ok(policy)
    }
}

impl Settings {
    /// Loads the layers: defaults, `file` (when given; it must exist), the process environment,
    /// then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env, overrides)
    }

    /// [`Settings::load`] with an explicit environment, for tests.
    pub fn load_from(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &Overrides,
    ) -> Result<Self> {
        let settings = Self::read_from(file, env, overrides)
            .map_err(|problems| Error::Config(problems.join("; ")))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The layers of [`Settings::load_from`] without the rules that span fields
    /// ([`Settings::problems`]): what a file says, or why it cannot be read (each problem one
    /// line naming the file or variable and the key).
    pub fn read_from(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &Overrides,
    ) -> std::result::Result<Self, Vec<String>> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(vec![format!(
                    "config file {} does not exist or is not a file",
                    path.display()
                )]);
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(EnvSettings::from_pairs(env));
        figment = figment.merge(Serialized::defaults(overrides));
        let mut settings: Settings = figment.extract().map_err(describe)?;
        settings.database_url =
            normalize_database_url(&settings.database_url).map_err(|e| vec![config_message(e)])?;
        Ok(settings)
    }
}

/// The message of a configuration error, without the "configuration error: " its `Display`
/// adds.
pub(crate) fn config_message(error: Error) -> String {
    match error {
        Error::Config(message) => message,
        other => other.to_string(),
    }
}

const ENV_METADATA_NAME: &str = "environment variables";

/// The `KEYWARD_*` environment variables as a figment layer. Written here rather than with
/// figment's `Env` so that tests can hand in an environment instead of mutating the process's.
struct EnvSettings {
    dict: Dict,
}

impl EnvSettings {
    fn from_pairs(env: &[(String, String)]) -> Self {
        let dict = env
            .iter()
            .filter_map(|(name, value)| {
                let key = name.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
                let is_setting = !ENV_NOT_SETTINGS.iter().any(|p| key.starts_with(p));
                is_setting.then(|| (key, value.clone()))
            })
            .fold(Dict::new(), |mut dict, (key, value)| {
                insert_nested(&mut dict, &key, value);
                dict
            });
        Self { dict }
    }
}

/// `keys__per_employee=2` becomes `{keys: {per_employee: 2}}`. Values are parsed the way figment
/// parses environment values (numbers, booleans), so numeric settings work from the environment.
fn insert_nested(dict: &mut Dict, key: &str, value: String) {
    if let Some((head, rest)) = key.split_once("__") {
        let entry = dict
            .entry(head.to_owned())
            .or_insert_with(|| Value::from(Dict::new()));
        if let Value::Dict(_, inner) = entry {
            insert_nested(inner, rest, value);
        }
    } else {
        let parsed = value
            .parse::<Value>()
            .unwrap_or_else(|_| Value::from(value));
        dict.insert(key.to_owned(), parsed);
    }
}

impl Provider for EnvSettings {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_METADATA_NAME)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Checks the scheme and makes SQLite file URLs create the file on first use.
fn normalize_database_url(url: &str) -> Result<String> {
    let url = url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(url.to_owned());
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        if rest.is_empty() || rest == "//" {
            return Err(Error::Config(
                "database_url: an SQLite URL needs a path, e.g. sqlite://keyward.db".into(),
            ));
        }
        if rest == ":memory:" || url.contains("mode=") {
            return Ok(url.to_owned());
        }
        let joiner = if url.contains('?') { '&' } else { '?' };
        return Ok(format!("{url}{joiner}mode=rwc"));
    }
    Err(Error::Config(format!(
        "database_url {url:?}: must start with sqlite:, postgres:// or postgresql://"
    )))
}

/// One line per figment error: where it came from, which key, and what is wrong.
fn describe(error: figment::Error) -> Vec<String> {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let origin = e.metadata.as_ref().map_or_else(
                || "defaults".to_owned(),
                |m| match &m.source {
                    Some(figment::Source::File(path)) => format!("config file {}", path.display()),
                    _ if m.name == ENV_METADATA_NAME && !key.is_empty() => format!(
                        "environment variable {ENV_PREFIX}{}",
                        key.to_ascii_uppercase().replace('.', "__")
                    ),
                    _ => m.name.to_string(),
                },
            );
            let what = one_line(&e.kind.to_string());
            let key = match (&e.metadata, key.is_empty()) {
                (Some(m), true) => match &m.source {
                    Some(figment::Source::File(path)) => {
                        key_at_line(path, &what).unwrap_or_default()
                    }
                    _ => key,
                },
                _ => key,
            };
            if key.is_empty() {
                format!("{origin}: {what}")
            } else {
                format!("{origin}: key `{key}`: {what}")
            }
        })
        .collect()
}

/// The dotted key a TOML syntax error is on, read from the file at the line the message names
/// (`… at line 12, column 22 …`): a value too large or badly quoted is then refused by its key,
/// like every other value. Only a bare key (letters, digits, `_`, `-`) is named, never a value.
fn key_at_line(path: &Path, message: &str) -> Option<String> {
    let after = message.split_once("at line ")?.1;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    let line: usize = digits.parse().ok()?;
    let text = std::fs::read_to_string(path).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let bare = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    let key = lines.get(line.checked_sub(1)?)?.split_once('=')?.0.trim();
    if !bare(key) {
        return None;
    }
    let table = lines[..line - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim())
        .filter(|t| bare(t));
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_owned(),
    })
}

/// Folds a multi-line parser message (TOML errors carry a source snippet) into its first and
/// last lines.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('|')
                && !l.chars().next().is_some_and(|c| c.is_ascii_digit())
        })
        .collect();
    match lines.as_slice() {
        [] => message.trim().to_owned(),
        [only] => (*only).to_owned(),
        [first, .., last] => format!("{first}: {last}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn file(contents: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(contents.as_bytes()).unwrap();
        f
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn defaults_are_the_embedded_sqlite_on_loopback() {
        let s = Settings::load_from(None, &[], &Overrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
    }

    #[test]
    fn layers_apply_file_then_env_then_flags() {
        let f = file(
            "listen = \"127.0.0.1:9000\"\ndatabase_url = \"sqlite://from-file.db\"\nlog_level = \"debug\"\n",
        );
        let s = Settings::load_from(Some(f.path()), &[], &Overrides::default()).unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.database_url, "sqlite://from-file.db?mode=rwc");
        let e = env(&[
            ("KEYWARD_LISTEN", "127.0.0.1:9100"),
            ("KEYWARD_LOG_FORMAT", "json"),
        ]);
        let s = Settings::load_from(Some(f.path()), &e, &Overrides::default()).unwrap();
        assert_eq!(s.listen.port(), 9100);
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.log_level, "debug");
        let flags = Overrides {
            listen: Some("127.0.0.1:9200".parse().unwrap()),
            ..Overrides::default()
        };
        let s = Settings::load_from(Some(f.path()), &e, &flags).unwrap();
        assert_eq!(s.listen.port(), 9200);
    }

    #[test]
    fn unknown_key_in_file_is_one_line_naming_key_and_file() {
        let f = file("listen = \"127.0.0.1:9000\"\nlisten_port = 9\n");
        let err = Settings::load_from(Some(f.path()), &[], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains("listen_port"), "{err}");
        assert!(err.contains(&f.path().display().to_string()), "{err}");
    }

    #[test]
    fn bad_value_and_bad_syntax_are_one_line() {
        let f = file("listen = \"not an address\"\n");
        let err = Settings::load_from(Some(f.path()), &[], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains('\n')
                && err.contains("listen")
                && err.contains(&f.path().display().to_string()),
            "{err}"
        );
        let f = file("listen = \n");
        let err = Settings::load_from(Some(f.path()), &[], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains('\n') && err.contains(&f.path().display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn unknown_environment_setting_is_refused_but_test_variables_are_not_settings() {
        let err = Settings::load_from(None, &env(&[("KEYWARD_LISTN", "x")]), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("KEYWARD_LISTN"), "{err}");
        let ok = env(&[
            ("KEYWARD_TEST_POSTGRES_URL", "postgres://x/y"),
            ("KEYWARD_CONFIG", "/x.toml"),
        ]);
        assert!(Settings::load_from(None, &ok, &Overrides::default()).is_ok());
    }

    #[test]
    fn nested_settings_come_from_file_and_environment() {
        let f = file("[keys]\nper_employee = 2\n");
        let s = Settings::load_from(Some(f.path()), &[], &Overrides::default()).unwrap();
        assert_eq!(s.keys.per_employee, 2);
        assert_eq!(s.keys.activation_code_length, 8);
        let e = env(&[("KEYWARD_KEYS__ACTIVATION_CODE_ATTEMPTS", "5")]);
        let s = Settings::load_from(Some(f.path()), &e, &Overrides::default()).unwrap();
        assert_eq!(s.keys.activation_code_attempts, 5);
        let err = Settings::load_from(
            None,
            &env(&[("KEYWARD_KEYS__PER_EMPLOYE", "1")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("per_employe"), "{err}");
        let bad = file("[keys]\nactivation_code_length = 4\n");
        let err = Settings::load_from(Some(bad.path()), &[], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("6 to 12"), "{err}");
    }

    #[test]
    fn directories_come_from_the_file_and_are_checked() {
        let f = file(
            "[[directories]]\nname = \"corp1\"\nurls = [\"ldaps://dc1.corp1.test\"]\nbind_dn = \"CN=svc\"\nbind_password_env = \"CORP1_PW\"\n",
        );
        let s = Settings::load_from(Some(f.path()), &[], &Overrides::default()).unwrap();
        assert_eq!(s.directories.len(), 1);
        assert_eq!(s.directories[0].sync_group, "Hideez Users Sync");
        assert_eq!(s.directories[0].page_size, 500);
        let twice = file(
            "[[directories]]\nname = \"corp1\"\nurls = [\"ldaps://a\"]\nbind_dn = \"x\"\nbind_password_env = \"P\"\n[[directories]]\nname = \"corp1\"\nurls = [\"ldaps://b\"]\nbind_dn = \"x\"\nbind_password_env = \"P\"\n",
        );
        let err = Settings::load_from(Some(twice.path()), &[], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("used twice"), "{err}");
        let typo = file("[[directories]]\nname = \"corp1\"\nurl = [\"ldaps://a\"]\n");
        let err = Settings::load_from(Some(typo.path()), &[], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("url") && !err.contains('\n'), "{err}");
    }

    #[test]
    fn an_impossible_password_policy_or_two_key_sources_are_refused_at_load() {
        let base = "[[directories]]\nname = \"corp1\"\nurls = [\"ldaps://a\"]\nbind_dn = \"x\"\nbind_password_env = \"P\"\n";
        let ok = file(&format!(
            "{base}max_password_age_days = 0\n[directories.password_policy]\nlength = 32\nexclude = \"0O1lI\"\n"
        ));
        let s = Settings::load_from(Some(ok.path()), &[], &Overrides::default()).unwrap();
        assert_eq!(s.directories[0].password_policy.length, 32);
        assert_eq!(s.directories[0].max_password_age_days, 0);
        for (policy, names) in [
            ("length = 4", "length"),
            ("symbols = false\ndigits = false", "at least 3"),
            ("exclude = \"0123456789\"", "digits"),
        ] {
            let f = file(&format!("{base}[directories.password_policy]\n{policy}\n"));
            let err = Settings::load_from(Some(f.path()), &[], &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("password_policy") && err.contains(names) && !err.contains('\n'),
                "{policy}: {err}"
            );
        }
        let both = file("[secrets]\nkey_file = \"/k\"\npassphrase_env = \"P\"\n");
        let err = Settings::load_from(Some(both.path()), &[], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("set one, not both"), "{err}");
    }

    #[test]
    fn mailing_the_activation_code_needs_a_key_encryption_key() {
        let bare = file("[mail]\ninclude_activation_code = true\n");
        let err = Settings::load_from(Some(bare.path()), &[], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains('\n')
                && err.contains("mail.include_activation_code")
                && err.contains("secrets.key_file")
                && err.contains("secrets.passphrase_env"),
            "{err}"
        );
        let sealed = file("[mail]\ninclude_activation_code = true\n[secrets]\nkey_file = \"/k\"\n");
        let s = Settings::load_from(Some(sealed.path()), &[], &Overrides::default()).unwrap();
        assert!(s.mail.include_activation_code);
        assert!(!Settings::default().mail.include_activation_code);
    }

    #[test]
    fn an_smtp_login_needs_both_the_user_name_and_the_password_variable() {
        for half in ["username = \"mailer\"", "password_env = \"SMTP_PW\""] {
            let f = file(&format!("[mail]\n{half}\n"));
            let err = Settings::load_from(Some(f.path()), &[], &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("mail.username") && err.contains("mail.password_env"),
                "{half}: {err}"
            );
        }
        let both = file("[mail]\nusername = \"mailer\"\npassword_env = \"SMTP_PW\"\n");
        let s = Settings::load_from(Some(both.path()), &[], &Overrides::default()).unwrap();
        assert_eq!(s.mail.username.as_deref(), Some("mailer"));
    }

    #[test]
    fn agent_registration_settings_are_read_and_checked() {
        let f = file(
            "[agent]\nregistration_burst = 3\ntrusted_proxies = [\"10.0.0.5\", \"::1\"]\n\
             registration_secret_file = \"/etc/keyward/registration\"\n",
        );
        let s = Settings::load_from(
            Some(f.path()),
            &env(&[("KEYWARD_AGENT__REGISTRATION_PER_MINUTE", "2")]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(s.agent.registration_burst, 3);
        assert_eq!(s.agent.registration_per_minute, 2);
        assert_eq!(
            s.agent.trusted_proxies,
            [
                "10.0.0.5".parse::<std::net::IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        for bad in [
            "[agent]\nregistration_burst = 0\n",
            "[agent]\nregistration_per_minute = 0\n",
            "[agent]\nregistration_secret_env = \"X\"\nregistration_secret_file = \"/x\"\n",
            "[agent]\ntrusted_proxies = [\"proxy.example\"]\n",
        ] {
            let f = file(bad);
            let err = Settings::load_from(Some(f.path()), &[], &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("agent") || err.contains("trusted_proxies"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn tls_and_http_settings_come_in_sensible_combinations() {
        let load = |toml: &str, vars: &[(&str, &str)]| {
            let f = file(toml);
            Settings::load_from(Some(f.path()), &env(vars), &Overrides::default())
        };
        for (toml, keys) in [
            ("[tls]\ncert_file = \"c.pem\"\n", "tls.key_file"),
            ("[tls]\nkey_file = \"k.pem\"\n", "tls.cert_file"),
            ("[tls]\nclient_ca_file = \"ca.pem\"\n", "tls.client_ca_file"),
            (
                "[http]\nrequest_timeout_secs = 0\n",
                "http.request_timeout_secs",
            ),
            (
                "[http]\nmax_concurrent_requests = 0\n",
                "http.max_concurrent_requests",
            ),
        ] {
            let err = load(toml, &[]).unwrap_err().to_string();
            assert!(err.contains(keys), "{toml}: {err}");
        }
        let s = load(
            "insecure_http = true\n[tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n",
            &[
                ("KEYWARD_TLS__CLIENT_CA_FILE", "ca.pem"),
                ("KEYWARD_HTTP__SYNC_TIMEOUT_SECS", "60"),
            ],
        )
        .unwrap();
        assert!(s.insecure_http && s.tls.enabled());
        assert_eq!(s.tls.client_ca_file.as_deref(), Some(Path::new("ca.pem")));
        assert_eq!(s.http.sync_timeout_secs, 60);
        assert_eq!(s.http.request_timeout_secs, 30);
        assert!(!Settings::default().tls.enabled() && !Settings::default().insecure_http);
    }

    #[test]
    fn missing_file_and_bad_urls_are_refused() {
        let err = Settings::load_from(
            Some(Path::new("/nonexistent/keyward.toml")),
            &[],
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/keyward.toml"), "{err}");
        for (url, ok) in [
            ("mysql://x/y", false),
            ("sqlite:", false),
            ("sqlite::memory:", true),
            ("postgres://u@h/db", true),
            ("sqlite:///var/lib/keyward/k.db?mode=ro", true),
        ] {
            let flags = Overrides {
                database_url: Some(url.into()),
                ..Overrides::default()
            };
            assert_eq!(Settings::load_from(None, &[], &flags).is_ok(), ok, "{url}");
        }
    }
}

#[cfg(test)]
mod properties {
    //! Hostile configuration: arbitrary TOML, and arbitrary values for the keys of a valid file.
    use super::*;
    use proptest::prelude::*;
    use std::io::Write as _;

    /// A file that sets a value in every table.
    const VALID: &str = "listen = \"127.0.0.1:9000\"\nlog_level = \"debug\"\n\
        [keys]\nper_employee = 2\n[sync]\ngrace_days = 7\n[mail]\ninvitation_ttl_hours = 48\n\
        [passwords]\nclaim_secs = 60\n[agent]\nregistration_burst = 3\n[console]\n\
        session_max_hours = 8\n[http]\nrequest_timeout_secs = 10\n[tls]\n\
        reload_interval_secs = 0\n[secrets]\n[[directories]]\nname = \"corp1\"\n\
        urls = [\"ldaps://dc1\"]\nbind_dn = \"CN=svc\"\nbind_password_env = \"P\"\n\
        max_password_age_days = 28\n";

    /// Every key of the file format with its table (`directories` for `[[directories]]`).
    fn keys() -> Vec<(Option<&'static str>, String)> {
        let value = serde_json::to_value(Settings::default()).unwrap();
        let mut out = Vec::new();
        for (key, v) in value.as_object().unwrap() {
            let table: &'static str = Box::leak(key.clone().into_boxed_str());
            if key == "directories" {
                let sample = keyward_directory::DirectoryConfig::new("x", vec![], "x");
                let fields = serde_json::to_value(sample).unwrap();
                out.extend(
                    fields
                        .as_object()
                        .unwrap()
                        .keys()
                        .map(|k| (Some(table), k.clone())),
                );
            } else if let Some(inner) = v.as_object() {
                out.extend(inner.keys().map(|k| (Some(table), k.clone())));
            } else {
                out.push((None, key.clone()));
            }
        }
        out
    }

    fn load(text: &str) -> (Result<Settings>, String) {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let path = f.path().display().to_string();
        (
            Settings::load_from(Some(f.path()), &[], &Overrides::default()),
            path,
        )
    }

    /// Any TOML value, including the hostile ones (huge, negative, wrong type, nested).
    fn toml_value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|v| v.to_string()),
            any::<u32>().prop_map(|v| v.to_string()),
            (0..=i64::MAX).prop_map(|v| v.to_string()),
            (0u64..100).prop_map(|v| v.to_string()),
            Just("18446744073709551616".to_owned()),
            any::<bool>().prop_map(|v| v.to_string()),
            "\\PC{0,20}".prop_map(|s| toml::Value::String(s).to_string()),
            Just("1.5".to_owned()),
            Just("[1, \"a\"]".to_owned()),
            Just("{ a = 1 }".to_owned()),
            Just("1979-05-27T07:32:00Z".to_owned()),
        ]
    }

    /// The file with `key` set to `value` in its table (appended to that table, or the key
    /// added at the top when the table has none in the file).
    fn with_value(table: Option<&str>, key: &str, value: &str) -> String {
        let line = format!("{key} = {value}\n");
        match table {
            None => format!("{line}{VALID}"),
            Some("directories") => format!("{VALID}{line}"),
            Some(t) => VALID.replacen(&format!("[{t}]\n"), &format!("[{t}]\n{line}"), 1),
        }
    }

    fn names_a_key_or_a_line(message: &str) -> bool {
        message.contains("key `")
            || message.contains("keys `")
            || message.contains("line ")
            || message.contains("[[directories]]")
            || message.contains("database_url")
            || message.contains("keys.activation_code")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Any text as a config file: no panic, and a refusal is one line naming the file and
        /// the key or the line.
        #[test]
        fn any_text_loads_or_is_refused_naming_the_key_or_line(
            lines in proptest::collection::vec(
                prop_oneof![
                    "\\PC{0,30}",
                    "[a-z_]{1,12} = [0-9a-z\"\\[\\]{},. ]{0,12}",
                    "\\[[a-z]{1,8}\\]",
                    Just("[[directories]]".to_owned()),
                ],
                0..8,
            ),
        ) {
            let text = lines.join("\n");
            let (result, path) = load(&text);
            if let Err(e) = result {
                let message = e.to_string();
                prop_assert!(!message.contains('\n'), "{}", message);
                prop_assert!(names_a_key_or_a_line(&message), "{}", message);
                if !text.contains("[[directories]]") && message.contains("line ") {
                    prop_assert!(message.contains(&path), "{}", message);
                }
            }
        }

        /// A misspelt key is refused by its name, wherever it is.
        #[test]
        fn a_misspelt_key_is_refused_by_its_name(which in any::<proptest::sample::Index>()) {
            let all = keys();
            let (table, key) = &all[which.index(all.len())];
            let typo = format!("{key}x");
            let (result, _) = load(&with_value(*table, &typo, "1"));
            let message = result.unwrap_err().to_string();
            prop_assert!(message.contains(&format!("`{typo}`")), "{}", message);
        }

        /// Settings written as TOML load back as the same settings.
        #[test]
        fn written_settings_load_back(
            grace_days in 0u32..3650,
            per_employee in 1u8..10,
            batch in 1u32..100_000,
            port in 1u16..,
            json in any::<bool>(),
            proxies in proptest::collection::vec(any::<std::net::Ipv4Addr>(), 0..3),
            directories in proptest::collection::vec(("[a-z][a-z0-9-]{0,10}", -5i32..5, 0u32..3650), 0..3),
        ) {
            let mut s = Settings::default();
            s.sync.grace_days = grace_days;
            s.sync.batch_accounts = batch;
            s.keys.per_employee = per_employee;
            s.listen = SocketAddr::from(([127, 0, 0, 1], port));
            s.log_format = if json { LogFormat::Json } else { LogFormat::Text };
            s.agent.trusted_proxies = proxies.into_iter().map(std::net::IpAddr::V4).collect();
            let mut names = std::collections::HashSet::new();
            for (name, priority, age) in directories {
                if !names.insert(name.clone()) {
                    continue;
                }
                let mut d = keyward_directory::DirectoryConfig::new(&name, vec![format!("ldaps://{name}")], "CN=svc");
                d.bind_password_env = Some("PW".into());
                d.priority = priority;
                d.max_password_age_days = age;
                s.directories.push(d);
            }
            let text = toml::to_string(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (loaded, _) = load(&text);
            prop_assert_eq!(loaded.map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?, s);
        }
    }

    proptest! {
        // Each case loads the file once per key (about 90 times).
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// Any value for each key of a valid file: loaded (and then every duration it sets can
        /// be added to the present and subtracted from it), or refused in one line that names
        /// that key.
        #[test]
        fn any_value_of_a_key_loads_usably_or_is_refused_naming_it(value in toml_value()) {
            for (table, key) in keys() {
                let text = with_value(table, &key, &value);
                let (result, _) = load(&text);
                match result {
                    Ok(settings) => durations_fit(&settings)
                        .map_err(|e| TestCaseError::fail(format!("{key} = {value}: {e}")))?,
                    Err(e) => {
                        let message = e.to_string();
                        prop_assert!(!message.contains('\n'), "{}", message);
                        prop_assert!(message.contains(key.as_str()), "{} = {}: {}", key, value, message);
                    }
                }
            }
        }
    }

    /// Every duration a loaded file sets can be added to the present and subtracted from it,
    /// both as a date (chrono) and as an instant (std, for timers): what the server and the
    /// CLI do with them.
    fn durations_fit(s: &Settings) -> std::result::Result<(), TestCaseError> {
        const MINUTE: u64 = 60;
        const HOUR: u64 = 3600;
        const DAY: u64 = 86_400;
        let mut durations: Vec<(&str, u64)> = vec![
            ("sync.grace_days", u64::from(s.sync.grace_days) * DAY),
            (
                "sync.incremental_interval_secs",
                s.sync.incremental_interval_secs,
            ),
            ("sync.full_interval_secs", s.sync.full_interval_secs),
            (
                "mail.invitation_ttl_hours",
                u64::from(s.mail.invitation_ttl_hours) * HOUR,
            ),
            ("mail.retry_base_secs", s.mail.retry_base_secs),
            ("mail.send_interval_secs", s.mail.send_interval_secs),
            ("mail.claim_secs", s.mail.claim_secs),
            (
                "passwords.poll_interval_secs",
                s.passwords.poll_interval_secs,
            ),
            ("passwords.claim_secs", s.passwords.claim_secs),
            ("passwords.retry_base_secs", s.passwords.retry_base_secs),
            ("passwords.retry_max_secs", s.passwords.retry_max_secs),
            (
                "passwords.key_wait_warn_hours",
                u64::from(s.passwords.key_wait_warn_hours) * HOUR,
            ),
            (
                "console.session_idle_minutes",
                u64::from(s.console.session_idle_minutes) * MINUTE,
            ),
            (
                "console.session_max_hours",
                u64::from(s.console.session_max_hours) * HOUR,
            ),
            (
                "console.enrollment_ttl_hours",
                u64::from(s.console.enrollment_ttl_hours) * HOUR,
            ),
            ("tls.reload_interval_secs", s.tls.reload_interval_secs),
            ("http.request_timeout_secs", s.http.request_timeout_secs),
            ("http.sync_timeout_secs", s.http.sync_timeout_secs),
        ];
        for d in &s.directories {
            durations.push((
                "max_password_age_days",
                u64::from(d.max_password_age_days) * DAY,
            ));
            durations.push(("connect_timeout_secs", d.connect_timeout_secs));
            durations.push(("operation_timeout_secs", d.operation_timeout_secs));
        }
        let now = chrono::Utc::now();
        let instant = std::time::Instant::now();
        for (key, secs) in durations {
            let fits = i64::try_from(secs)
                .ok()
                .and_then(chrono::TimeDelta::try_seconds)
                .is_some_and(|d| {
                    now.checked_add_signed(d).is_some() && now.checked_sub_signed(d).is_some()
                })
                && instant
                    .checked_add(std::time::Duration::from_secs(secs))
                    .is_some();
            prop_assert!(
                fits,
                "{} = {} s loaded but does not fit in a date",
                key,
                secs
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod documentation {
    use super::*;

    /// Every setting has a row in docs/configuration.md, and every row is a setting.
    #[test]
    fn docs_configuration_md_lists_every_setting() {
        let doc = include_str!("../../../docs/configuration.md");
        let value = serde_json::to_value(Settings::default()).unwrap();
        let mut keys: Vec<String> = Vec::new();
        for (key, v) in value.as_object().unwrap() {
            if key == "directories" {
                let sample = keyward_directory::DirectoryConfig::new("x", vec![], "x");
                let fields = serde_json::to_value(sample).unwrap();
                keys.extend(
                    fields
                        .as_object()
                        .unwrap()
                        .keys()
                        .map(|k| format!("directories[].{k}")),
                );
                continue;
            }
            match v.as_object() {
                Some(table) => keys.extend(table.keys().map(|k| format!("{key}.{k}"))),
                None => keys.push(key.clone()),
            }
        }
        for key in &keys {
            assert!(
                doc.contains(&format!("| `{key}` |")),
                "docs/configuration.md lacks `{key}`"
            );
        }
        let documented = doc.lines().filter(|l| l.starts_with("| `")).count();
        assert_eq!(
            documented,
            keys.len(),
            "docs/configuration.md documents a setting that does not exist"
        );
    }
}

/// The web console (`[console]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// The address administrators open the console at, scheme, host and port, e.g.
    /// `https://keyward.corp.example:8443`. Passkeys are bound to its host name (the WebAuthn
    /// relying-party id), so it must be a name, not an IP address, and a change of name means
    /// enrolling the passkeys again; the browser must send this exact origin. Plain `http` only
    /// for `localhost`.
    pub public_url: String,
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u32,
    /// A session ends this many hours after sign-in, active or not.
    pub session_max_hours: u32,
    /// An enrollment link (`keyward admins create` / `admins link`) works this many hours.
    pub enrollment_ttl_hours: u32,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            public_url: "http://localhost:8080".into(),
            session_idle_minutes: 30,
            session_max_hours: 12,
            enrollment_ttl_hours: 24,
        }
    }
}

impl ConsoleSettings {
    fn validate(&self) -> Result<()> {
        crate::admins::console_origin(&self.public_url)?;
        if self.session_idle_minutes == 0
            || self.session_max_hours == 0
            || self.enrollment_ttl_hours == 0
        {
            return Err(Error::Config(
                "keys `console.session_idle_minutes`, `console.session_max_hours` and \
                 `console.enrollment_ttl_hours` must be at least 1"
                    .into(),
            ));
        }
        Ok(())
    }
}
