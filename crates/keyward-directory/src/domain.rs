//! Facts about a domain that every read needs: its rootDSE, base DN, NetBIOS name, the
//! domain controller's identity, and how to select the users of a group.

use uuid::Uuid;

use crate::config::MembershipMethod;
use crate::users::{Scoping, UserQuery};
use crate::{DirectoryConfig, Group, Result, RootDse, Session};

/// What a session learned about the domain it is connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainInfo {
    /// The rootDSE.
    pub root: RootDse,
    /// The search base: configured, or the defaultNamingContext.
    pub base_dn: String,
    /// The NetBIOS name, when the directory has one.
    pub netbios_name: Option<String>,
    /// The answering DC's invocationId (AD only).
    pub invocation_id: Option<Uuid>,
    /// Days a deleted object stays visible to a Show Deleted search (AD only; see
    /// `Session::deleted_object_lifetime_days`): an incremental run whose cursor is older
    /// cannot see every deletion since.
    pub deleted_object_lifetime_days: Option<u32>,
}

impl DomainInfo {
    /// Whether nested membership is evaluated by the server.
    pub fn uses_in_chain(&self, method: MembershipMethod) -> bool {
        match method {
            MembershipMethod::InChain => true,
            MembershipMethod::Walk => false,
            MembershipMethod::Auto => self.root.is_active_directory(),
        }
    }
}

impl Session {
    /// Reads the rootDSE, the NetBIOS name and the DC's invocationId.
    pub async fn domain_info(&mut self, config: &DirectoryConfig) -> Result<DomainInfo> {
        let root = self.root_dse().await?;
        let base_dn = config
            .base_dn
            .clone()
            .unwrap_or_else(|| root.default_naming_context.clone());
        let netbios_name = self.netbios_name(&root).await?;
        let invocation_id = self.invocation_id(&root).await?;
        let deleted_object_lifetime_days = self.deleted_object_lifetime_days(&root).await?;
        Ok(DomainInfo {
            root,
            base_dn,
            netbios_name,
            invocation_id,
            deleted_object_lifetime_days,
        })
    }

    /// The group named `group` and how to select its transitive user members.
    pub async fn scoping(
        &mut self,
        config: &DirectoryConfig,
        info: &DomainInfo,
        group: &str,
    ) -> Result<(Group, Scoping)> {
        let group = self.resolve_group(&info.base_dn, group).await?;
        let scoping = if info.uses_in_chain(config.membership) {
            Scoping::InChain(group.clone())
        } else {
            Scoping::Members(self.walk_members(&info.base_dn, &group).await?)
        };
        Ok((group, scoping))
    }

    /// The highest uSNChanged of `group` and every group nested in it: when it has not moved,
    /// the transitive membership has not changed (AD only: uses `LDAP_MATCHING_RULE_IN_CHAIN`).
    /// A nested group whose uSNChanged cannot be read counts as changed (`i64::MAX`).
    pub async fn group_tree_usn(&mut self, info: &DomainInfo, group: &Group) -> Result<i64> {
        let filter = format!(
            "(&(objectClass=group)(memberOf:{}:={}))",
            crate::rootdse::OID_MATCHING_RULE_IN_CHAIN,
            ldap3::ldap_escape(&group.dn)
        );
        let nested = self
            .search_small(
                &info.base_dn,
                ldap3::Scope::Subtree,
                &filter,
                vec!["uSNChanged".into()],
            )
            .await?;
        Ok(nested
            .iter()
            .map(crate::groups::group_usn)
            .fold(group.usn_changed, i64::max))
    }

    /// A query for every user in `scoping`, with every attribute keyward keeps.
    pub fn full_query(info: &DomainInfo, scoping: Scoping) -> UserQuery {
        UserQuery {
            base: info.base_dn.clone(),
            scoping,
            changed_after_usn: None,
            attributes: UserQuery::all_attributes(),
            paged: paging(info),
            extra_filter: None,
        }
    }
}

impl Session {
    /// The objectGUIDs of every user in `scoping` (two attributes per entry: cheap next to a
    /// full read), and the entries in scope that could not be decoded: those are members too,
    /// and a skipped entry whose objectGUID was readable is counted among the objectGUIDs. Any
    /// search error fails the whole answer.
    pub async fn member_guids(
        &mut self,
        info: &DomainInfo,
        scoping: Scoping,
    ) -> Result<(std::collections::HashSet<Uuid>, Vec<crate::BadEntry>)> {
        use futures_util::{StreamExt, pin_mut};
        let query = UserQuery {
            attributes: vec!["objectGUID".into(), "uSNChanged".into()],
            ..Self::full_query(info, scoping)
        };
        let stream = self.users(query);
        pin_mut!(stream);
        let mut out = std::collections::HashSet::new();
        let mut skipped = Vec::new();
        while let Some(item) = stream.next().await {
            match item? {
                crate::Read::User(user) => {
                    out.insert(user.object_guid);
                }
                crate::Read::Skipped(bad) => {
                    out.extend(bad.object_guid);
                    skipped.push(bad);
                }
            }
        }
        Ok((out, skipped))
    }

    /// A query for the users in `scoping` with one of these objectGUIDs, every attribute
    /// keyward keeps. Keep `guids` short (some servers limit a filter's size): call once per
    /// [`GUIDS_PER_QUERY`] of them.
    pub fn users_by_guid_query(info: &DomainInfo, scoping: Scoping, guids: &[Uuid]) -> UserQuery {
        let filter = format!(
            "(|{})",
            guids
                .iter()
                .map(|g| crate::decode::guid_filter(*g))
                .collect::<String>()
        );
        UserQuery {
            extra_filter: Some(filter),
            ..Self::full_query(info, scoping)
        }
    }
}

/// objectGUIDs per [`Session::users_by_guid_query`].
pub const GUIDS_PER_QUERY: usize = 50;

/// Paged results when the server has them. Without them a plain search is still correct: the
/// server either returns everything or fails with sizeLimitExceeded, which is an error for the
/// whole read.
fn paging(info: &DomainInfo) -> bool {
    if info.root.supports_paged_results() {
        true
    } else {
        tracing::warn!(
            "the directory does not support paged results; reading in one search (a size limit will fail the read, never shorten it)"
        );
        false
    }
}
