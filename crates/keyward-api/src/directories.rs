//! `/api/v1/directories`: the configured directories (never their passwords) and their test.

use keyward_service::{DirectoryConfig, DirectoryTestReport};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A configured directory (an AD domain).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DirectoryDto {
    /// Its name in the configuration.
    pub name: String,
    /// Its domain controllers, tried in order.
    pub urls: Vec<String>,
    /// The account keyward binds as.
    pub bind_dn: String,
    /// The search base; absent: the domain's default naming context.
    pub base_dn: Option<String>,
    /// The group whose members are synchronized.
    pub sync_group: String,
    /// The group whose members' passwords keyward rotates.
    pub rotation_group: String,
    /// Which directory's attributes win in a merge (lower first).
    pub priority: i32,
}

impl From<&DirectoryConfig> for DirectoryDto {
    fn from(d: &DirectoryConfig) -> Self {
        Self {
            name: d.name.clone(),
            urls: d.urls.clone(),
            bind_dn: d.bind_dn.clone(),
            base_dn: d.base_dn.clone(),
            sync_group: d.sync_group.clone(),
            rotation_group: d.rotation_group.clone(),
            priority: d.priority,
        }
    }
}

/// What a directory test found: the connection, the server's controls and the groups.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DirectoryTestDto {
    /// The directory.
    pub name: String,
    /// The URL that answered.
    pub url: String,
    /// TLS was on (LDAPS or StartTLS).
    pub encrypted: bool,
    /// Who the server says keyward is bound as.
    pub bound_as: String,
    /// The search base used.
    pub base_dn: String,
    /// The domain's NetBIOS name.
    pub netbios_name: Option<String>,
    /// The domain controller's DNS name.
    pub dns_host_name: Option<String>,
    /// The controller's highestCommittedUSN.
    pub highest_committed_usn: Option<i64>,
    /// The controller's invocationId.
    pub invocation_id: Option<String>,
    /// The controls and matching rules the server supports.
    pub supports: DirectorySupportDto,
    /// `in_chain` or `walk`: how keyward computes nested membership.
    pub membership: String,
    /// The sync and rotation groups.
    pub groups: Vec<DirectoryGroupDto>,
}

/// The controls and matching rules of a [`DirectoryTestDto`]: four independent yes/no facts.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DirectorySupportDto {
    /// Paged results (RFC 2696): keyward needs it.
    pub paged_results: bool,
    /// Virtual list view (reported; keyward never needs it).
    pub vlv: bool,
    /// `LDAP_MATCHING_RULE_IN_CHAIN`.
    pub in_chain: bool,
    /// DirSync.
    pub dirsync: bool,
}

/// One configured group of a [`DirectoryTestDto`].
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DirectoryGroupDto {
    /// `sync` or `rotation`.
    pub role: String,
    /// The name or DN as configured.
    pub configured: String,
    /// The DN found.
    pub dn: String,
    /// Users that are transitive members.
    pub users: u64,
    /// Entries that could not be decoded.
    pub skipped: u64,
}

impl From<DirectoryTestReport> for DirectoryTestDto {
    fn from(r: DirectoryTestReport) -> Self {
        Self {
            name: r.name,
            url: r.url,
            encrypted: r.encrypted,
            bound_as: r.bound_as,
            base_dn: r.base_dn,
            netbios_name: r.netbios_name,
            dns_host_name: r.dns_host_name,
            highest_committed_usn: r.highest_committed_usn,
            invocation_id: r.invocation_id,
            supports: DirectorySupportDto {
                paged_results: r.paged_results,
                vlv: r.vlv,
                in_chain: r.in_chain,
                dirsync: r.dirsync,
            },
            membership: r.membership.to_owned(),
            groups: r
                .groups
                .into_iter()
                .map(|g| DirectoryGroupDto {
                    role: g.role.to_owned(),
                    configured: g.configured,
                    dn: g.dn,
                    users: g.users,
                    skipped: g.skipped,
                })
                .collect(),
        }
    }
}
