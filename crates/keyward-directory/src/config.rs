//! How one directory is configured (`[[directories]]` in keyward's configuration file).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::kerberos::{BindMethod, SpnHost};

/// The default name of the group whose (transitive) members are synchronized.
pub const DEFAULT_SYNC_GROUP: &str = "Hideez Users Sync";
/// The default name of the group whose members' passwords keyward rotates.
pub const DEFAULT_ROTATION_GROUP: &str = "Security Key Auto Password Change";

/// The longest duration a setting may name, in seconds: ten years. No setting means "never" by
/// a longer one, and a deadline that far would overflow the date arithmetic that uses it.
pub const MAX_DURATION_SECS: u64 = 10 * 365 * 86_400;

/// How transitive group membership is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipMethod {
    /// `in_chain` on Active Directory, `walk` elsewhere.
    #[default]
    Auto,
    /// The `LDAP_MATCHING_RULE_IN_CHAIN` filter (Active Directory).
    InChain,
    /// A breadth-first walk of the groups' `member` attributes with range retrieval.
    Walk,
}

/// One directory (an AD domain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    /// keyward's name for it, e.g. `corp1`.
    pub name: String,
    /// `ldaps://host[:port]` or `ldap://host[:port]` (StartTLS unless `starttls = false`); tried
    /// in order until one answers.
    pub urls: Vec<String>,
    /// PEM file of the CA(s) that signed the domain controllers' certificates; the system roots
    /// when absent.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Use StartTLS on `ldap://` URLs (default true). Turning it off sends binds in clear; password
    /// operations are refused on such connections.
    #[serde(default = "yes")]
    pub starttls: bool,
    /// Accept any server certificate. Dangerous; logs a warning on every connect.
    #[serde(default)]
    pub insecure_skip_tls_verify: bool,
    /// DN (or UPN) of the service account keyward binds as.
    pub bind_dn: String,
    /// File holding the bind password (its first line).
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    /// Environment variable holding the bind password.
    #[serde(default)]
    pub bind_password_env: Option<String>,
    /// `simple` (a password) or `kerberos` (SASL GSSAPI with `keytab_file`, no password).
    #[serde(default)]
    pub bind_method: BindMethod,
    /// With `bind_method = "kerberos"`: the keytab holding the service account's keys.
    #[serde(default)]
    pub keytab_file: Option<PathBuf>,
    /// With `bind_method = "kerberos"`: the principal, `name@REALM`; `bind_dn` when that is a
    /// user principal name.
    #[serde(default)]
    pub kerberos_principal: Option<String>,
    /// With `bind_method = "kerberos"`: the krb5.conf naming the realm's KDCs; the system's
    /// when absent.
    #[serde(default)]
    pub krb5_config: Option<PathBuf>,
    /// With `bind_method = "kerberos"`: where the host of the `ldap/<host>` service principal
    /// comes from.
    #[serde(default)]
    pub kerberos_spn_host: SpnHost,
    /// Where users are searched; the rootDSE's defaultNamingContext when absent.
    #[serde(default)]
    pub base_dn: Option<String>,
    /// The sync group, by name or DN.
    #[serde(default = "default_sync_group")]
    pub sync_group: String,
    /// The password rotation group, by name or DN.
    #[serde(default = "default_rotation_group")]
    pub rotation_group: String,
    /// Entries per page of a paged search (RFC 2696).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Higher wins when directories disagree on a profile field.
    #[serde(default)]
    pub priority: i32,
    /// Seconds to wait for a TCP and TLS connection.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Seconds to wait for one LDAP operation (one page of a search).
    #[serde(default = "default_operation_timeout")]
    pub operation_timeout_secs: u64,
    /// How transitive membership is computed.
    #[serde(default)]
    pub membership: MembershipMethod,
    /// Send an invitation e-mail to each employee a sync of this directory creates.
    #[serde(default)]
    pub invite_new_employees: bool,
    /// How passwords of this directory's accounts are generated and checked (`[directories.password_policy]`).
    #[serde(default)]
    pub password_policy: keyward_password::PasswordPolicy,
    /// Days after which a password keyward committed is rotated again; 0 turns it off.
    #[serde(default = "default_max_password_age")]
    pub max_password_age_days: u32,
}

fn default_max_password_age() -> u32 {
    28
}

fn yes() -> bool {
    true
}
fn default_sync_group() -> String {
    DEFAULT_SYNC_GROUP.into()
}
fn default_rotation_group() -> String {
    DEFAULT_ROTATION_GROUP.into()
}
fn default_page_size() -> u32 {
    500
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_operation_timeout() -> u64 {
    120
}

impl DirectoryConfig {
    /// The name the directory knows the bound account by: the Kerberos principal, or the bind
    /// DN (or UPN) of a simple bind.
    pub fn bind_identity(&self) -> &str {
        match (self.bind_method, crate::kerberos::principal_of(self)) {
            (BindMethod::Kerberos, Some(principal)) => principal,
            _ => &self.bind_dn,
        }
    }

    /// Who the service account binds as, for reports: the bind DN, or the Kerberos principal.
    pub fn bound_as(&self) -> String {
        match (self.bind_method, crate::kerberos::principal_of(self)) {
            (BindMethod::Kerberos, Some(principal)) => format!("{principal} (Kerberos)"),
            _ => self.bind_dn.clone(),
        }
    }

    /// A configuration with defaults for everything but the essentials.
    pub fn new(name: &str, urls: Vec<String>, bind_dn: &str) -> Self {
        Self {
            name: name.into(),
            urls,
            ca_file: None,
            starttls: true,
            insecure_skip_tls_verify: false,
            bind_dn: bind_dn.into(),
            bind_password_file: None,
            bind_password_env: None,
            bind_method: BindMethod::Simple,
            keytab_file: None,
            kerberos_principal: None,
            krb5_config: None,
            kerberos_spn_host: SpnHost::DnsHostName,
            base_dn: None,
            sync_group: default_sync_group(),
            rotation_group: default_rotation_group(),
            page_size: default_page_size(),
            priority: 0,
            connect_timeout_secs: default_connect_timeout(),
            operation_timeout_secs: default_operation_timeout(),
            membership: MembershipMethod::Auto,
            invite_new_employees: false,
            password_policy: keyward_password::PasswordPolicy::default(),
            max_password_age_days: default_max_password_age(),
        }
    }

    /// Checks what can be checked without a network.
    pub fn validate(&self) -> crate::Result<()> {
        let fail = |reason: String| crate::Error::Config {
            directory: self.name.clone(),
            reason,
        };
        keyward_model::DirectoryName::parse(&self.name).map_err(|e| fail(e.to_string()))?;
        if self.urls.is_empty() {
            return Err(fail(
                "urls is empty: give at least one ldaps:// or ldap:// URL".into(),
            ));
        }
        for url in &self.urls {
            if !(url.starts_with("ldaps://") || url.starts_with("ldap://")) {
                return Err(fail(format!(
                    "url {url:?} must start with ldaps:// or ldap://"
                )));
            }
        }
        if self.bind_dn.trim().is_empty() {
            return Err(fail("bind_dn is empty".into()));
        }
        crate::kerberos::validate(self).map_err(fail)?;
        if self.bind_method == BindMethod::Simple
            && self.bind_password_file.is_some() == self.bind_password_env.is_some()
        {
            return Err(fail(
                "give exactly one of bind_password_file and bind_password_env".into(),
            ));
        }
        if !(1..=5000).contains(&self.page_size) {
            return Err(fail("page_size must be 1 to 5000".into()));
        }
        for (key, secs) in [
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("operation_timeout_secs", self.operation_timeout_secs),
        ] {
            if secs == 0 {
                return Err(fail(format!("{key}: timeouts must be at least 1 second")));
            }
            if secs > MAX_DURATION_SECS {
                return Err(fail(format!(
                    "{key} {secs} is more than ten years; at most {MAX_DURATION_SECS} seconds"
                )));
            }
        }
        let max_days = MAX_DURATION_SECS / 86_400;
        if u64::from(self.max_password_age_days) > max_days {
            return Err(fail(format!(
                "max_password_age_days {} is more than ten years; at most {max_days} days",
                self.max_password_age_days
            )));
        }
        self.password_policy
            .check()
            .map_err(|e| fail(format!("password_policy: {e}")))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_problem() {
        let mut c = DirectoryConfig::new("corp1", vec!["ldaps://dc1".into()], "CN=svc");
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("exactly one")
        );
        c.bind_password_env = Some("PW".into());
        assert!(c.validate().is_ok());
        c.urls = vec!["http://dc1".into()];
        assert!(c.validate().unwrap_err().to_string().contains("ldaps://"));
        c.urls = vec![];
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("urls is empty")
        );
    }
}
