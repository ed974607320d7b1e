//! `keyward config check [--connect]`: every problem of a configuration, one line each, instead
//! of the first one the server would stop at.
//!
//! The check reads the layers as [`Settings::load`] does and lists every rule they break
//! ([`Settings::problems`]); then it reads what the settings point to, as the server would when
//! it needs it: the mail templates (the same load and check the server does at start), the TLS
//! files, the key-encryption key file, the registration secret, the SMTP transport's CA file and
//! password variable, each directory's bind password and CA file. Nothing is written and no
//! database is opened. [`check_connections`] (`--connect`) also talks to every directory (the
//! test of `keyward directory test`) and to the SMTP server (connect, EHLO, TLS, login).

use std::path::Path;

use crate::config::config_message;
use crate::mail::Templates;
use crate::{Directories, Overrides, Settings, TlsSettings};

/// What [`check_config`] found.
#[derive(Debug, Clone)]
pub struct ConfigCheck {
    /// The settings, when the layers could be read at all (even if they break rules).
    pub settings: Option<Settings>,
    /// Every problem, one line each (naming the file or key), in the order found.
    pub problems: Vec<String>,
}

impl ConfigCheck {
    /// Whether nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the configuration the layers give: `file` (when given), `env` (`KEYWARD_*`
/// variables), then `overrides`. Variables the settings name (bind passwords, the SMTP password)
/// are read from the process environment, as the server reads them.
pub fn check_config(
    file: Option<&Path>,
    env: &[(String, String)],
    overrides: &Overrides,
) -> ConfigCheck {
    let settings = match Settings::read_from(file, env, overrides) {
        Ok(settings) => settings,
        Err(problems) => {
            return ConfigCheck {
                settings: None,
                problems,
            };
        }
    };
    let mut problems = settings.problems();
    problems.extend(file_problems(&settings));
    ConfigCheck {
        settings: Some(settings),
        problems,
    }
}

/// What the files and variables the settings name hold.
fn file_problems(settings: &Settings) -> Vec<String> {
    let mut problems = listen_problem(settings).into_iter().collect::<Vec<_>>();
    problems.extend(tls_problems(&settings.tls));
    if let Err(more) = Templates::load(settings.mail.templates_dir.as_deref()) {
        problems.extend(more);
    }
    problems.extend(secrets_problem(settings));
    if let Err(e) = crate::agent::check_registration_secret(&settings.agent) {
        problems.push(config_message(e));
    }
    if !settings.mail.smtp_host.is_empty()
        && let Err(e) = crate::mail::check_smtp_settings(&settings.mail)
    {
        problems.push(config_message(e));
    }
    let directories = Directories::new(settings);
    for directory in &settings.directories {
        // A directory that breaks a rule is reported by `Settings::problems` already.
        if directory.validate().is_ok()
            && let Err(e) = directories.client(&directory.name)
        {
            problems.push(config_message(e));
        }
    }
    problems
}

/// The server's rule for its address: plain HTTP only on loopback, unless `insecure_http`.
fn listen_problem(settings: &Settings) -> Option<String> {
    (!settings.tls.enabled() && !settings.listen.ip().is_loopback() && !settings.insecure_http)
        .then(|| {
            format!(
                "key `listen`: {} is not a loopback address and `[tls]` is not set: set \
                 `tls.cert_file` and `tls.key_file` to serve HTTPS, or `insecure_http = true` if \
                 a TLS proxy in front of the server terminates TLS",
                settings.listen
            )
        })
}

/// Each `[tls]` file can be read and holds what its key says (the server builds and checks
/// the certificate itself when it starts). A key file's contents are never quoted.
fn tls_problems(tls: &TlsSettings) -> Vec<String> {
    const CERTIFICATE: (&str, &str) = ("PEM certificate", "-----BEGIN CERTIFICATE-----");
    const PRIVATE_KEY: (&str, &str) = ("PEM private key", "PRIVATE KEY-----");
    [
        ("tls.cert_file", &tls.cert_file, CERTIFICATE),
        ("tls.key_file", &tls.key_file, PRIVATE_KEY),
        ("tls.client_ca_file", &tls.client_ca_file, CERTIFICATE),
    ]
    .into_iter()
    .filter_map(|(key, path, (what, marker))| {
        let path = path.as_ref()?;
        match std::fs::read(path) {
            Err(e) => Some(format!("key `{key}`: cannot read {}: {e}", path.display())),
            Ok(bytes) if !contains(&bytes, marker.as_bytes()) => Some(format!(
                "key `{key}`: {} holds no {what} ({marker})",
                path.display()
            )),
            Ok(_) => None,
        }
    })
    .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The key-encryption key's source: a key file that reads as a key, or a passphrase variable
/// that is set (whether it opens this database's secrets is `keyward secrets check`).
fn secrets_problem(settings: &Settings) -> Option<String> {
    let secrets = &settings.secrets;
    if let Some(path) = &secrets.key_file {
        let problem = match std::fs::read_to_string(path) {
            Err(e) => format!("cannot read {}: {e}", path.display()),
            Ok(contents) => match keyward_password::Kek::from_key_file_contents(&contents) {
                Ok(_) => return None,
                Err(e) => format!("{}: {e}", path.display()),
            },
        };
        return Some(format!("key `secrets.key_file`: {problem}"));
    }
    let var = secrets.passphrase_env.as_ref()?;
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => None,
        Ok(_) => Some(format!(
            "key `secrets.passphrase_env`: the environment variable {var} is empty"
        )),
        Err(_) => Some(format!(
            "key `secrets.passphrase_env`: the environment variable {var} is not set"
        )),
    }
}

/// The outcome of one connection test of [`check_connections`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionCheck {
    /// What was tested: `directory corp1`, `SMTP server mail.example.com:587`.
    pub target: String,
    /// What answered (`Ok`), or the problem: one line that names the target.
    pub result: Result<String, String>,
}

/// Tests every configured directory (connect, bind, read the domain, count each group's users,
/// as `keyward directory test` does) and the SMTP server (connect, EHLO, STARTTLS or TLS,
/// login), one after the other. Mail that is off (`mail.smtp_host` empty) is not tested.
pub async fn check_connections(settings: &Settings) -> Vec<ConnectionCheck> {
    let mut checks = Vec::new();
    let directories = Directories::new(settings);
    for directory in &settings.directories {
        let result = directories.test(&directory.name).await.and_then(|report| {
            if !report.problems.is_empty() {
                return Err(crate::Error::Config(report.problems.join("; ")));
            }
            Ok(format!(
                "{} ({}), bound as {}; {}",
                report.url,
                if report.encrypted {
                    "encrypted"
                } else {
                    "NOT encrypted"
                },
                report.bound_as,
                report
                    .groups
                    .iter()
                    .map(|g| format!("{} group {}: {} users", g.role, g.configured, g.users))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        });
        checks.push(ConnectionCheck::new(
            format!("directory {}", directory.name),
            result,
        ));
    }
    let mail = &settings.mail;
    if !mail.smtp_host.is_empty() {
        checks.push(ConnectionCheck::new(
            format!("SMTP server {}:{}", mail.smtp_host, mail.smtp_port),
            crate::mail::test_smtp(mail).await,
        ));
    }
    checks
}

impl ConnectionCheck {
    /// A problem names its target once, whether or not the error's message does.
    fn new(target: String, result: crate::Result<String>) -> Self {
        let result = result.map_err(|e| {
            let message = config_message(e);
            if message.starts_with(&format!("{target}:")) {
                message
            } else {
                format!("{target}: {message}")
            }
        });
        Self { target, result }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn check(toml: &str) -> ConfigCheck {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(toml.as_bytes()).unwrap();
        check_config(Some(f.path()), &[], &Overrides::default())
    }

    #[test]
    fn the_defaults_have_no_problem() {
        let c = check_config(None, &[], &Overrides::default());
        assert!(c.ok(), "{:?}", c.problems);
        assert!(c.settings.is_some());
    }

    #[test]
    fn every_broken_rule_is_listed_not_only_the_first() {
        let c = check(
            "[keys]\nper_employee = 0\n[sync]\nbatch_accounts = 0\n[agent]\nregistration_burst = 0\n",
        );
        assert_eq!(c.problems.len(), 3, "{:#?}", c.problems);
        assert!(
            c.problems[0].contains("keys.per_employee"),
            "{:?}",
            c.problems
        );
        assert!(
            c.problems[1].contains("sync.batch_accounts"),
            "{:?}",
            c.problems
        );
        assert!(
            c.problems[2].contains("agent.registration_burst"),
            "{:?}",
            c.problems
        );
        assert!(
            c.problems
                .iter()
                .all(|p| !p.contains('\n') && !p.starts_with("configuration error")),
            "{:?}",
            c.problems
        );
    }

    #[test]
    fn a_file_that_cannot_be_read_is_its_problems_alone() {
        let c = check("listen = \"127.0.0.1:9000\"\nlisten_port = 9\n");
        assert!(c.settings.is_none());
        assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
        assert!(c.problems[0].contains("listen_port"), "{:?}", c.problems);
    }

    #[test]
    fn the_files_the_settings_name_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("cert.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let templates = dir.path().join("templates");
        std::fs::create_dir(&templates).unwrap();
        std::fs::write(templates.join("invitation.txt"), "{{ link }} {{ lnk }}").unwrap();
        let c = check(&format!(
            "listen = \"0.0.0.0:8443\"\n\
             [tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n\
             [mail]\ntemplates_dir = \"{}\"\n\
             [secrets]\nkey_file = \"{}\"\n\
             [agent]\nregistration_secret_env = \"KEYWARD_CHECK_TEST_UNSET_1\"\n\
             [[directories]]\nname = \"corp1\"\nurls = [\"ldaps://dc1.corp1.test\"]\n\
             bind_dn = \"CN=svc\"\nbind_password_env = \"KEYWARD_CHECK_TEST_UNSET_2\"\n",
            not_pem.display(),
            dir.path().join("missing-key.pem").display(),
            templates.display(),
            dir.path().join("missing-kek").display(),
        ));
        let has = |what: &[&str]| {
            c.problems
                .iter()
                .any(|p| what.iter().all(|w| p.contains(w)))
        };
        assert!(
            has(&["tls.cert_file", "holds no PEM certificate"]),
            "{:#?}",
            c.problems
        );
        assert!(
            has(&["tls.key_file", "cannot read", "missing-key.pem"]),
            "{:#?}",
            c.problems
        );
        assert!(has(&["invitation.txt", "lnk"]), "{:#?}", c.problems);
        assert!(
            has(&["secrets.key_file", "missing-kek"]),
            "{:#?}",
            c.problems
        );
        assert!(has(&["KEYWARD_CHECK_TEST_UNSET_1"]), "{:#?}", c.problems);
        assert!(
            has(&["corp1", "KEYWARD_CHECK_TEST_UNSET_2"]),
            "{:#?}",
            c.problems
        );
        // TLS is configured, so the address is not a problem.
        assert_eq!(c.problems.len(), 6, "{:#?}", c.problems);
        let plain = check("listen = \"0.0.0.0:8080\"\n");
        assert_eq!(plain.problems.len(), 1, "{:?}", plain.problems);
        assert!(
            plain.problems[0].contains("key `listen`"),
            "{:?}",
            plain.problems
        );
    }

    #[tokio::test]
    async fn an_unreachable_directory_and_smtp_server_are_problems() {
        let dir = tempfile::tempdir().unwrap();
        let password = dir.path().join("bind-password");
        std::fs::write(&password, "not-a-real-password\n").unwrap();
        let c = check(&format!(
            "[mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = 1\nsecurity = \"none\"\n\
             [[directories]]\nname = \"corp9\"\nurls = [\"ldap://127.0.0.1:1\"]\n\
             bind_dn = \"CN=svc\"\nbind_password_file = \"{}\"\nconnect_timeout_secs = 2\n",
            password.display()
        ));
        assert!(c.ok(), "{:#?}", c.problems);
        let settings = c.settings.unwrap();
        let checks = check_connections(&settings).await;
        assert_eq!(checks.len(), 2, "{checks:#?}");
        assert_eq!(checks[0].target, "directory corp9");
        assert!(checks[0].result.is_err(), "{checks:#?}");
        let directory = checks[0].result.as_ref().unwrap_err();
        assert!(
            directory.starts_with("directory corp9: ") && directory.matches("corp9").count() == 1,
            "{directory}"
        );
        assert_eq!(checks[1].target, "SMTP server 127.0.0.1:1");
        let smtp = checks[1].result.as_ref().unwrap_err();
        assert!(
            smtp.starts_with("SMTP server 127.0.0.1:1: ") && !smtp.contains('\n'),
            "{smtp}"
        );
    }
}
