//! Connecting and binding: URLs tried in order, TLS verified, timeouts on everything.

use std::sync::Arc;
use std::time::Duration;

use keyward_model::DomainController;
use keyward_password::SecretString;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use rustls::ClientConfig;

use crate::error::one_line;
use crate::kerberos::KerberosBind;
use crate::{BindMethod, DirectoryConfig, Error, Result};

/// A configured directory, ready to open sessions.
#[derive(Clone)]
pub struct DirectoryClient {
    config: DirectoryConfig,
    tls: Arc<ClientConfig>,
    service: ServiceBind,
}

/// How the service account binds.
#[derive(Clone)]
enum ServiceBind {
    Password(SecretString),
    Kerberos(KerberosBind),
}

/// Who a connect binds as.
#[derive(Clone, Copy)]
enum Login<'a> {
    Simple {
        who: &'a str,
        password: &'a SecretString,
    },
    Kerberos(&'a KerberosBind),
}

impl std::fmt::Debug for DirectoryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryClient")
            .field("name", &self.config.name)
            .field("urls", &self.config.urls)
            .finish_non_exhaustive()
    }
}

/// One open, bound connection.
pub struct Session {
    pub(crate) ldap: Ldap,
    pub(crate) url: String,
    pub(crate) encrypted: bool,
    /// Encrypted and the server's certificate verified: what a password needs.
    pub(crate) verified: bool,
    pub(crate) operation_timeout: Duration,
    pub(crate) page_size: u32,
    pub(crate) directory: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("directory", &self.directory)
            .field("url", &self.url)
            .field("encrypted", &self.encrypted)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The URL this session is connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// True over ldaps:// or StartTLS.
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// The domain controller this session talks to: its URL as configured and the
    /// `dnsHostName` of its rootDSE (readable by any bound account).
    pub async fn controller(&mut self) -> Result<DomainController> {
        let entries = self
            .search_small(
                "",
                ldap3::Scope::Base,
                "(objectClass=*)",
                vec!["dnsHostName".into()],
            )
            .await?;
        Ok(DomainController {
            url: self.url.clone(),
            host: entries.first().and_then(|e| e.text("dnsHostName")),
        })
    }

    /// Ends the session politely.
    pub async fn close(mut self) {
        let _ = self.ldap.unbind().await;
    }
}

impl DirectoryClient {
    /// Checks the configuration and prepares TLS for a directory whose service account binds
    /// with `bind_password` (a simple bind). No network yet.
    pub fn new(config: DirectoryConfig, bind_password: SecretString) -> Result<Self> {
        config.validate()?;
        if config.bind_method == BindMethod::Kerberos {
            return Err(Error::Config {
                directory: config.name,
                reason: "bind_method is \"kerberos\": open it with DirectoryClient::with_kerberos"
                    .into(),
            });
        }
        Self::build(config, ServiceBind::Password(bind_password))
    }

    /// Checks the configuration and the keytab and prepares TLS for a directory whose service
    /// account binds with Kerberos (`bind_method = "kerberos"`). No network yet; the process
    /// environment is checked at each connect ([`crate::KerberosEnvironment`]).
    pub fn with_kerberos(config: DirectoryConfig) -> Result<Self> {
        config.validate()?;
        let kerberos = KerberosBind::new(&config)?;
        Self::build(config, ServiceBind::Kerberos(kerberos))
    }

    fn build(config: DirectoryConfig, service: ServiceBind) -> Result<Self> {
        let tls = crate::tls::client_config(
            &config.name,
            config.ca_file.as_deref(),
            config.insecure_skip_tls_verify,
        )?;
        Ok(Self {
            config,
            tls,
            service,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DirectoryConfig {
        &self.config
    }

    /// Opens a session bound as the service account (with its password or with Kerberos),
    /// trying each URL in order.
    pub async fn connect(&self) -> Result<Session> {
        let login = self.service_login()?;
        self.connect_with(login, None, None).await
    }

    /// How the service account binds: its password, or Kerberos once its keytab and
    /// configuration are there.
    fn service_login(&self) -> Result<Login<'_>> {
        match &self.service {
            ServiceBind::Password(password) => Ok(Login::Simple {
                who: &self.config.bind_dn,
                password,
            }),
            ServiceBind::Kerberos(kerberos) => {
                kerberos.precheck(&self.config.name)?;
                Ok(Login::Kerberos(kerberos))
            }
        }
    }

    /// Opens a session bound as `who` (a DN or UPN) with a simple bind, trying each URL in
    /// order. A refused bind is returned at once: another domain controller would refuse it
    /// too.
    pub async fn connect_as(&self, who: &str, password: &SecretString) -> Result<Session> {
        self.connect_with(Login::Simple { who, password }, None, None)
            .await
    }

    /// Opens a session bound as the service account on `controller` only: its URL, no
    /// fail-over, and the server must say it is that controller (its rootDSE `dnsHostName`),
    /// else [`Error::WrongController`]. For a rotation pinned to it (docs/product.md §3.3).
    pub async fn connect_on(&self, controller: &DomainController) -> Result<Session> {
        let login = self.service_login()?;
        self.connect_with(login, None, Some(controller)).await
    }

    /// Refuses `operation` with a user's password unless certificates are verified.
    pub(crate) fn require_verified_tls(&self, operation: &'static str) -> Result<()> {
        if self.config.insecure_skip_tls_verify {
            return Err(Error::NeedsVerifiedTls {
                operation,
                directory: self.config.name.clone(),
            });
        }
        Ok(())
    }

    /// Opens a session bound as a user with that user's password (`operation`: a change, a
    /// verify): only over an encrypted connection whose certificate is verified, checked before
    /// the password leaves the process.
    /// With `on`, only on that controller (see [`Self::connect_on`]).
    pub(crate) async fn connect_as_user(
        &self,
        who: &str,
        password: &SecretString,
        operation: &'static str,
        on: Option<&DomainController>,
    ) -> Result<Session> {
        self.require_verified_tls(operation)?;
        self.connect_with(Login::Simple { who, password }, Some(operation), on)
            .await
    }

    async fn connect_with(
        &self,
        login: Login<'_>,
        needs_tls_for: Option<&'static str>,
        on: Option<&DomainController>,
    ) -> Result<Session> {
        let mut last = String::from("no URL configured");
        let urls: Vec<&str> = match on {
            Some(controller) => vec![controller.url.as_str()],
            None => self.config.urls.iter().map(String::as_str).collect(),
        };
        for url in &urls {
            match self.open(url).await {
                Ok(mut session) => {
                    if let Some(operation) = needs_tls_for
                        && !session.verified
                    {
                        session.close().await;
                        return Err(Error::NeedsTls { operation });
                    }
                    let bound = match login {
                        Login::Simple { who, password } => bind(&mut session, who, password).await,
                        Login::Kerberos(kerberos) => kerberos.bind(&mut session).await,
                    };
                    if let Err(e) = bound {
                        session.close().await;
                        return Err(e);
                    }
                    if let Some(pinned) = on {
                        let found = match session.controller().await {
                            Ok(found) => found,
                            Err(e) => {
                                session.close().await;
                                return Err(e);
                            }
                        };
                        if !pinned.is_host(found.host.as_deref()) {
                            session.close().await;
                            return Err(Error::WrongController {
                                url: pinned.url.clone(),
                                pinned: pinned.host.clone().unwrap_or_default(),
                                found: found.host.unwrap_or_default(),
                            });
                        }
                    }
                    return Ok(session);
                }
                Err(e) => {
                    tracing::warn!(directory = %self.config.name, %url, error = %e, "directory URL failed, trying the next");
                    last = e.to_string();
                }
            }
        }
        Err(Error::Unreachable {
            directory: self.config.name.clone(),
            urls: urls.join(", "),
            last,
        })
    }

    async fn open(&self, url: &str) -> Result<Session> {
        let ldaps = url.starts_with("ldaps://");
        let starttls = !ldaps && self.config.starttls;
        if self.config.insecure_skip_tls_verify {
            tracing::warn!(directory = %self.config.name, %url, "TLS certificate verification is OFF (insecure_skip_tls_verify): anyone on the path can read the bind password");
        }
        if !ldaps && !starttls && matches!(self.service, ServiceBind::Password(_)) {
            tracing::warn!(directory = %self.config.name, %url, "connecting without TLS (starttls = false): the bind password travels in clear");
        }
        let settings = LdapConnSettings::new()
            .set_conn_timeout(Duration::from_secs(self.config.connect_timeout_secs))
            .set_config(self.tls.clone())
            .set_starttls(starttls);
        let connect = LdapConnAsync::with_settings(settings, url);
        let timeout = Duration::from_secs(self.config.connect_timeout_secs);
        let (conn, ldap) = match tokio::time::timeout(timeout, connect).await {
            Err(_) => {
                return Err(Error::Unreachable {
                    directory: self.config.name.clone(),
                    urls: url.to_owned(),
                    last: format!("no answer within {}s", self.config.connect_timeout_secs),
                });
            }
            Ok(Err(e)) => return Err(classify_connect_error(url, &e)),
            Ok(Ok(pair)) => pair,
        };
        ldap3::drive!(conn);
        Ok(Session {
            ldap,
            url: url.to_owned(),
            encrypted: ldaps || starttls,
            verified: (ldaps || starttls) && !self.config.insecure_skip_tls_verify,
            operation_timeout: Duration::from_secs(self.config.operation_timeout_secs),
            page_size: self.config.page_size,
            directory: self.config.name.clone(),
        })
    }
}

fn classify_connect_error(url: &str, e: &ldap3::LdapError) -> Error {
    let text = one_line(&e.to_string());
    let lower = text.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        Error::Tls {
            url: url.to_owned(),
            detail: text,
        }
    } else {
        Error::Unreachable {
            directory: String::new(),
            urls: url.to_owned(),
            last: text,
        }
    }
}

async fn bind(session: &mut Session, who: &str, password: &SecretString) -> Result<()> {
    if password.is_empty() {
        // An empty password is an unauthenticated bind that "succeeds" on many servers.
        return Err(Error::Bind {
            who: who.to_owned(),
            reason: "the password is empty".into(),
        });
    }
    let result = session
        .ldap
        .with_timeout(session.operation_timeout)
        .simple_bind(who, password.expose())
        .await?;
    match result.rc {
        0 => Ok(()),
        8 => Err(Error::NeedsTls {
            operation: "a simple bind (the server requires strong authentication)",
        }),
        _ => Err(Error::Bind {
            who: who.to_owned(),
            reason: bind_reason(result.rc, &result.text),
        }),
    }
}

/// AD's `data NNN` sub-codes of an invalid-credentials answer, in words.
pub(crate) fn bind_reason(rc: u32, text: &str) -> String {
    let sub = text.split("data ").nth(1).map(|rest| {
        rest.split(',')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    let meaning = match sub.as_deref() {
        Some("525") => "no such user",
        Some("52e") => "wrong password",
        Some("530") => "logon not permitted at this time",
        Some("531") => "logon not permitted from this workstation",
        Some("532") => "the password has expired",
        Some("533") => "the account is disabled",
        Some("701") => "the account has expired",
        Some("773") => "the user must change the password at next logon",
        Some("775") => "the account is locked out",
        _ if rc == 49 => "invalid credentials",
        _ => "refused",
    };
    format!("{meaning} (LDAP {rc}: {})", one_line(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_reasons_decode_ad_sub_codes() {
        let text = "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1";
        assert!(bind_reason(49, text).starts_with("wrong password"));
        assert!(
            bind_reason(49, &text.replace("52e", "533")).starts_with("the account is disabled")
        );
        assert!(bind_reason(49, &text.replace("52e", "773")).starts_with("the user must change"));
        assert!(bind_reason(49, "whatever").starts_with("invalid credentials"));
    }
}
