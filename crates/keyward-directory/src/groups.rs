//! Groups: finding the sync and rotation groups, and walking nested membership.

use std::collections::{HashSet, VecDeque};

use ldap3::Scope;
use uuid::Uuid;

use crate::{Error, Result, Session, decode};

/// A group found in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its DN.
    pub dn: String,
    /// Its objectGUID.
    pub object_guid: Option<Uuid>,
    /// Its uSNChanged: it moves when its member list changes. A value that cannot be read is
    /// `i64::MAX`, "changed": an incremental run then reads the membership again rather than
    /// take it as unchanged.
    pub usn_changed: i64,
}

impl Session {
    /// Finds a group by DN (anything with `=`) or by name (cn or sAMAccountName) under `base`.
    pub async fn resolve_group(&mut self, base: &str, name_or_dn: &str) -> Result<Group> {
        let attrs = vec!["objectGUID".to_owned(), "uSNChanged".into()];
        let looks_like_dn = name_or_dn.contains('=');
        let found = if looks_like_dn {
            match self
                .search_small(name_or_dn, Scope::Base, "(objectClass=group)", attrs)
                .await
            {
                Err(Error::Search { code: 32, .. }) => Vec::new(),
                other => other?,
            }
        } else {
            let name = ldap3::ldap_escape(name_or_dn);
            let filter = format!("(&(objectClass=group)(|(cn={name})(sAMAccountName={name})))");
            self.search_small(base, Scope::Subtree, &filter, attrs)
                .await?
        };
        match found.len() {
            0 => Err(Error::GroupNotFound {
                group: name_or_dn.to_owned(),
                base: base.to_owned(),
            }),
            1 => {
                let entry = &found[0];
                Ok(Group {
                    dn: entry.dn.clone(),
                    object_guid: entry.bytes("objectGUID").and_then(decode::object_guid),
                    usn_changed: group_usn(entry),
                })
            }
            _ => Err(Error::GroupAmbiguous {
                group: name_or_dn.to_owned(),
                matches: found
                    .iter()
                    .map(|e| e.dn.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
        }
    }

    /// Every value of a group's `member` attribute, following AD's range retrieval
    /// (`member;range=0-1499`, then `member;range=1500-*` …) so that large groups are complete.
    pub async fn group_members(&mut self, group_dn: &str) -> Result<Vec<String>> {
        let mut members = Vec::new();
        let mut start: usize = 0;
        loop {
            let wanted = format!("member;range={start}-*");
            let entries = self
                .search_small(group_dn, Scope::Base, "(objectClass=*)", vec![wanted])
                .await?;
            let Some(entry) = entries.into_iter().next() else {
                return Err(Error::GroupNotFound {
                    group: group_dn.to_owned(),
                    base: group_dn.to_owned(),
                });
            };
            // The server answers with `member` (everything at once) or `member;range=A-B`
            // (more to come) or `member;range=A-*` (the last slice).
            let mut next = None;
            let mut got_any = false;
            for (name, values) in entry.attrs {
                if name == "member" {
                    got_any = true;
                    members.extend(values.into_iter().filter_map(|v| String::from_utf8(v).ok()));
                } else if let Some(range) = name.strip_prefix("member;range=") {
                    got_any = true;
                    let count = values.len();
                    members.extend(values.into_iter().filter_map(|v| String::from_utf8(v).ok()));
                    let end = range.split('-').nth(1).unwrap_or("*");
                    if end != "*" {
                        let end: usize = end.parse().map_err(|_| Error::Search {
                            code: 2,
                            detail: format!("unreadable range {range:?} on {group_dn}"),
                        })?;
                        if count == 0 {
                            return Err(Error::Search {
                                code: 2,
                                detail: format!("empty range {range:?} on {group_dn}"),
                            });
                        }
                        next = Some(end + 1);
                    }
                }
            }
            match next {
                Some(n) if got_any => start = n,
                _ => return Ok(members),
            }
        }
    }

    /// The DNs (lower-cased) of every non-group member of `group`, transitively: a breadth-first
    /// walk over nested groups. For servers without `LDAP_MATCHING_RULE_IN_CHAIN`.
    pub async fn walk_members(&mut self, base: &str, group: &Group) -> Result<HashSet<String>> {
        let groups: HashSet<String> = self
            .search_small(
                base,
                Scope::Subtree,
                "(objectClass=group)",
                vec!["1.1".into()],
            )
            .await?
            .into_iter()
            .map(|e| e.dn.to_ascii_lowercase())
            .collect();
        let mut seen_groups = HashSet::from([group.dn.to_ascii_lowercase()]);
        let mut queue = VecDeque::from([group.dn.clone()]);
        let mut members = HashSet::new();
        while let Some(dn) = queue.pop_front() {
            for member in self.group_members(&dn).await? {
                let key = member.to_ascii_lowercase();
                if groups.contains(&key) {
                    if seen_groups.insert(key) {
                        queue.push_back(member);
                    }
                } else {
                    members.insert(key);
                }
            }
        }
        Ok(members)
    }
}

/// A group's uSNChanged, or `i64::MAX` ("changed since any cursor") when it is missing or
/// unreadable: a group whose changes keyward cannot see must not look unchanged.
pub(crate) fn group_usn(entry: &crate::RawEntry) -> i64 {
    entry
        .text("uSNChanged")
        .and_then(|t| t.parse::<i64>().ok())
        .filter(|v| *v >= 0)
        .unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_usn_that_cannot_be_read_counts_as_changed() {
        let group = |usn: Option<&[u8]>| crate::RawEntry {
            dn: "CN=G,DC=x".into(),
            attrs: usn
                .map(|v| ("usnchanged".to_owned(), vec![v.to_vec()]))
                .into_iter()
                .collect(),
        };
        assert_eq!(group_usn(&group(Some(b"4711"))), 4711);
        for broken in [None, Some(&b"many"[..]), Some(b"-1"), Some(b"\xff")] {
            assert_eq!(group_usn(&group(broken)), i64::MAX, "{broken:?}");
        }
    }
}
