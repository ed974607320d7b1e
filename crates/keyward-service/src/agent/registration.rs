//! What a workstation registration must bring: the registration secret, when one is configured
//! (`agent.registration_secret_env` or `agent.registration_secret_file`).
//!
//! The secret is read at each registration (a changed file takes effect at once), compared in
//! constant time through SHA-256 (so that its length does not show either), and never logged,
//! stored or returned.

use std::net::IpAddr;

use keyward_password::{SecretString, sha256_hex, sha256_matches};

use crate::config::AgentSettings;
use crate::{Error, Result};

/// A workstation asking to be registered. Its `Debug` never shows the secret.
#[derive(Clone, Copy)]
pub struct Registration<'a> {
    /// The name it gives, 1–128 printable characters (not unique).
    pub name: &'a str,
    /// The client address it registers from, recorded with it.
    pub source_address: Option<IpAddr>,
    /// The registration secret it presents, if any.
    pub secret: Option<&'a str>,
}

impl std::fmt::Debug for Registration<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.name)
            .field("source_address", &self.source_address)
            .field("secret", &self.secret.map(|_| "[redacted]"))
            .finish()
    }
}

/// Refuses a registration without the configured secret. Nothing to check when none is
/// configured.
pub(super) fn check_secret(settings: &AgentSettings, presented: Option<&str>) -> Result<()> {
    let Some(expected) = configured_secret(settings)? else {
        return Ok(());
    };
    // Both sides hashed: the comparison shows nothing of the configured secret's length.
    let expected = sha256_hex(expected.expose().as_bytes());
    if sha256_matches(&expected, presented.unwrap_or_default().as_bytes()) {
        Ok(())
    } else {
        Err(Error::RegistrationRefused(
            "this server registers workstations only with its registration secret \
             (field `registration_secret`); the secret was missing or wrong"
                .into(),
        ))
    }
}

/// Reads the configured registration secret's source (`keyward config check`): a file or
/// variable that is missing or empty is a configuration error.
pub(crate) fn check_registration_secret(settings: &AgentSettings) -> Result<()> {
    configured_secret(settings).map(|_| ())
}

/// The configured secret: `None` when registration is open. A configured source that is
/// unreadable or empty is a configuration error (registration is then refused, never opened).
fn configured_secret(settings: &AgentSettings) -> Result<Option<SecretString>> {
    if let Some(path) = &settings.registration_secret_file {
        let text = SecretString::new(std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read agent.registration_secret_file {}: {e}",
                path.display()
            ))
        })?);
        let first = SecretString::new(
            text.expose()
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        );
        if first.is_empty() {
            return Err(Error::Config(format!(
                "agent.registration_secret_file {} is empty",
                path.display()
            )));
        }
        return Ok(Some(first));
    }
    if let Some(var) = &settings.registration_secret_env {
        let problem = match std::env::var(var) {
            Ok(value) if !value.is_empty() => return Ok(Some(SecretString::new(value))),
            Ok(_) => "is empty",
            Err(std::env::VarError::NotPresent) => "is not set",
            Err(std::env::VarError::NotUnicode(_)) => "is not valid UTF-8",
        };
        return Err(Error::Config(format!(
            "the environment variable {var} (agent.registration_secret_env) {problem}"
        )));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(content: &str) -> (tempfile::TempDir, AgentSettings) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, content).unwrap();
        let settings = AgentSettings {
            registration_secret_file: Some(path),
            ..AgentSettings::default()
        };
        (dir, settings)
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let r = Registration {
            name: "WS-1",
            source_address: None,
            secret: Some("hunter2-registration"),
        };
        let shown = format!("{r:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn without_a_configured_secret_registration_is_open() {
        let settings = AgentSettings::default();
        assert!(check_secret(&settings, None).is_ok());
        assert!(check_secret(&settings, Some("anything")).is_ok());
    }

    #[test]
    fn a_configured_secret_must_be_presented_exactly() {
        let (_dir, settings) = with_file("s3cret-registration\nignored second line\n");
        assert!(check_secret(&settings, Some("s3cret-registration")).is_ok());
        for wrong in [None, Some(""), Some("s3cret"), Some("s3cret-registration ")] {
            let err = check_secret(&settings, wrong).unwrap_err();
            assert!(matches!(err, Error::RegistrationRefused(_)), "{wrong:?}");
            assert!(!err.to_string().contains("s3cret-registration"));
        }
    }

    #[test]
    fn an_unusable_secret_source_refuses_instead_of_opening() {
        let (_dir, settings) = with_file("\n");
        assert!(matches!(
            check_secret(&settings, Some("")),
            Err(Error::Config(_))
        ));
        let missing = AgentSettings {
            registration_secret_file: Some("/nonexistent/keyward-secret".into()),
            ..AgentSettings::default()
        };
        assert!(matches!(
            check_secret(&missing, None),
            Err(Error::Config(_))
        ));
        let unset = AgentSettings {
            registration_secret_env: Some("KEYWARD_TEST_UNSET_REGISTRATION_SECRET".into()),
            ..AgentSettings::default()
        };
        let err = check_secret(&unset, Some("x")).unwrap_err();
        assert!(err.to_string().contains("is not set"), "{err}");
    }
}
