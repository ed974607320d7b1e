//! The command-line grammar.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use reqwest::Url;

use crate::client::{Server, TlsFiles};
use crate::secret::Secret;

/// A simulated workstation agent with simulated hardware keys, for tests and demos of
/// keyward's agent API. Never use it with real keys: its state file holds passwords in clear.
#[derive(Debug, Parser)]
#[command(name = "keyward-agent-sim", version, propagate_version = true)]
pub struct Cli {
    /// keyward-server's base URL: `https://…` (or `http://` for a server on loopback).
    #[arg(
        long,
        global = true,
        env = "KEYWARD_AGENT_SERVER",
        default_value = "http://127.0.0.1:8080",
        value_parser = parse_server
    )]
    pub server: Url,
    /// The state file: the workstation's registration and the simulated keys (mode 0600).
    #[arg(
        long,
        global = true,
        env = "KEYWARD_AGENT_STATE",
        default_value = "./keyward-agent-sim.json"
    )]
    pub state_file: PathBuf,
    /// PEM file with the CA(s) to trust for the server's certificate, instead of the system's.
    #[arg(long, global = true, env = "KEYWARD_AGENT_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// PEM file with this workstation's client certificate chain, for a server that asks for
    /// one on the agent API (mutual TLS). Needs `--client-key`.
    #[arg(
        long,
        global = true,
        env = "KEYWARD_AGENT_CLIENT_CERT",
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,
    /// PEM file with the client certificate's private key (PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        global = true,
        env = "KEYWARD_AGENT_CLIENT_KEY",
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// What the agent does.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register this workstation; an administrator must approve it before it can do anything else.
    Register {
        /// The workstation's name (1–128 printable characters).
        #[arg(long)]
        name: String,
        /// Replace a registration the state file already holds.
        #[arg(long)]
        force: bool,
        /// A file whose first line is the server's registration secret (when the server is
        /// configured with one).
        #[arg(long, value_name = "FILE")]
        registration_secret_file: Option<PathBuf>,
    },
    /// Show this workstation as the server sees it (works while pending, for polling).
    Status,
    /// Plug in a key (it joins the simulated keys), report it and activate it with its code.
    Activate {
        /// The key's serial number.
        #[arg(value_parser = parse_serial)]
        serial: String,
        /// The activation code.
        code: Secret,
    },
    /// One round for every simulated key: report it, fetch its work, apply it, acknowledge it.
    Sync {
        /// Apply and save, but do not acknowledge (a crash between the two).
        #[arg(long)]
        no_ack: bool,
    },
    /// Report a key locked by too many wrong PINs.
    Lock {
        /// The key's serial number.
        #[arg(value_parser = parse_serial)]
        serial: String,
    },
    /// Ask for a new key proof for an Active key this workstation holds (the first one was
    /// lost) and store it on the key.
    RenewProof {
        /// The key's serial number.
        #[arg(value_parser = parse_serial)]
        serial: String,
    },
    /// The user changed an account's password on the key (and maybe in the domain).
    ChangePassword {
        /// The key's serial number.
        #[arg(value_parser = parse_serial)]
        serial: String,
        /// The account's directory.
        directory: String,
        /// The account's objectGUID.
        object_guid: String,
        /// `key_only`: the key alone changed; `key_and_domain`: the new password goes to AD too.
        #[arg(long, value_enum)]
        mode: PasswordMode,
        /// A file holding the new password (one trailing newline is ignored). Required for
        /// `key_and_domain`; for `key_only` it is stored on the simulated key and never sent.
        #[arg(long, required_if_eq("mode", "key_and_domain"))]
        password_file: Option<PathBuf>,
    },
    /// Print a simulated key's memory, passwords included.
    Dump {
        /// The key's serial number.
        #[arg(value_parser = parse_serial)]
        serial: String,
    },
    /// Write the manual pages, keyward-agent-sim.1 and one per command, into DIR (for
    /// packaging); reads no state file and calls no server.
    #[command(hide = true)]
    ManPages {
        /// Where to write them (created if missing).
        dir: PathBuf,
    },
}

impl Cli {
    /// The server to talk to and how.
    pub fn server(&self) -> Server {
        Server {
            url: self.server.clone(),
            tls: TlsFiles {
                ca_file: self.ca_file.clone(),
                client_cert: self.client_cert.clone(),
                client_key: self.client_key.clone(),
            },
        }
    }
}

/// How the user changed a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PasswordMode {
    /// On the key alone.
    #[value(name = "key_only")]
    KeyOnly,
    /// On the key and in the domain.
    #[value(name = "key_and_domain")]
    KeyAndDomain,
}

/// The server URL: `https://`, or `http://` (which the server serves on loopback only).
fn parse_server(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!(
            "only https:// and http:// URLs are supported (got {}://)",
            url.scheme()
        ));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err("the URL needs a host".to_owned());
    }
    Ok(url)
}

/// A serial as the server normalizes it: trimmed, upper-cased, 1–64 letters, digits, `-`, `_`.
/// Normalizing here keeps `hk-1` and `HK-1` one simulated key.
pub fn parse_serial(raw: &str) -> Result<String, String> {
    let serial = raw.trim();
    if serial.is_empty() || serial.len() > 64 {
        return Err("a serial is 1 to 64 characters long".to_owned());
    }
    if !serial
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("a serial has only letters, digits, '-' and '_'".to_owned());
    }
    Ok(serial.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command, PasswordMode, parse_serial};

    #[test]
    fn the_grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serials_are_normalized() {
        assert_eq!(parse_serial(" hk-0001 ").unwrap(), "HK-0001");
        assert!(parse_serial("").is_err());
        assert!(parse_serial("HK/1").is_err());
    }

    #[test]
    fn key_and_domain_needs_a_password_file() {
        let base = [
            "keyward-agent-sim",
            "change-password",
            "hk-1",
            "corp1",
            "9f1c",
            "--mode",
        ];
        let key_only = Cli::try_parse_from(base.iter().chain(&["key_only"])).unwrap();
        assert!(matches!(
            key_only.command,
            Command::ChangePassword {
                mode: PasswordMode::KeyOnly,
                password_file: None,
                ..
            }
        ));
        let missing = Cli::try_parse_from(base.iter().chain(&["key_and_domain"])).unwrap_err();
        assert_eq!(missing.exit_code(), 2);
        assert!(
            Cli::try_parse_from(
                base.iter()
                    .chain(&["key_and_domain", "--password-file", "f"])
            )
            .is_ok()
        );
    }

    #[test]
    fn https_and_http_servers_only() {
        let parse =
            |url: &str| Cli::try_parse_from(["keyward-agent-sim", "--server", url, "status"]);
        assert!(parse("http://127.0.0.1:9000/prefix").is_ok());
        assert!(parse("https://keyward.example").is_ok());
        assert!(parse("ftp://keyward.example").is_err());
        assert!(parse("not a url").is_err());
    }

    #[test]
    fn a_client_certificate_needs_its_key_and_the_code_stays_out_of_debug() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["keyward-agent-sim"].iter().chain(args).chain(&["status"]))
        };
        assert_eq!(
            parse(&["--client-cert", "c.pem"]).unwrap_err().exit_code(),
            2
        );
        assert_eq!(
            parse(&["--client-key", "k.pem"]).unwrap_err().exit_code(),
            2
        );
        let cli = parse(&[
            "--ca-file",
            "ca.pem",
            "--client-cert",
            "c.pem",
            "--client-key",
            "k.pem",
        ])
        .unwrap();
        let server = cli.server();
        assert_eq!(
            server.tls.ca_file.as_deref(),
            Some(std::path::Path::new("ca.pem"))
        );
        let activate =
            Cli::try_parse_from(["keyward-agent-sim", "activate", "hk-1", "48151623"]).unwrap();
        let printed = format!("{activate:?}");
        assert!(!printed.contains("48151623"), "{printed}");
    }
}
