//! `/api/v1/directories`: the configured directories (never their passwords) and their test.

use keyward_service::{DirectoryConfig, DirectoryPasswordPolicy, DirectoryTestReport, PolicyKind};
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
    /// The account keyward is bound as, as the directory knows it.
    pub service_account: ServiceAccountDto,
    /// The domain's password policies.
    pub password_policies: PasswordPoliciesDto,
    /// The rights and password policy of a sample of the rotation group's members.
    pub sampled_members: Vec<SampledMemberDto>,
    /// What will make rotations fail, one line each (the CLI exits 8 when there is any).
    pub problems: Vec<String>,
    /// What may make a rotation fail or surprise, one line each.
    pub warnings: Vec<String>,
}

/// The bound account of a [`DirectoryTestDto`].
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceAccountDto {
    /// Its DN.
    pub dn: String,
    /// Its objectSid.
    pub sid: String,
    /// Group SIDs in its token.
    pub groups: usize,
    /// It sees deleted users (tombstones), which incremental runs need to find deletions.
    pub sees_deleted_users: bool,
}

/// The password policies of a [`DirectoryTestDto`].
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasswordPoliciesDto {
    /// The domain's default policy.
    pub domain: PasswordPolicyDto,
    /// The fine-grained policies (PSOs); absent when they cannot be read.
    pub fine_grained: Option<Vec<PasswordPolicyDto>>,
    /// Why the fine-grained policies cannot be read.
    pub fine_grained_unreadable: Option<String>,
}

/// One password policy of the directory.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasswordPolicyDto {
    /// The domain object's DN, or the PSO's.
    pub dn: String,
    /// PSO precedence (lowest wins); absent for the domain policy.
    pub precedence: Option<u32>,
    /// Minimum length.
    pub min_length: u32,
    /// Complexity required.
    pub complexity: bool,
    /// Passwords remembered.
    pub history_length: u32,
    /// Minimum age, seconds.
    pub min_age_secs: u64,
    /// Maximum age, seconds; absent: never expires.
    pub max_age_secs: Option<u64>,
    /// Wrong passwords before a lockout; 0: never.
    pub lockout_threshold: u32,
}

impl From<&DirectoryPasswordPolicy> for PasswordPolicyDto {
    fn from(p: &DirectoryPasswordPolicy) -> Self {
        Self {
            dn: p.dn.clone(),
            precedence: match p.kind {
                PolicyKind::Domain => None,
                PolicyKind::FineGrained { precedence } => Some(precedence),
            },
            min_length: p.min_length,
            complexity: p.complexity,
            history_length: p.history_length,
            min_age_secs: p.min_age_secs,
            max_age_secs: p.max_age_secs,
            lockout_threshold: p.lockout_threshold,
        }
    }
}

/// One sampled rotation-group member of a [`DirectoryTestDto`].
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SampledMemberDto {
    /// Its DN.
    pub dn: String,
    /// Reset Password: `granted`, `denied` or `missing`.
    pub reset_password: String,
    /// Write pwdLastSet (part of the usual delegation; rotation does not need it).
    pub write_pwd_last_set: bool,
    /// `domain`, or the DN of the fine-grained policy that applies; absent when unknown.
    pub policy: Option<String>,
    /// The length of passwords keyward generates for it.
    pub generated_length: Option<u16>,
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
            service_account: ServiceAccountDto {
                dn: r.service_account.dn,
                sid: r.service_account.sid,
                groups: r.service_account.groups,
                sees_deleted_users: r.sees_deleted_users,
            },
            password_policies: PasswordPoliciesDto {
                domain: (&r.password_policies.domain).into(),
                fine_grained: r
                    .password_policies
                    .fine_grained
                    .as_ref()
                    .ok()
                    .map(|all| all.iter().map(Into::into).collect()),
                fine_grained_unreadable: r.password_policies.fine_grained.err(),
            },
            sampled_members: r
                .sampled_members
                .into_iter()
                .map(|m| SampledMemberDto {
                    dn: m.dn,
                    reset_password: m.reset_password.to_owned(),
                    write_pwd_last_set: m.write_pwd_last_set,
                    policy: m.policy,
                    generated_length: m.generated_length,
                })
                .collect(),
            problems: r.problems,
            warnings: r.warnings,
        }
    }
}
