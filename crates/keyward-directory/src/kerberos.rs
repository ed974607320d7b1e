//! The service account's Kerberos (GSSAPI) bind with a keytab, so that no bind password is
//! stored anywhere.
//!
//! How the ticket is obtained: MIT Kerberos' GSSAPI library gets the service account's initial
//! ticket from a *client keytab* by itself, and keeps it (and the LDAP service tickets) in a
//! credential cache. Both are named by the process environment, which Rust code may not change
//! once threads run, so the process is started with them ([`KerberosEnvironment`]):
//!
//! - `KRB5_CLIENT_KTNAME=FILE:<keytab_file>`: the keytab the tickets come from;
//! - `KRB5CCNAME=DIR:<private directory>`: a credential cache collection (one cache per
//!   principal, so several realms work side by side) in a directory the process creates for
//!   itself with mode 0700 ([`private_ccache_dir`]) and removes at exit: no ticket is written
//!   where another user could read it, and none is shared with an administrator's own tickets.
//!   (A `MEMORY:` cache holds one principal only; the kernel's process keyring failed under
//!   MIT Kerberos 1.20 with "Credentials cache I/O operation failed".)
//! - `KRB5_CONFIG=<krb5_config>` when the directory names one (the realm's KDCs); otherwise the
//!   system's `/etc/krb5.conf` (or whatever `KRB5_CONFIG` the process was given).
//!
//! `keyward-server` and `keyward` start themselves again with these variables when the
//! configuration has a Kerberos directory (`keyward_service::enter_kerberos_environment`); a
//! library user sets them before starting. A connect checks them first and refuses a process
//! without them ([`KerberosProblem::Environment`]) rather than bind with some other ticket.
//!
//! The bind itself: over a connection that is already encrypted and verified (ldaps:// or
//! StartTLS, never in clear), the DC's name is read from the rootDSE (`dnsHostName`, before any
//! bind) or taken from the URL (`kerberos_spn_host`), the tickets for `ldap/<host>@<REALM>` are
//! obtained on a blocking thread (the library blocks on the KDC), and ldap3 runs the SASL GSSAPI
//! exchange with the TLS channel binding. Every failure is an [`Error::Kerberos`] whose
//! [`KerberosProblem`] says what to do.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use cross_krb5::{ClientCtx, Cred, InitiateFlags, K5Cred as _};
use ldap3::{LdapError, Scope};
use serde::{Deserialize, Serialize};

use crate::error::one_line;
use crate::{DirectoryConfig, Error, Result, Session};

/// The variable naming the client keytab (MIT Kerberos).
pub const ENV_CLIENT_KEYTAB: &str = "KRB5_CLIENT_KTNAME";
/// The variable naming the credential cache.
pub const ENV_CCACHE: &str = "KRB5CCNAME";
/// The variable naming the Kerberos configuration file.
pub const ENV_CONFIG: &str = "KRB5_CONFIG";
/// The prefix of the private credential cache directories [`private_ccache_dir`] makes.
pub const CCACHE_DIR_PREFIX: &str = "keyward-krb5cc-";

/// Creates a new directory for this process's credential caches: under the temporary directory
/// (`TMPDIR`, a private `/tmp` under the systemd unit), a new random name, mode 0700. The caller
/// removes it when the process ends.
pub fn private_ccache_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt as _;
    let dir = std::env::temp_dir().join(format!("{CCACHE_DIR_PREFIX}{}", uuid::Uuid::new_v4()));
    // A new name: creating it fails rather than reuse a directory someone else made.
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

/// How keyward binds as the service account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BindMethod {
    /// An LDAP simple bind with `bind_dn` and the password of `bind_password_file` or
    /// `bind_password_env`.
    #[default]
    Simple,
    /// A SASL GSSAPI (Kerberos) bind with the keys of `keytab_file`: no password is stored.
    Kerberos,
}

/// Where the host name of the LDAP service principal (`ldap/<host>@<REALM>`) comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpnHost {
    /// The `dnsHostName` the domain controller gives in its rootDSE (read over the verified
    /// TLS connection before the bind): right for URLs with IP addresses and for each DC of a
    /// fail-over list.
    #[default]
    DnsHostName,
    /// The host of the URL, which must be a DNS name (for a name with an SPN of its own).
    Url,
}

/// Why a Kerberos bind failed; its `Display` says what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KerberosProblem {
    /// The process was not started with the Kerberos variables this directory needs.
    Environment,
    /// The keytab file cannot be read, or is not a keytab.
    Keytab,
    /// The keytab holds no key for the principal.
    NoKeyInKeytab,
    /// No ticket could be had and no key was found to get one.
    NoCredentials,
    /// The KDC does not know the principal.
    PrincipalUnknown,
    /// The KDC refused the keytab's key (the password changed since the keytab was made).
    KeyMismatch,
    /// The account is disabled, locked out or expired.
    AccountRevoked,
    /// No KDC of the realm answered, or the realm has no KDC configured.
    KdcUnreachable,
    /// This host's clock and the KDC's differ by more than the allowed skew.
    ClockSkew,
    /// The KDC knows no `ldap/<host>` service principal for the domain controller.
    SpnUnknown,
    /// No DNS name for the domain controller (the rootDSE has none, or the URL is an address).
    NoHostName,
    /// The domain controller refused the Kerberos bind.
    Refused,
    /// Anything else the Kerberos library reported.
    Other,
}

impl std::fmt::Display for KerberosProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Environment => {
                "this process was not started with the Kerberos environment (keyward-server and \
                 keyward set it themselves; a library user sets it before starting)"
            }
            Self::Keytab => "the keytab cannot be used; check keytab_file",
            Self::NoKeyInKeytab => {
                "the keytab holds no key for this principal; export the service account's keys \
                 (ktpass or samba-tool domain exportkeytab) or fix kerberos_principal"
            }
            Self::NoCredentials => {
                "no ticket and no key to get one; check keytab_file and kerberos_principal"
            }
            Self::PrincipalUnknown => {
                "the KDC does not know this principal; check kerberos_principal (name@REALM, the \
                 realm in upper case)"
            }
            Self::KeyMismatch => {
                "the KDC refused the keytab's key (the account's password changed since the \
                 keytab was made?); export a new keytab"
            }
            Self::AccountRevoked => "the account is disabled, locked out or expired",
            Self::KdcUnreachable => {
                "no KDC of the realm answered; check the realm's kdc lines in krb5.conf \
                 (krb5_config) and that port 88 is reachable"
            }
            Self::ClockSkew => {
                "this host's clock and the KDC's differ by more than 5 minutes; synchronize them \
                 (NTP)"
            }
            Self::SpnUnknown => {
                "the KDC knows no LDAP service principal for this domain controller; check its \
                 SPNs (setspn -L) or kerberos_spn_host"
            }
            Self::NoHostName => {
                "no DNS name for the domain controller to ask a ticket for; use \
                 kerberos_spn_host = \"dns_host_name\" or a URL with the DC's DNS name"
            }
            Self::Refused => "the domain controller refused the Kerberos bind",
            Self::Other => "the Kerberos library failed",
        })
    }
}

/// The Kerberos variables one process needs for its Kerberos directories: one client keytab and
/// one Kerberos configuration for the whole process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KerberosEnvironment {
    keytab: PathBuf,
    krb5_config: Option<PathBuf>,
}

impl KerberosEnvironment {
    /// The environment `config` (a Kerberos directory) needs; `None` for a simple bind.
    pub fn of(config: &DirectoryConfig) -> Option<Self> {
        if config.bind_method != BindMethod::Kerberos {
            return None;
        }
        let keytab = config.keytab_file.as_deref()?;
        Some(Self {
            keytab: absolute(keytab),
            krb5_config: config.krb5_config.as_deref().map(absolute),
        })
    }

    /// The one environment all the Kerberos directories of a configuration need, `None` when
    /// none binds with Kerberos. A process has one client keytab and one Kerberos
    /// configuration, so directories that name different ones are refused: put every
    /// principal in one keytab (`ktutil`, or one `exportkeytab` after another into the same
    /// file) and every realm in one krb5.conf.
    pub fn for_directories<'a>(
        directories: impl IntoIterator<Item = &'a DirectoryConfig>,
    ) -> Result<Option<Self>> {
        let mut found: Option<(Self, &str)> = None;
        for config in directories {
            let Some(env) = Self::of(config) else {
                continue;
            };
            match &found {
                None => found = Some((env, &config.name)),
                Some((first, name)) => {
                    let differ = if first.keytab == env.keytab {
                        (first.krb5_config != env.krb5_config).then_some("krb5_config")
                    } else {
                        Some("keytab_file")
                    };
                    if let Some(key) = differ {
                        return Err(Error::Config {
                            directory: config.name.clone(),
                            reason: format!(
                                "its {key} differs from directory {name}'s; one process uses one \
                                 keytab and one krb5.conf for all its Kerberos directories: put \
                                 every principal in one keytab and every realm in one krb5.conf"
                            ),
                        });
                    }
                }
            }
        }
        Ok(found.map(|(env, _)| env))
    }

    /// The variables and their values, to start a process with; `ccache_dir` is the
    /// process's private credential cache directory ([`private_ccache_dir`]).
    pub fn variables(&self, ccache_dir: &Path) -> Vec<(&'static str, OsString)> {
        let mut vars = self.fixed_variables();
        let mut ccache = OsString::from("DIR:");
        ccache.push(ccache_dir);
        vars.insert(1, (ENV_CCACHE, ccache));
        vars
    }

    /// The variables whose value does not depend on the process.
    fn fixed_variables(&self) -> Vec<(&'static str, OsString)> {
        let mut keytab = OsString::from("FILE:");
        keytab.push(&self.keytab);
        let mut vars = vec![(ENV_CLIENT_KEYTAB, keytab)];
        if let Some(path) = &self.krb5_config {
            vars.push((ENV_CONFIG, path.clone().into_os_string()));
        }
        vars
    }

    /// Whether this process was started with [`Self::variables`] (any private directory).
    pub fn is_current(&self) -> bool {
        self.mismatch().is_none()
    }

    /// The first variable this process lacks or has with another value, or a credential cache
    /// that is not a private directory.
    fn mismatch(&self) -> Option<String> {
        let fixed = self.fixed_variables().into_iter().find_map(|(name, want)| {
            match std::env::var_os(name) {
                Some(have) if have == want => None,
                Some(have) => Some(format!(
                    "{name} is {:?}, not {:?}",
                    have.to_string_lossy(),
                    want.to_string_lossy()
                )),
                None => Some(format!(
                    "{name} is not set (want {:?})",
                    want.to_string_lossy()
                )),
            }
        });
        fixed.or_else(|| {
            let Some(ccache) = std::env::var_os(ENV_CCACHE) else {
                return Some(format!(
                    "{ENV_CCACHE} is not set (want DIR: and a private directory)"
                ));
            };
            let text = ccache.to_string_lossy();
            let Some(dir) = text.strip_prefix("DIR:") else {
                return Some(format!(
                    "{ENV_CCACHE} is {text:?}, not DIR: and a private directory"
                ));
            };
            private_dir_problem(Path::new(dir))
                .map(|problem| format!("{ENV_CCACHE} names {dir}, which {problem}"))
        })
    }
}

/// Why `dir` is not a directory only its owner may use.
fn private_dir_problem(dir: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt as _;
    match std::fs::metadata(dir) {
        Err(e) => Some(format!("cannot be read: {e}")),
        Ok(m) if !m.is_dir() => Some("is not a directory".into()),
        Ok(m) if m.permissions().mode() & 0o077 != 0 => Some(format!(
            "other users may use (mode {:o}); it must be 0700",
            m.permissions().mode() & 0o777
        )),
        Ok(_) => None,
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// The principal a Kerberos directory binds as: `kerberos_principal`, else `bind_dn` when it
/// is a user principal name (`name@REALM`, no `=`).
pub(crate) fn principal_of(config: &DirectoryConfig) -> Option<&str> {
    config.kerberos_principal.as_deref().or_else(|| {
        let dn = config.bind_dn.trim();
        (dn.contains('@') && !dn.contains('=')).then_some(dn)
    })
}

/// The realm of `principal`: what follows its last `@`.
fn realm_of(principal: &str) -> Option<&str> {
    principal
        .rsplit_once('@')
        .map(|(_, realm)| realm)
        .filter(|realm| !realm.is_empty())
}

/// The Kerberos rules of a directory's configuration, checked without a network or a file.
pub(crate) fn validate(config: &DirectoryConfig) -> std::result::Result<(), String> {
    let kerberos_only = [
        ("keytab_file", config.keytab_file.is_some()),
        ("kerberos_principal", config.kerberos_principal.is_some()),
        ("krb5_config", config.krb5_config.is_some()),
        (
            "kerberos_spn_host",
            config.kerberos_spn_host != SpnHost::default(),
        ),
    ];
    if config.bind_method == BindMethod::Simple {
        if let Some((key, _)) = kerberos_only.iter().find(|(_, set)| *set) {
            return Err(format!(
                "{key} is only used with bind_method = \"kerberos\"; remove it or set bind_method"
            ));
        }
        return Ok(());
    }
    if let Some((key, _)) = [
        ("bind_password_file", config.bind_password_file.is_some()),
        ("bind_password_env", config.bind_password_env.is_some()),
    ]
    .iter()
    .find(|(_, set)| *set)
    {
        return Err(format!(
            "bind_method is \"kerberos\", so no password is used: remove {key}"
        ));
    }
    if config.keytab_file.is_none() {
        return Err(
            "bind_method \"kerberos\" needs keytab_file (the service account's keytab, mode 0600)"
                .into(),
        );
    }
    let Some(principal) = principal_of(config) else {
        return Err(
            "bind_dn is a DN, so bind_method \"kerberos\" needs kerberos_principal \
             (name@REALM, e.g. svc-keyward@CORP.EXAMPLE)"
                .into(),
        );
    };
    let well_formed = principal
        .rsplit_once('@')
        .is_some_and(|(name, realm)| !name.is_empty() && !realm.is_empty() && !realm.contains('/'))
        && !principal.chars().any(char::is_whitespace);
    if !well_formed {
        return Err(format!(
            "kerberos principal {principal:?} is not name@REALM"
        ));
    }
    if !config.starttls
        && let Some(url) = config.urls.iter().find(|u| u.starts_with("ldap://"))
    {
        return Err(format!(
            "bind_method \"kerberos\" needs TLS, and {url} with starttls = false has none: \
             set starttls = true or use ldaps://"
        ));
    }
    Ok(())
}

/// Checks that `path` is a keytab only its owner (and at most its group, reading) may use.
/// The contents are never quoted.
pub(crate) fn check_keytab(path: &Path) -> std::result::Result<(), String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read keytab_file {shown}: {e}"))?;
    // A keytab starts with its format version: 0x05 0x02 (or the old 0x05 0x01).
    if bytes.len() < 2 || bytes[0] != 5 || !(1..=2).contains(&bytes[1]) {
        return Err(format!("keytab_file {shown} is not a keytab"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("cannot read keytab_file {shown}: {e}"))?
            .permissions()
            .mode();
        if mode & 0o027 != 0 {
            return Err(format!(
                "keytab_file {shown} may be read or changed by other users (mode {:o}): it holds \
                 the service account's keys; chmod 600 (or 640 with a group only keyward is in)",
                mode & 0o777
            ));
        }
    }
    Ok(())
}

/// What a Kerberos directory's client needs to bind.
#[derive(Debug, Clone)]
pub(crate) struct KerberosBind {
    pub(crate) principal: String,
    realm: String,
    spn_host: SpnHost,
    env: KerberosEnvironment,
    keytab: PathBuf,
}

impl KerberosBind {
    /// From a validated configuration; checks the keytab file.
    pub(crate) fn new(config: &DirectoryConfig) -> Result<Self> {
        let fail = |reason: String| Error::Config {
            directory: config.name.clone(),
            reason,
        };
        validate(config).map_err(fail)?;
        let (Some(principal), Some(env), Some(keytab)) = (
            principal_of(config),
            KerberosEnvironment::of(config),
            config.keytab_file.clone(),
        ) else {
            return Err(fail("bind_method is not \"kerberos\"".into()));
        };
        check_keytab(&keytab).map_err(fail)?;
        let realm = realm_of(principal)
            .ok_or_else(|| fail(format!("kerberos principal {principal:?} has no realm")))?;
        Ok(Self {
            principal: principal.to_owned(),
            realm: realm.to_owned(),
            spn_host: config.kerberos_spn_host,
            env,
            keytab,
        })
    }

    fn fail(&self, directory: &str, problem: KerberosProblem, detail: String) -> Error {
        Error::Kerberos {
            directory: directory.to_owned(),
            principal: self.principal.clone(),
            problem,
            detail,
        }
    }

    /// What can be checked before any connection: the process environment and the keytab.
    pub(crate) fn precheck(&self, directory: &str) -> Result<()> {
        if let Some(detail) = self.env.mismatch() {
            return Err(self.fail(directory, KerberosProblem::Environment, detail));
        }
        check_keytab(&self.keytab)
            .map_err(|detail| self.fail(directory, KerberosProblem::Keytab, detail))
    }

    /// The Kerberos bind on an open session, which must be encrypted.
    pub(crate) async fn bind(&self, session: &mut Session) -> Result<()> {
        if !session.encrypted {
            return Err(Error::NeedsTls {
                operation: "a Kerberos bind",
            });
        }
        let directory = session.directory.clone();
        let host = match self.spn_host {
            SpnHost::DnsHostName => dns_host_name(session).await?,
            SpnHost::Url => url_host(&session.url),
        }
        .ok_or_else(|| {
            self.fail(
                &directory,
                KerberosProblem::NoHostName,
                format!("{} gave no usable DNS name", session.url),
            )
        })?;
        // The realm is the service account's: a principal without one would get the default
        // realm of krb5.conf, which is another domain's when there are several.
        let server = format!("{host}@{}", self.realm);
        let target = format!("ldap/{server}");
        let principal = self.principal.clone();
        let spn = target.clone();
        let task = tokio::task::spawn_blocking(move || obtain_tickets(&principal, &spn));
        let cred = match tokio::time::timeout(session.operation_timeout, task).await {
            Err(_) => {
                return Err(self.fail(
                    &directory,
                    KerberosProblem::KdcUnreachable,
                    format!("no ticket within {}s", session.operation_timeout.as_secs()),
                ));
            }
            Ok(Err(join)) => {
                return Err(self.fail(&directory, KerberosProblem::Other, join.to_string()));
            }
            Ok(Ok(Err(detail))) => {
                let problem = classify(&detail);
                return Err(self.fail(&directory, problem, format!("{target}: {detail}")));
            }
            Ok(Ok(Ok(cred))) => cred,
        };
        let answer = session
            .ldap
            .with_timeout(session.operation_timeout)
            .sasl_gssapi_cred_bind(cred, &server)
            .await;
        match answer {
            Ok(result) if result.rc == 0 => {
                tracing::debug!(%directory, url = %session.url, %target, "Kerberos bind");
                Ok(())
            }
            Ok(result) => Err(self.fail(
                &directory,
                KerberosProblem::Refused,
                crate::client::bind_reason(result.rc, &result.text),
            )),
            Err(LdapError::GssapiOperationError(detail)) => {
                let detail = one_line(&detail);
                Err(self.fail(&directory, classify(&detail), detail))
            }
            Err(LdapError::NoGssapiToken) => Err(self.fail(
                &directory,
                KerberosProblem::Refused,
                "the server sent no GSSAPI token".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }
}

/// Gets the initial ticket from the keytab and the service ticket for `target` into the
/// process's credential cache, then a credential for the bind. The library blocks on the KDC
/// here, on a blocking thread, and ldap3's bind then finds both tickets in the cache.
fn obtain_tickets(principal: &str, target: &str) -> std::result::Result<Cred, String> {
    let acquire = || {
        Cred::client_acquire(InitiateFlags::empty(), Some(principal))
            .map_err(|e| one_line(&format!("{e:#}")))
    };
    // The context is never sent: asking for it is what makes the library fetch the ticket.
    ClientCtx::new_with_cred(acquire()?, target, None).map_err(|e| one_line(&format!("{e:#}")))?;
    acquire()
}

/// The DC's `dnsHostName`, read from the rootDSE before any bind.
async fn dns_host_name(session: &mut Session) -> Result<Option<String>> {
    let entries = session
        .search_small(
            "",
            Scope::Base,
            "(objectClass=*)",
            vec!["dnsHostName".into()],
        )
        .await?;
    Ok(entries
        .first()
        .and_then(|e| e.text("dnsHostName"))
        .filter(|name| is_dns_name(name))
        .map(|name| name.to_ascii_lowercase()))
}

/// The host of an `ldap[s]://host[:port]` URL when it is a DNS name (not an address).
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    if authority.starts_with('[') {
        return None; // an IPv6 address
    }
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    (is_dns_name(host) && host.parse::<std::net::Ipv4Addr>().is_err())
        .then(|| host.to_ascii_lowercase())
}

/// A host name keyward puts in a service principal: labels of letters, digits and hyphens.
/// Anything else (a `/` or `@` from a hostile server) is refused.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Which problem a Kerberos library message reports (MIT Kerberos' texts, as GSSAPI shows them).
pub(crate) fn classify(detail: &str) -> KerberosProblem {
    let text = detail.to_ascii_lowercase();
    let has = |needle: &str| text.contains(needle);
    if has("clock skew") {
        KerberosProblem::ClockSkew
    } else if has("server") && has("not found in kerberos database") {
        KerberosProblem::SpnUnknown
    } else if has("not found in kerberos database") || has("client not found") {
        KerberosProblem::PrincipalUnknown
    } else if has("cannot contact any kdc")
        || has("cannot find kdc")
        || has("cannot resolve network address for kdc")
        || has("unable to reach any kdc")
    {
        KerberosProblem::KdcUnreachable
    } else if has("no suitable keys")
        || has("no key table entry found")
        || has("can't find client principal")
    {
        KerberosProblem::NoKeyInKeytab
    } else if has("key table file") || has("keytab") && has("not found") {
        KerberosProblem::Keytab
    } else if has("preauthentication failed")
        || has("pre-authentication failed")
        || has("password incorrect")
        || has("decrypt integrity check failed")
    {
        KerberosProblem::KeyMismatch
    } else if has("credentials have been revoked") || has("entry in database has expired") {
        KerberosProblem::AccountRevoked
    } else if has("no kerberos credentials available") || has("no credentials cache found") {
        KerberosProblem::NoCredentials
    } else {
        KerberosProblem::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kerberos_config() -> DirectoryConfig {
        let mut c = DirectoryConfig::new(
            "corp1",
            vec!["ldaps://127.0.0.2".into()],
            "svc-keyward@CORP1.TEST",
        );
        c.bind_method = BindMethod::Kerberos;
        c.keytab_file = Some("/etc/keyward/keyward.keytab".into());
        c
    }

    type Change = Box<dyn Fn(&mut DirectoryConfig)>;

    #[test]
    fn validation_names_each_mistake() {
        assert_eq!(validate(&kerberos_config()), Ok(()));
        let cases: Vec<(&str, Change)> = vec![
            (
                "remove bind_password_env",
                Box::new(|c| c.bind_password_env = Some("PW".into())),
            ),
            (
                "remove bind_password_file",
                Box::new(|c| c.bind_password_file = Some("/pw".into())),
            ),
            ("needs keytab_file", Box::new(|c| c.keytab_file = None)),
            (
                "needs kerberos_principal",
                Box::new(|c| c.bind_dn = "CN=svc,CN=Users,DC=corp1,DC=test".into()),
            ),
            (
                "is not name@REALM",
                Box::new(|c| c.kerberos_principal = Some("svc@".into())),
            ),
            (
                "needs TLS",
                Box::new(|c| {
                    c.urls = vec!["ldap://127.0.0.2".into()];
                    c.starttls = false;
                }),
            ),
        ];
        for (expected, change) in cases {
            let mut c = kerberos_config();
            change(&mut c);
            let problem = validate(&c).unwrap_err();
            assert!(problem.contains(expected), "{expected}: {problem}");
        }
        let mut simple = DirectoryConfig::new("corp1", vec!["ldaps://dc".into()], "CN=svc");
        simple.keytab_file = Some("/k".into());
        assert!(validate(&simple).unwrap_err().contains("only used with"));
    }

    #[test]
    fn principal_defaults_to_a_upn_bind_dn() {
        let mut c = kerberos_config();
        assert_eq!(principal_of(&c), Some("svc-keyward@CORP1.TEST"));
        c.bind_dn = "CN=svc-keyward,CN=Users,DC=corp1,DC=test".into();
        assert_eq!(principal_of(&c), None);
        c.kerberos_principal = Some("svc@CORP1.TEST".into());
        assert_eq!(principal_of(&c), Some("svc@CORP1.TEST"));
        assert_eq!(realm_of("ldap/dc@CORP1.TEST"), Some("CORP1.TEST"));
    }

    #[test]
    fn one_keytab_and_krb5_conf_per_process() {
        let a = kerberos_config();
        let mut b = kerberos_config();
        b.name = "corp2".into();
        let simple = DirectoryConfig::new("corp3", vec!["ldaps://dc".into()], "CN=svc");
        let env = KerberosEnvironment::for_directories([&a, &simple, &b])
            .unwrap()
            .unwrap();
        let vars = env.variables(Path::new("/tmp/keyward-krb5cc-x"));
        assert_eq!(vars[0].0, ENV_CLIENT_KEYTAB);
        assert_eq!(vars[0].1, "FILE:/etc/keyward/keyward.keytab");
        assert_eq!(
            vars[1],
            (ENV_CCACHE, OsString::from("DIR:/tmp/keyward-krb5cc-x"))
        );
        assert_eq!(vars.len(), 2, "no krb5_config: the system's is kept");
        assert_eq!(
            KerberosEnvironment::for_directories([&simple]).unwrap(),
            None
        );
        b.keytab_file = Some("/etc/keyward/other.keytab".into());
        let e = KerberosEnvironment::for_directories([&a, &b]).unwrap_err();
        assert!(e.to_string().contains("keytab_file differs"), "{e}");
        b.keytab_file.clone_from(&a.keytab_file);
        b.krb5_config = Some("/etc/keyward/krb5.conf".into());
        let e = KerberosEnvironment::for_directories([&a, &b]).unwrap_err();
        assert!(e.to_string().contains("krb5_config differs"), "{e}");
    }

    #[test]
    fn host_names_for_the_spn() {
        assert_eq!(
            url_host("ldaps://DC1.corp.example:636"),
            Some("dc1.corp.example".into())
        );
        assert_eq!(
            url_host("ldap://dc1.corp.example"),
            Some("dc1.corp.example".into())
        );
        assert_eq!(url_host("ldaps://127.0.0.2"), None);
        assert_eq!(url_host("ldaps://[::1]:636"), None);
        assert!(is_dns_name("dc-corp1.corp1.test"));
        for hostile in ["", "dc/evil", "dc@EVIL", "dc..x", "a b", &"a".repeat(64)] {
            assert!(!is_dns_name(hostile), "{hostile:?}");
        }
    }

    #[test]
    fn mit_messages_map_to_problems() {
        use KerberosProblem as P;
        let cases = [
            ("Clock skew too great", P::ClockSkew),
            (
                "Server ldap/127.0.0.2@CORP1.TEST not found in Kerberos database",
                P::SpnUnknown,
            ),
            (
                "Client 'ghost@CORP1.TEST' not found in Kerberos database",
                P::PrincipalUnknown,
            ),
            (
                "Cannot contact any KDC for realm 'CORP1.TEST'",
                P::KdcUnreachable,
            ),
            (
                "Cannot find KDC for realm \"NOWHERE.TEST\"",
                P::KdcUnreachable,
            ),
            (
                "Keytab contains no suitable keys for svc-keyward@CORP1.TEST",
                P::NoKeyInKeytab,
            ),
            (
                "No credentials were supplied, or the credentials were unavailable or \
                 inaccessible (Can't find client principal ghost@CORP1.TEST in cache collection)",
                P::NoKeyInKeytab,
            ),
            ("Key table file '/nope' not found", P::Keytab),
            ("Preauthentication failed", P::KeyMismatch),
            ("Client's credentials have been revoked", P::AccountRevoked),
            ("No Kerberos credentials available", P::NoCredentials),
            ("something new", P::Other),
        ];
        for (text, problem) in cases {
            assert_eq!(classify(text), problem, "{text}");
        }
    }
}
