//! Streaming the users in scope: paged, with an explicit attribute list, so that memory stays
//! flat at any directory size.

use std::collections::HashSet;
use std::fmt::Write as _;

use futures_util::Stream;
use keyward_model::DirectoryUser;
use ldap3::Scope;
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::controls::RawControl;
use uuid::Uuid;

use crate::entry::{BadEntry, RawEntry, USER_ATTRIBUTES};
use crate::rootdse::{OID_MATCHING_RULE_IN_CHAIN, OID_SHOW_DELETED};
use crate::{DomainInfo, Error, Group, Result, Session, decode};

/// One item of a user stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// A decoded user.
    User(Box<DirectoryUser>),
    /// An entry that could not be decoded; the stream goes on.
    Skipped(BadEntry),
}

/// How the users in scope are selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scoping {
    /// The server evaluates nesting: `LDAP_MATCHING_RULE_IN_CHAIN` on the group's DN.
    InChain(Group),
    /// Keyward walked the nesting: keep users whose (lower-cased) DN is in the set.
    Members(HashSet<String>),
}

/// What to read.
#[derive(Debug, Clone)]
pub struct UserQuery {
    /// Search base.
    pub base: String,
    /// Which users.
    pub scoping: Scoping,
    /// Only users with uSNChanged above this (incremental reads).
    pub changed_after_usn: Option<i64>,
    /// Attributes to read; [`USER_ATTRIBUTES`] for full reads. objectGUID and uSNChanged must be
    /// among them.
    pub attributes: Vec<String>,
    /// Use RFC 2696 paging (false only for servers without it: then a size limit is an error).
    pub paged: bool,
    /// One more LDAP filter component, joined to the others with AND.
    pub extra_filter: Option<String>,
}

impl UserQuery {
    /// Every attribute keyward keeps.
    pub fn all_attributes() -> Vec<String> {
        USER_ATTRIBUTES.iter().map(|a| (*a).to_owned()).collect()
    }

    fn filter(&self) -> String {
        let mut filter = String::from("(&(objectCategory=person)(objectClass=user)");
        if let Scoping::InChain(group) = &self.scoping {
            let _ = write!(
                filter,
                "(memberOf:{OID_MATCHING_RULE_IN_CHAIN}:={})",
                ldap3::ldap_escape(&group.dn)
            );
        }
        if let Some(usn) = self.changed_after_usn {
            let _ = write!(filter, "(uSNChanged>={})", usn.saturating_add(1));
        }
        if let Some(extra) = &self.extra_filter {
            filter.push_str(extra);
        }
        filter.push(')');
        filter
    }
}

impl Session {
    /// Streams the users `query` selects. Any search error ends the stream with an error, and
    /// the caller must treat everything it read as void: a short result never looks complete.
    /// Entries that cannot be decoded arrive as [`Read::Skipped`] and the stream goes on.
    pub fn users<'a>(&'a mut self, query: UserQuery) -> impl Stream<Item = Result<Read>> + 'a {
        async_stream::try_stream! {
            let filter = query.filter();
            let mut adapters: Vec<Box<dyn Adapter<'a, String, Vec<String>>>> =
                vec![Box::new(EntriesOnly::new())];
            if query.paged {
                let page = i32::try_from(self.page_size).unwrap_or(500);
                adapters.push(Box::new(PagedResults::new(page)));
            }
            let timeout = self.operation_timeout;
            let mut stream = self
                .ldap
                .with_timeout(timeout)
                .streaming_search_with(adapters, &query.base, Scope::Subtree, &filter, query.attributes.clone())
                .await?;
            while let Some(entry) = stream.next().await? {
                match RawEntry::from_result(entry) {
                    Err(bad) => yield Read::Skipped(bad),
                    Ok(raw) => {
                        if let Scoping::Members(members) = &query.scoping
                            && !members.contains(&raw.dn.to_ascii_lowercase())
                        {
                            continue;
                        }
                        match raw.into_user() {
                            Ok(user) => yield Read::User(Box::new(user)),
                            Err(bad) => yield Read::Skipped(bad),
                        }
                    }
                }
            }
            let result = stream.finish().await;
            if result.rc != 0 {
                Err(Error::Search {
                    code: result.rc,
                    detail: crate::error::one_line(&result.text),
                })?;
            }
        }
    }
}

impl Session {
    /// The objectGUIDs of users that may have left the scope of `group` under `info.base_dn`
    /// since `after_usn` with no group of its tree changing, so that an incremental read (users
    /// under the base with uSNChanged above the cursor, membership re-read only when a group
    /// changed) would miss them: AD changes neither a group's uSNChanged nor the user's entry
    /// under the base when a member is deleted or moved out of the base.
    ///
    /// These are the users deleted since (their tombstones, read from the domain's naming
    /// context with the Show Deleted control) and, when the base is below the naming context,
    /// the group's transitive members changed since anywhere in the domain (some may now be
    /// outside the base). The answer is a superset: the caller reads the changes in scope after
    /// this call and keeps only what that read did not find in scope.
    pub async fn changed_outside_base(
        &mut self,
        info: &DomainInfo,
        group: &Group,
        after_usn: i64,
    ) -> Result<HashSet<Uuid>> {
        let since = after_usn.saturating_add(1);
        let naming_context = info.root.default_naming_context.clone();
        let paged = info.root.supports_paged_results();
        let mut out = self
            .changed_guids(
                &naming_context,
                &format!(
                    "(&(isDeleted=TRUE)(objectClass=user)(!(objectClass=computer))(uSNChanged>={since}))"
                ),
                true,
                paged,
            )
            .await?;
        if !info.base_dn.eq_ignore_ascii_case(&naming_context) {
            let moved = self
                .changed_guids(
                    &naming_context,
                    &format!(
                        "(&(objectCategory=person)(objectClass=user)(memberOf:{OID_MATCHING_RULE_IN_CHAIN}:={})(uSNChanged>={since}))",
                        ldap3::ldap_escape(&group.dn)
                    ),
                    false,
                    paged,
                )
                .await?;
            out.extend(moved);
        }
        Ok(out)
    }

    /// Whether the bound account sees any deleted user (a tombstone under the naming context,
    /// read with the Show Deleted control). Incremental runs find deletions through these, and
    /// Active Directory shows them only to accounts with List Contents and Read Property on
    /// `CN=Deleted Objects` (administrators by default). `false` means either nothing was
    /// deleted within the tombstone lifetime or the account lacks those rights.
    pub async fn sees_deleted_users(&mut self, info: &DomainInfo) -> Result<bool> {
        let timeout = self.operation_timeout;
        let ldap = self.ldap.with_timeout(timeout);
        ldap.with_search_options(ldap3::SearchOptions::new().sizelimit(1));
        ldap.with_controls(RawControl {
            ctype: OID_SHOW_DELETED.to_owned(),
            crit: true,
            val: None,
        });
        let ldap3::SearchResult(entries, result) = ldap
            .search(
                &info.root.default_naming_context,
                Scope::Subtree,
                "(&(isDeleted=TRUE)(objectClass=user)(!(objectClass=computer)))",
                vec!["1.1"],
            )
            .await?;
        // 4: sizeLimitExceeded, there are more than the one asked for.
        if result.rc != 0 && result.rc != 4 {
            return Err(Error::Search {
                code: result.rc,
                detail: crate::error::one_line(&result.text),
            });
        }
        Ok(!entries.is_empty())
    }

    /// The objectGUIDs of the entries under `base` that `filter` selects, paged when the server
    /// pages; with `show_deleted`, tombstones too.
    async fn changed_guids(
        &mut self,
        base: &str,
        filter: &str,
        show_deleted: bool,
        paged: bool,
    ) -> Result<HashSet<Uuid>> {
        let mut adapters: Vec<Box<dyn Adapter<'_, String, Vec<String>>>> =
            vec![Box::new(EntriesOnly::new())];
        if paged {
            let page = i32::try_from(self.page_size).unwrap_or(500);
            adapters.push(Box::new(PagedResults::new(page)));
        }
        let timeout = self.operation_timeout;
        let ldap = self.ldap.with_timeout(timeout);
        if show_deleted {
            ldap.with_controls(RawControl {
                ctype: OID_SHOW_DELETED.to_owned(),
                crit: true,
                val: None,
            });
        }
        let mut stream = ldap
            .streaming_search_with(
                adapters,
                base,
                Scope::Subtree,
                filter,
                vec!["objectGUID".to_owned()],
            )
            .await?;
        let mut out = HashSet::new();
        while let Some(entry) = stream.next().await? {
            if let Ok(raw) = RawEntry::from_result(entry)
                && let Some(guid) = raw.bytes("objectGUID").and_then(decode::object_guid)
            {
                out.insert(guid);
            }
        }
        let result = stream.finish().await;
        if result.rc != 0 {
            return Err(Error::Search {
                code: result.rc,
                detail: crate::error::one_line(&result.text),
            });
        }
        Ok(out)
    }
}
