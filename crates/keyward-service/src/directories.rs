//! Configured directories: opening clients with their bind passwords, and the connection test
//! behind `keyward directory test`.

use futures_util::{StreamExt, pin_mut};
use keyward_directory::{DirectoryClient, DirectoryConfig, Read, Session, UserQuery};
use keyward_password::SecretString;

use crate::{Error, Result, Settings};

/// Directory operations.
#[derive(Debug, Clone, Copy)]
pub struct Directories<'a> {
    settings: &'a Settings,
}

/// What `keyward directory test` found.
// A report of yes/no facts about the server; an enum per flag would say less.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryTestReport {
    /// Directory name.
    pub name: String,
    /// The URL that answered.
    pub url: String,
    /// Over ldaps:// or StartTLS.
    pub encrypted: bool,
    /// The bind DN used.
    pub bound_as: String,
    /// Search base.
    pub base_dn: String,
    /// NetBIOS name.
    pub netbios_name: Option<String>,
    /// The DC's host name.
    pub dns_host_name: Option<String>,
    /// The DC's highestCommittedUSN.
    pub highest_committed_usn: Option<i64>,
    /// The DC's invocationId.
    pub invocation_id: Option<String>,
    /// RFC 2696 paged results.
    pub paged_results: bool,
    /// Virtual list view (reported; keyward never needs it).
    pub vlv: bool,
    /// `LDAP_MATCHING_RULE_IN_CHAIN` (Active Directory).
    pub in_chain: bool,
    /// DirSync.
    pub dirsync: bool,
    /// `in_chain` or `walk`: how keyward will compute nested membership.
    pub membership: &'static str,
    /// The sync and rotation groups.
    pub groups: Vec<GroupReport>,
}

/// One configured group in a [`DirectoryTestReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReport {
    /// `sync` or `rotation`.
    pub role: &'static str,
    /// The name or DN as configured.
    pub configured: String,
    /// The DN found.
    pub dn: String,
    /// Users that are transitive members.
    pub users: u64,
    /// Entries that could not be decoded.
    pub skipped: u64,
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

    /// A client for `name`, with its bind password read from its file or variable.
    pub fn client(&self, name: &str) -> Result<DirectoryClient> {
        let config = self.config(name)?;
        let password = bind_password(config)?;
        Ok(DirectoryClient::new(config.clone(), password)?)
    }

    /// Connects, binds, reads what the server supports and counts each group's users.
    pub async fn test(&self, name: &str) -> Result<DirectoryTestReport> {
        let config = self.config(name)?;
        let client = self.client(name)?;
        let mut session = client.connect().await?;
        let info = session.domain_info(config).await?;
        let in_chain = info.uses_in_chain(config.membership);
        let mut groups = Vec::new();
        for (role, configured) in [
            ("sync", &config.sync_group),
            ("rotation", &config.rotation_group),
        ] {
            let (group, scoping) = session.scoping(config, &info, configured).await?;
            let query = UserQuery {
                attributes: vec!["objectGUID".into(), "uSNChanged".into()],
                ..Session::full_query(&info, scoping)
            };
            let (users, skipped) = count(&mut session, query).await?;
            groups.push(GroupReport {
                role,
                configured: configured.clone(),
                dn: group.dn,
                users,
                skipped,
            });
        }
        let report = DirectoryTestReport {
            name: config.name.clone(),
            url: session.url().to_owned(),
            encrypted: session.is_encrypted(),
            bound_as: config.bind_dn.clone(),
            base_dn: info.base_dn.clone(),
            netbios_name: info.netbios_name.clone(),
            dns_host_name: info.root.dns_host_name.clone(),
            highest_committed_usn: info.root.highest_committed_usn,
            invocation_id: info.invocation_id.map(|u| u.to_string()),
            paged_results: info.root.supports_paged_results(),
            vlv: info.root.supports_vlv(),
            in_chain: info.root.is_active_directory(),
            dirsync: info.root.supports_dirsync(),
            membership: if in_chain { "in_chain" } else { "walk" },
            groups,
        };
        session.close().await;
        Ok(report)
    }
}

async fn count(session: &mut Session, query: UserQuery) -> Result<(u64, u64)> {
    let stream = session.users(query);
    pin_mut!(stream);
    let (mut users, mut skipped) = (0, 0);
    while let Some(item) = stream.next().await {
        match item? {
            Read::User(_) => users += 1,
            Read::Skipped(bad) => {
                tracing::warn!(dn = %bad.dn, reason = %bad.reason, "entry skipped");
                skipped += 1;
            }
        }
    }
    Ok((users, skipped))
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
