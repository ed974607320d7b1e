//! The users a run read, kept compactly until their batch is planned.
//!
//! A run must read every user before it plans (the merge needs every account of an e-mail),
//! so the read is buffered. A [`DirectoryUser`] is about a kilobyte in memory; the plan uses
//! only the objectGUID, the DN, the two logon names, the mail, the best display name, whether
//! the account is enabled and its uSNChanged. Those go into one allocation per user, a
//! quarter of the size.

use keyward_identity::{Node, Observed};
use keyward_model::DirectoryUser;
use uuid::Uuid;

use super::report::Skipped;

/// The text fields of a [`SeenUser`], in the order they are stored.
const DN: usize = 0;
const SAM: usize = 1;
const UPN: usize = 2;
const MAIL: usize = 3;
const NAME: usize = 4;
const FIELDS: usize = 5;

/// One user as read, compacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SeenUser {
    object_guid: Uuid,
    usn_changed: i64,
    enabled: bool,
    /// Which optional fields are present (bit i for field i; the DN always is).
    present: u8,
    /// Where each field ends in `text`.
    ends: [u32; FIELDS],
    text: Box<str>,
}

impl SeenUser {
    /// Keeps what the plan needs of `user`; the display name is the one the plan would pick
    /// (displayName, else given name and surname, else sAMAccountName).
    pub(super) fn new(user: &DirectoryUser) -> Self {
        let name = keyward_identity::best_name(user);
        let fields: [Option<&str>; FIELDS] = [
            Some(user.dn.as_str()),
            user.sam_account_name.as_deref(),
            user.user_principal_name.as_deref(),
            user.mail.as_deref(),
            name.as_deref(),
        ];
        let mut text = String::with_capacity(fields.iter().flatten().map(|f| f.len()).sum());
        let mut ends = [0u32; FIELDS];
        let mut present = 0u8;
        for (i, field) in fields.iter().enumerate() {
            if let Some(f) = field {
                text.push_str(f);
                present |= 1 << i;
            }
            ends[i] = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        Self {
            object_guid: user.object_guid,
            usn_changed: user.usn_changed,
            enabled: user.enabled,
            present,
            ends,
            text: text.into_boxed_str(),
        }
    }

    fn field(&self, i: usize) -> Option<&str> {
        if self.present & (1 << i) == 0 {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..self.ends[i] as usize)
    }

    pub(super) fn object_guid(&self) -> Uuid {
        self.object_guid
    }

    pub(super) fn dn(&self) -> &str {
        self.field(DN).unwrap_or_default()
    }

    /// The mail attribute as read (not normalized).
    pub(super) fn mail(&self) -> Option<&str> {
        self.field(MAIL)
    }

    /// The user as the plan sees it.
    pub(super) fn observed(&self, in_rotation_group: bool) -> Observed {
        let owned = |i| self.field(i).map(str::to_owned);
        Observed {
            user: DirectoryUser {
                dn: self.dn().to_owned(),
                object_guid: self.object_guid,
                object_sid: None,
                sam_account_name: owned(SAM),
                user_principal_name: owned(UPN),
                mail: owned(MAIL),
                given_name: None,
                surname: None,
                display_name: owned(NAME),
                phone: None,
                company: None,
                department: None,
                title: None,
                enabled: self.enabled,
                locked_out: false,
                password_never_expires: false,
                when_changed: None,
                pwd_last_set: None,
                usn_changed: self.usn_changed,
            },
            in_rotation_group,
        }
    }
}

/// Everything one read produced.
#[derive(Debug, Default)]
pub(super) struct SeenUsers {
    /// The users, in the order read.
    pub users: Vec<SeenUser>,
    /// Each user's node in the run's partition, once it is built (same order).
    pub nodes: Vec<Node>,
    /// Entries that could not be decoded.
    pub skipped: Vec<Skipped>,
    /// Their DNs, to record each once.
    pub skipped_dns: std::collections::HashSet<String>,
    /// How many users were read (skipped ones not counted).
    pub read: u64,
}

impl SeenUsers {
    /// Records an entry that could not be decoded, once per DN (the membership read and the
    /// read of changes may both meet it).
    pub fn skip(&mut self, bad: keyward_directory::BadEntry) {
        if !self.skipped_dns.insert(bad.dn.clone()) {
            return;
        }
        self.skipped.push(Skipped {
            dn: bad.dn,
            reason: bad.reason,
            object_guid: bad.object_guid,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_identity::{PlanInput, plan};
    use keyward_model::DirectoryName;

    fn user(display: Option<&str>, given: Option<&str>, sam: Option<&str>) -> DirectoryUser {
        DirectoryUser {
            dn: "CN=Ada Lovelace,OU=Staff,DC=corp,DC=test".into(),
            object_guid: Uuid::from_u128(42),
            object_sid: Some("S-1-5-21-1".into()),
            sam_account_name: sam.map(str::to_owned),
            user_principal_name: Some("ada@corp.test".into()),
            mail: Some(" Ada@Example.com".into()),
            given_name: given.map(str::to_owned),
            surname: Some("Lovelace".into()),
            display_name: display.map(str::to_owned),
            phone: Some("+1 555".into()),
            company: None,
            department: Some("R&D".into()),
            title: Some("Analyst".into()),
            enabled: false,
            locked_out: true,
            password_never_expires: true,
            when_changed: None,
            pwd_last_set: None,
            usn_changed: 9001,
        }
    }

    /// The compact user plans exactly as the full one: same accounts, same employees.
    #[test]
    fn a_compacted_user_plans_as_the_user_read() {
        let cases = [
            user(Some("Ada L."), Some("Ada"), Some("ada")),
            user(None, Some("Ada"), Some("ada")),
            user(None, None, Some("ada")),
            user(None, None, None),
            user(Some(""), None, Some("")),
        ];
        for full in cases {
            let compact = SeenUser::new(&full);
            assert_eq!(compact.dn(), full.dn);
            assert_eq!(compact.mail(), full.mail.as_deref());
            let input = |o: Observed| PlanInput {
                directory: DirectoryName::parse("corp").unwrap(),
                observed: vec![o],
                stored_accounts: vec![],
                stored_employees: vec![],
                priorities: std::collections::BTreeMap::new(),
                now: chrono::DateTime::UNIX_EPOCH,
                grace: chrono::Duration::days(7),
            };
            let expected = plan(&input(Observed {
                user: full.clone(),
                in_rotation_group: true,
            }));
            assert_eq!(plan(&input(compact.observed(true))), expected, "{full:?}");
        }
    }

    #[test]
    fn a_compacted_user_is_a_fraction_of_the_user() {
        let full = user(Some("Ada Lovelace"), Some("Ada"), Some("ada"));
        let compact = SeenUser::new(&full);
        assert!(std::mem::size_of::<SeenUser>() < std::mem::size_of::<DirectoryUser>() / 3);
        assert_eq!(compact.text.len(), full.dn.len() + 3 + 13 + 16 + 12);
    }

    #[test]
    fn a_skipped_entry_is_recorded_once_with_its_guid() {
        let mut seen = SeenUsers::default();
        for _ in 0..2 {
            seen.skip(keyward_directory::BadEntry {
                dn: "CN=Broken,DC=corp,DC=test".into(),
                reason: "mail is not UTF-8 text (at byte 3)".into(),
                object_guid: Some(Uuid::from_u128(7)),
            });
        }
        assert_eq!(seen.skipped.len(), 1);
        assert_eq!(seen.skipped[0].object_guid, Some(Uuid::from_u128(7)));
    }
}
