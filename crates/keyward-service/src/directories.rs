//! Configured directories: opening clients with their bind passwords (the connection test
//! behind `keyward directory test` is in `directory_test.rs`).

use keyward_directory::{DirectoryClient, DirectoryConfig};
use keyward_password::SecretString;

use crate::{Error, Result, Settings};

/// Directory operations.
#[derive(Debug, Clone, Copy)]
pub struct Directories<'a> {
    settings: &'a Settings,
}

impl<'a> Directories<'a> {
    pub(crate) fn new(settings: &'a Settings) -> Self {
        Self { settings }
    }

    /// The configured directories.
    pub fn list(&self) -> &'a [DirectoryConfig] {
        &self.settings.directories
    }

    /// The configuration of the directory `name`.
    pub fn config(&self, name: &str) -> Result<&'a DirectoryConfig> {
        self.settings.directory(name).ok_or_else(|| {
            let known: Vec<&str> = self
                .settings
                .directories
                .iter()
                .map(|d| d.name.as_str())
                .collect();
            Error::NotFound {
                what: "directory",
                key: format!(
                    "{name} (configured: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            }
        })
    }

    /// A client for `name`, with its bind password read from its file or variable (or, for
    /// `bind_method = "kerberos"`, its keytab checked: no password is read).
    pub fn client(&self, name: &str) -> Result<DirectoryClient> {
        let config = self.config(name)?;
        if config.bind_method == keyward_directory::BindMethod::Kerberos {
            return Ok(DirectoryClient::with_kerberos(config.clone())?);
        }
        let password = bind_password(config)?;
        Ok(DirectoryClient::new(config.clone(), password)?)
    }
}

/// Reads the bind password from the configured file (first line) or environment variable.
/// Errors name the file or variable, never the value.
fn bind_password(config: &DirectoryConfig) -> Result<SecretString> {
    let fail = |reason: String| Error::Config(format!("directory {}: {reason}", config.name));
    if let Some(path) = &config.bind_password_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            fail(format!(
                "cannot read bind_password_file {}: {e}",
                path.display()
            ))
        })?;
        let first = SecretString::new(text.lines().next().unwrap_or("").to_owned());
        drop(SecretString::new(text));
        if first.is_empty() {
            return Err(fail(format!(
                "bind_password_file {} is empty",
                path.display()
            )));
        }
        return Ok(first);
    }
    if let Some(var) = &config.bind_password_env {
        let value = std::env::var(var).map_err(|_| {
            fail(format!(
                "the environment variable {var} (bind_password_env) is not set"
            ))
        })?;
        if value.is_empty() {
            return Err(fail(format!("the environment variable {var} is empty")));
        }
        return Ok(SecretString::new(value));
    }
    Err(fail("no bind_password_file or bind_password_env".into()))
}
