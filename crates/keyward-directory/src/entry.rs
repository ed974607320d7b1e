//! Search entries decoded without panics, and the decoding of a user entry into a
//! [`DirectoryUser`]. A malformed entry is a [`BadEntry`] carrying its DN, never a panic.

use std::collections::HashMap;

use keyward_model::DirectoryUser;
use ldap3::ResultEntry;

use crate::decode;

/// The attributes read for every user, in one place so that every search asks for the same.
pub const USER_ATTRIBUTES: &[&str] = &[
    "objectGUID",
    "objectSid",
    "sAMAccountName",
    "userPrincipalName",
    "mail",
    "givenName",
    "sn",
    "displayName",
    "telephoneNumber",
    "company",
    "department",
    "title",
    "userAccountControl",
    "lockoutTime",
    "whenChanged",
    "pwdLastSet",
    "uSNChanged",
];

/// One entry: DN and attribute values as bytes, keyed by lower-cased attribute name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// Distinguished name.
    pub dn: String,
    /// Values by lower-cased attribute description (options such as `;range=` kept).
    pub attrs: HashMap<String, Vec<Vec<u8>>>,
}

/// An entry that could not be decoded, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEntry {
    /// The DN, or `(unknown DN)` when even that was unreadable.
    pub dn: String,
    /// What was wrong.
    pub reason: String,
}

impl RawEntry {
    /// Parses an entry of a search result.
    pub fn from_result(entry: ResultEntry) -> Result<Self, BadEntry> {
        let bad = |dn: &str, reason: &str| BadEntry {
            dn: dn.to_owned(),
            reason: reason.to_owned(),
        };
        let mut parts = entry
            .0
            .match_id(4)
            .and_then(ldap3::asn1::StructureTag::expect_constructed)
            .ok_or_else(|| bad("(unknown DN)", "not a search result entry"))?
            .into_iter();
        let dn = parts
            .next()
            .and_then(ldap3::asn1::StructureTag::expect_primitive)
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| bad("(unknown DN)", "the DN is missing or not UTF-8"))?;
        let attributes = parts
            .next()
            .and_then(ldap3::asn1::StructureTag::expect_constructed)
            .ok_or_else(|| bad(&dn, "the attribute list is malformed"))?;
        let mut attrs = HashMap::new();
        for attribute in attributes {
            let mut pair = attribute
                .expect_constructed()
                .ok_or_else(|| bad(&dn, "an attribute is malformed"))?
                .into_iter();
            let name = pair
                .next()
                .and_then(ldap3::asn1::StructureTag::expect_primitive)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| bad(&dn, "an attribute name is malformed"))?;
            let values = pair
                .next()
                .and_then(ldap3::asn1::StructureTag::expect_constructed)
                .ok_or_else(|| bad(&dn, "attribute values are malformed"))?
                .into_iter()
                .map(ldap3::asn1::StructureTag::expect_primitive)
                .collect::<Option<Vec<Vec<u8>>>>()
                .ok_or_else(|| bad(&dn, "an attribute value is malformed"))?;
            attrs.insert(name.to_ascii_lowercase(), values);
        }
        Ok(Self { dn, attrs })
    }

    /// The first value of `name` as UTF-8 text, trimmed; `None` when absent or empty.
    pub fn text(&self, name: &str) -> Option<String> {
        let value = self.attrs.get(&name.to_ascii_lowercase())?.first()?;
        let text = std::str::from_utf8(value).ok()?.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// Every value of `name` as UTF-8 text.
    pub fn texts(&self, name: &str) -> Vec<String> {
        self.attrs
            .get(&name.to_ascii_lowercase())
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| std::str::from_utf8(v).ok().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first value of `name` as bytes.
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.attrs
            .get(&name.to_ascii_lowercase())?
            .first()
            .map(Vec::as_slice)
    }

    /// Decodes a user entry. objectGUID and uSNChanged are required; a present but malformed
    /// value is an error rather than a silent default.
    pub fn into_user(self) -> Result<DirectoryUser, BadEntry> {
        let bad = |reason: String| BadEntry {
            dn: self.dn.clone(),
            reason,
        };
        let object_guid = match self.bytes("objectGUID") {
            None => return Err(bad("objectGUID is missing".into())),
            Some(b) => decode::object_guid(b)
                .ok_or_else(|| bad(format!("objectGUID has {} bytes, not 16", b.len())))?,
        };
        let object_sid = match self.bytes("objectSid") {
            None => None,
            Some(b) => {
                Some(decode::object_sid(b).ok_or_else(|| bad("objectSid is malformed".into()))?)
            }
        };
        let uac: u32 = match self.text("userAccountControl") {
            None => 0,
            Some(t) => t
                .parse::<i64>()
                .ok()
                .and_then(|v| u32::try_from(v & 0xFFFF_FFFF).ok())
                .ok_or_else(|| bad(format!("userAccountControl {t:?} is not a number")))?,
        };
        let usn_changed = self
            .text("uSNChanged")
            .ok_or_else(|| bad("uSNChanged is missing".into()))?
            .parse::<i64>()
            .map_err(|_| bad("uSNChanged is not a number".into()))?;
        let locked_out = self
            .text("lockoutTime")
            .is_some_and(|t| t.parse::<i64>().is_ok_and(|v| v > 0));
        Ok(DirectoryUser {
            object_guid,
            object_sid,
            sam_account_name: self.text("sAMAccountName"),
            user_principal_name: self.text("userPrincipalName"),
            mail: self.text("mail"),
            given_name: self.text("givenName"),
            surname: self.text("sn"),
            display_name: self.text("displayName"),
            phone: self.text("telephoneNumber"),
            company: self.text("company"),
            department: self.text("department"),
            title: self.text("title"),
            enabled: uac & decode::UAC_ACCOUNTDISABLE == 0,
            locked_out,
            password_never_expires: uac & decode::UAC_DONT_EXPIRE_PASSWORD != 0,
            when_changed: self
                .text("whenChanged")
                .as_deref()
                .and_then(decode::generalized_time),
            pwd_last_set: self
                .text("pwdLastSet")
                .as_deref()
                .and_then(decode::filetime),
            usn_changed,
            dn: self.dn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pairs: &[(&str, &[u8])]) -> RawEntry {
        let mut attrs: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
        for (k, v) in pairs {
            attrs
                .entry(k.to_ascii_lowercase())
                .or_default()
                .push(v.to_vec());
        }
        RawEntry {
            dn: "CN=Ada,OU=X,DC=corp,DC=test".into(),
            attrs,
        }
    }

    const GUID: &[u8] = &[4, 3, 2, 1, 6, 5, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16];

    #[test]
    fn decodes_a_user() {
        let user = entry(&[
            ("objectGUID", GUID),
            ("sAMAccountName", b"ada"),
            ("mail", b" Ada@Example.com "),
            ("userAccountControl", b"66050"),
            ("uSNChanged", b"4711"),
            ("pwdLastSet", b"0"),
            ("whenChanged", b"20261125083000.0Z"),
        ])
        .into_user()
        .unwrap();
        assert_eq!(
            user.object_guid.to_string(),
            "01020304-0506-0708-090a-0b0c0d0e0f10"
        );
        assert_eq!(user.mail.as_deref(), Some("Ada@Example.com"));
        assert!(!user.enabled, "66050 = 0x10202 has ACCOUNTDISABLE");
        assert!(user.password_never_expires);
        assert_eq!(user.usn_changed, 4711);
        assert!(
            user.pwd_last_set.is_none(),
            "0 means must change at next logon"
        );
        assert!(user.when_changed.is_some());
        assert!(user.display_name.is_none());
    }

    #[test]
    fn bad_entries_carry_their_dn() {
        let missing = entry(&[("uSNChanged", b"1")]).into_user().unwrap_err();
        assert_eq!(missing.dn, "CN=Ada,OU=X,DC=corp,DC=test");
        assert!(missing.reason.contains("objectGUID"));
        let short = entry(&[("objectGUID", b"abc"), ("uSNChanged", b"1")])
            .into_user()
            .unwrap_err();
        assert!(short.reason.contains("3 bytes"));
        let uac = entry(&[
            ("objectGUID", GUID),
            ("uSNChanged", b"1"),
            ("userAccountControl", b"x"),
        ])
        .into_user()
        .unwrap_err();
        assert!(uac.reason.contains("userAccountControl"));
        let usn = entry(&[("objectGUID", GUID)]).into_user().unwrap_err();
        assert!(usn.reason.contains("uSNChanged"));
    }
}
