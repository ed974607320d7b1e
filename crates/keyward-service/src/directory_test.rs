//! `keyward directory test`: connect, bind, read what the server supports, count each group's
//! users, and check, read-only, what the service account may do on a sample of the rotation
//! group's members and which password policy applies to them. Nothing is written.
//!
//! Problems are what makes a rotation fail (a missing Reset Password right, a policy keyward
//! cannot meet); warnings are what may make one fail or surprise (fine-grained policies the
//! account cannot read, passwords that expire before keyward rotates them).

use futures_util::{StreamExt, pin_mut};
use keyward_directory::security::Access;
use keyward_directory::{
    BoundAccount, DirectoryConfig, DirectoryPasswordPolicy, DomainPolicies, FineGrained,
    PolicyKind, Read, Session, UserQuery,
};

use crate::{Directories, Result};

/// Rotation-group members whose rights and policy a test checks.
pub const RIGHTS_SAMPLE: usize = 20;

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
    /// The service account sees deleted users (tombstones), which incremental runs need to
    /// find deletions; `false` when it lacks the rights or nothing was deleted lately.
    pub sees_deleted_users: bool,
    /// The sync and rotation groups.
    pub groups: Vec<GroupReport>,
    /// The bound account, as the directory knows it.
    pub service_account: ServiceAccountReport,
    /// The domain's password policies.
    pub password_policies: PoliciesReport,
    /// The rights and policy of each sampled rotation-group member.
    pub sampled_members: Vec<MemberReport>,
    /// What will make rotations fail, one line each. `keyward directory test` exits non-zero
    /// when there is any.
    pub problems: Vec<String>,
    /// What may make a rotation fail or surprise, one line each.
    pub warnings: Vec<String>,
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

/// The account keyward binds as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountReport {
    /// Its DN.
    pub dn: String,
    /// Its objectSid.
    pub sid: String,
    /// How many group SIDs its token holds (tokenGroups).
    pub groups: usize,
}

/// The domain's password policies, as the service account reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoliciesReport {
    /// The default policy of the domain.
    pub domain: DirectoryPasswordPolicy,
    /// Every fine-grained policy, or why they cannot be read.
    pub fine_grained: Result<Vec<DirectoryPasswordPolicy>, String>,
}

/// One sampled rotation-group member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberReport {
    /// Its DN.
    pub dn: String,
    /// Reset Password: `granted`, `denied` (an ACE denies it) or `missing`.
    pub reset_password: &'static str,
    /// Write pwdLastSet (part of the usual delegation; keyward's rotation does not need it).
    pub write_pwd_last_set: bool,
    /// The policy that applies to it (its DN), `None` when it cannot be known.
    pub policy: Option<String>,
    /// How long keyward's generated passwords for it are, under the stricter of both policies.
    pub generated_length: Option<u16>,
}

impl Directories<'_> {
    /// Connects, binds, reads what the server supports, counts each group's users and checks
    /// the service account's rights and the password policy on a sample of the rotation group.
    /// Read-only.
    pub async fn test(&self, name: &str) -> Result<DirectoryTestReport> {
        let config = self.config(name)?;
        let client = self.client(name)?;
        let mut session = client.connect().await?;
        let info = session.domain_info(config).await?;
        let in_chain = info.uses_in_chain(config.membership);
        let mut groups = Vec::new();
        let mut sample = Vec::new();
        for (role, configured) in [
            ("sync", &config.sync_group),
            ("rotation", &config.rotation_group),
        ] {
            let (group, scoping) = session.scoping(config, &info, configured).await?;
            let query = UserQuery {
                attributes: vec!["objectGUID".into(), "uSNChanged".into()],
                ..Session::full_query(&info, scoping)
            };
            let keep = if role == "rotation" { RIGHTS_SAMPLE } else { 0 };
            let (users, skipped, dns) = count(&mut session, query, keep).await?;
            sample.extend(dns);
            groups.push(GroupReport {
                role,
                configured: configured.clone(),
                dn: group.dn,
                users,
                skipped,
            });
        }
        let account = session
            .bound_account(&info.base_dn, config.bind_identity())
            .await?;
        let policies = session
            .domain_policies(&info.root.default_naming_context)
            .await?;
        let sees_deleted_users = session.sees_deleted_users(&info).await?;
        let mut checks = Checks {
            no_tombstones: !sees_deleted_users,
            ..Checks::default()
        };
        let mut sampled_members = Vec::new();
        for dn in &sample {
            sampled_members
                .push(member(&mut session, config, &account, &policies, dn, &mut checks).await?);
        }
        let (url, encrypted) = (session.url().to_owned(), session.is_encrypted());
        session.close().await;
        let (problems, warnings) = checks.finish(config, &policies, &sampled_members);
        Ok(DirectoryTestReport {
            name: config.name.clone(),
            url,
            encrypted,
            bound_as: config.bound_as(),
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
            sees_deleted_users,
            groups,
            service_account: ServiceAccountReport {
                dn: account.dn.clone(),
                sid: account.sid.clone(),
                groups: account.group_sids.len(),
            },
            password_policies: PoliciesReport {
                domain: policies.domain.clone(),
                fine_grained: match &policies.fine_grained {
                    FineGrained::Readable(all) => Ok(all.clone()),
                    FineGrained::Unreadable(why) => Err(why.clone()),
                },
            },
            sampled_members,
            problems,
            warnings,
        })
    }
}

/// What the sampled members showed, gathered into problems and warnings.
#[derive(Debug, Default)]
struct Checks {
    no_reset: Vec<String>,
    denied: Vec<(String, String)>,
    unknown_policy: Vec<String>,
    too_long: Vec<String>,
    /// Members whose policy lets passwords expire before keyward rotates them: (DN, days).
    expiring: Vec<(String, u64)>,
    /// The account sees no deleted user.
    no_tombstones: bool,
}

impl Checks {
    fn finish(
        self,
        config: &DirectoryConfig,
        policies: &DomainPolicies,
        members: &[MemberReport],
    ) -> (Vec<String>, Vec<String>) {
        let (mut problems, mut warnings) = (Vec::new(), Vec::new());
        let of = members.len();
        if !self.no_reset.is_empty() {
            problems.push(format!(
                "Reset Password is missing on {} of {of} sampled rotation-group members (first: \
                 {}): keyward cannot rotate their passwords; delegate it to the service account \
                 (docs/operations.md, \"The service account\")",
                self.no_reset.len(),
                self.no_reset[0]
            ));
        }
        for (dn, by) in &self.denied {
            problems.push(format!(
                "Reset Password on {dn} is denied by an access-control entry for {by}; remove \
                 the deny or move the account out of its reach"
            ));
        }
        for dn in &self.too_long {
            problems.push(format!(
                "the password policy of {dn} demands more than the {} characters keyward can \
                 generate",
                keyward_password::MAX_PASSWORD_CHARS
            ));
        }
        if let FineGrained::Unreadable(why) = &policies.fine_grained {
            warnings.push(format!(
                "fine-grained password policies cannot be read: {why}; keyward then cannot make \
                 passwords meet them, and the directory may refuse a rotation"
            ));
        }
        if !self.unknown_policy.is_empty() {
            warnings.push(format!(
                "the password policy of {} sampled member(s) cannot be read (first: {})",
                self.unknown_policy.len(),
                self.unknown_policy[0]
            ));
        }
        if self.no_tombstones {
            warnings.push(
                "the service account sees no deleted users: unless nobody was deleted within \
                 the tombstone lifetime, it lacks List Contents and Read Property on \
                 CN=Deleted Objects, and incremental runs miss deletions until the next full \
                 run (sync.full_interval_secs); grant them (docs/operations.md, \"The service \
                 account\")"
                    .to_owned(),
            );
        }
        if let Some((dn, days)) = self.expiring.first() {
            warnings.push(format!(
                "passwords of {} sampled member(s) expire after {days} days (first: {dn}), \
                 before keyward rotates them (max_password_age_days = {}); set \
                 max_password_age_days below it",
                self.expiring.len(),
                config.max_password_age_days
            ));
        }
        (problems, warnings)
    }
}

/// The rights and policy of one sampled member.
async fn member(
    session: &mut Session,
    config: &DirectoryConfig,
    account: &BoundAccount,
    policies: &DomainPolicies,
    dn: &str,
    checks: &mut Checks,
) -> Result<MemberReport> {
    let rights = session.rights_on(account, dn).await?;
    let reset_password = match &rights.reset_password {
        Access::Granted { .. } => "granted",
        Access::Denied { by } => {
            checks.denied.push((dn.to_owned(), by.clone()));
            "denied"
        }
        Access::Missing => {
            checks.no_reset.push(dn.to_owned());
            "missing"
        }
    };
    let resultant = if crate::directory_policy::has_no_pso(policies) {
        None
    } else {
        session.resultant_pso(dn).await?
    };
    let applying = policies.applying(resultant.as_deref());
    let keyward_max_age = u64::from(config.max_password_age_days) * 86_400;
    if let Some(max) = applying.and_then(|p| p.max_age_secs)
        && config.max_password_age_days > 0
        && max < keyward_max_age
    {
        checks.expiring.push((dn.to_owned(), max / 86_400));
    }
    let generated_length = if let Some(p) = applying {
        if let Ok(effective) = config.password_policy.for_directory(&p.rules()) {
            Some(effective.length)
        } else {
            checks.too_long.push(dn.to_owned());
            None
        }
    } else {
        checks.unknown_policy.push(dn.to_owned());
        None
    };
    Ok(MemberReport {
        dn: dn.to_owned(),
        reset_password,
        write_pwd_last_set: rights.write_pwd_last_set,
        policy: applying.map(|p| match p.kind {
            PolicyKind::Domain => "domain".to_owned(),
            PolicyKind::FineGrained { .. } => p.dn.clone(),
        }),
        generated_length,
    })
}

/// Counts the users of `query`, keeping the DNs of the first `keep`.
async fn count(
    session: &mut Session,
    query: UserQuery,
    keep: usize,
) -> Result<(u64, u64, Vec<String>)> {
    let stream = session.users(query);
    pin_mut!(stream);
    let (mut users, mut skipped, mut dns) = (0, 0, Vec::new());
    while let Some(item) = stream.next().await {
        match item? {
            Read::User(user) => {
                users += 1;
                if dns.len() < keep {
                    dns.push(user.dn.clone());
                }
            }
            Read::Skipped(bad) => {
                tracing::warn!(dn = %bad.dn, reason = %bad.reason, "entry skipped");
                skipped += 1;
            }
        }
    }
    Ok((users, skipped, dns))
}
