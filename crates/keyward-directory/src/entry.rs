//! Search entries decoded without panics, and the decoding of a user entry into a
//! [`DirectoryUser`]. A malformed entry is a [`BadEntry`] carrying its DN, never a panic.
//!
//! On hostile input (a directory, a proxy or an LDIF file that sends anything) the decoding of a
//! user guarantees: every attribute keyward reads has at most one value (they are all
//! single-valued in Active Directory's schema); a text value is UTF-8, holds no NUL (which
//! PostgreSQL cannot store) and is at most [`MAX_TEXT_VALUE_BYTES`]; objectGUID is present and
//! 16 bytes; uSNChanged, userAccountControl, lockoutTime and pwdLastSet are decimal numbers in
//! range and whenChanged is a generalized time. An entry that breaks any of these is a
//! [`BadEntry`] whose reason names the attribute (and never quotes a long value), never a user
//! with that attribute silently defaulted: a mail that is not UTF-8 is not "no mail", a
//! userAccountControl that is not a number is not "enabled". A bad entry carries its objectGUID
//! when that one could be read, so that the sync keeps its account as stored.

use std::collections::HashMap;

use keyward_model::DirectoryUser;
use ldap3::ResultEntry;
use uuid::Uuid;

use crate::decode;

/// The largest text value of a user attribute keyward keeps, in bytes. Active Directory's schema
/// allows at most 1,024 characters for any of them (userPrincipalName; displayName and mail
/// 256), which UTF-8 holds in 4,096 bytes.
pub const MAX_TEXT_VALUE_BYTES: usize = 4096;

/// The longest DN keyward accepts, in bytes: far above any real directory tree.
pub const MAX_DN_BYTES: usize = 16 * 1024;

/// At most this many characters of a DN or value are quoted in a [`BadEntry`]'s fields.
const SHOWN_CHARS: usize = 200;

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
    /// The DN (at most 200 characters of it, then `…`), or `(unknown DN)` when even that was
    /// unreadable.
    pub dn: String,
    /// What was wrong: names the attribute, never quotes more than a short value.
    pub reason: String,
    /// The entry's objectGUID, when it has exactly one value of 16 bytes: the sync keeps the
    /// stored account of such an entry as it was rather than take it for one that left scope.
    pub object_guid: Option<Uuid>,
}

impl BadEntry {
    fn new(dn: &str, reason: impl Into<String>, object_guid: Option<Uuid>) -> Self {
        Self {
            dn: shown(dn),
            reason: reason.into(),
            object_guid,
        }
    }
}

/// `text` for a message: at most [`SHOWN_CHARS`] characters, then `…`.
pub(crate) fn shown(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// A short value quoted in a reason, or its size when it is long.
fn quoted(value: &str) -> String {
    if value.chars().count() <= 32 {
        format!("{value:?}")
    } else {
        format!("({} bytes)", value.len())
    }
}

impl RawEntry {
    /// Parses an entry of a search result. An attribute that appears twice (in any case) is
    /// refused rather than one of its value lists dropped.
    pub fn from_result(entry: ResultEntry) -> Result<Self, BadEntry> {
        let bad = |dn: &str, reason: &str| BadEntry::new(dn, reason, None);
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
            if attrs.insert(name.to_ascii_lowercase(), values).is_some() {
                let object_guid = attrs.get("objectguid").and_then(|v| match v.as_slice() {
                    [one] => decode::object_guid(one),
                    _ => None,
                });
                return Err(BadEntry::new(
                    &dn,
                    format!("the attribute {} appears twice", shown(&name)),
                    object_guid,
                ));
            }
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

    /// The one value of a single-valued attribute: `None` when absent, an error naming it when
    /// it has several.
    fn single(&self, name: &str) -> Result<Option<&[u8]>, String> {
        match self
            .attrs
            .get(&name.to_ascii_lowercase())
            .map(Vec::as_slice)
        {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one.as_slice())),
            Some(many) => Err(format!(
                "{name} has {} values, but it is single-valued",
                many.len()
            )),
        }
    }

    /// The one value of a single-valued text attribute, trimmed; `None` when absent or blank.
    /// A value that is not UTF-8, holds a NUL or is longer than [`MAX_TEXT_VALUE_BYTES`] is an
    /// error naming the attribute.
    fn single_text(&self, name: &str) -> Result<Option<String>, String> {
        let Some(bytes) = self.single(name)? else {
            return Ok(None);
        };
        if bytes.len() > MAX_TEXT_VALUE_BYTES {
            return Err(format!(
                "{name} is {} bytes long, more than the {MAX_TEXT_VALUE_BYTES} keyward accepts",
                bytes.len()
            ));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| format!("{name} is not UTF-8 text (at byte {})", e.valid_up_to()))?;
        if text.contains('\0') {
            return Err(format!("{name} contains a NUL character"));
        }
        let text = text.trim();
        Ok((!text.is_empty()).then(|| text.to_owned()))
    }

    /// A single-valued decimal attribute, read as an `i64` in `range`.
    fn single_number(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, String> {
        let Some(text) = self.single_text(name)? else {
            return Ok(None);
        };
        match text.parse::<i64>() {
            Ok(v) if range.contains(&v) => Ok(Some(v)),
            Ok(_) => Err(format!("{name} {} is out of range", quoted(&text))),
            Err(_) => Err(format!("{name} {} is not a number", quoted(&text))),
        }
    }

    /// Decodes a user entry (see the module docs for what is refused). objectGUID and
    /// uSNChanged are required; a present but malformed value is an error rather than a silent
    /// default. A missing userAccountControl is an enabled account (LDIF exports without it).
    pub fn into_user(self) -> Result<DirectoryUser, BadEntry> {
        let guid = self.single("objectGUID");
        let known_guid = guid.clone().ok().flatten().and_then(decode::object_guid);
        let bad = |reason: String| BadEntry::new(&self.dn, reason, known_guid);
        if self.dn.len() > MAX_DN_BYTES {
            return Err(bad(format!(
                "the DN is {} bytes long, more than the {MAX_DN_BYTES} keyward accepts",
                self.dn.len()
            )));
        }
        if self.dn.contains('\0') {
            return Err(bad("the DN contains a NUL character".into()));
        }
        let object_guid = match guid.map_err(&bad)? {
            None => return Err(bad("objectGUID is missing".into())),
            Some(b) => decode::object_guid(b)
                .ok_or_else(|| bad(format!("objectGUID has {} bytes, not 16", b.len())))?,
        };
        let object_sid = match self.single("objectSid").map_err(&bad)? {
            None => None,
            Some(b) => {
                Some(decode::object_sid(b).ok_or_else(|| bad("objectSid is malformed".into()))?)
            }
        };
        // AD writes userAccountControl as an unsigned or (bit 31 set) a signed 32-bit number.
        let uac = self
            .single_number(
                "userAccountControl",
                i64::from(i32::MIN)..=i64::from(u32::MAX),
            )
            .map_err(&bad)?
            .map_or(0, |v| u32::try_from(v & 0xFFFF_FFFF).unwrap_or(0));
        let usn_changed = self
            .single_number("uSNChanged", 0..=i64::MAX)
            .map_err(&bad)?
            .ok_or_else(|| bad("uSNChanged is missing".into()))?;
        let locked_out = self
            .single_number("lockoutTime", i64::MIN..=i64::MAX)
            .map_err(&bad)?
            .is_some_and(|v| v > 0);
        let when_changed = match self.single_text("whenChanged").map_err(&bad)? {
            None => None,
            Some(t) => Some(decode::generalized_time(&t).ok_or_else(|| {
                bad(format!(
                    "whenChanged {} is not a generalized time",
                    quoted(&t)
                ))
            })?),
        };
        let pwd_last_set = self
            .single_number("pwdLastSet", i64::MIN..=i64::MAX)
            .map_err(&bad)?
            .and_then(decode::filetime_ticks);
        let text = |name: &str| self.single_text(name).map_err(&bad);
        Ok(DirectoryUser {
            object_guid,
            object_sid,
            sam_account_name: text("sAMAccountName")?,
            user_principal_name: text("userPrincipalName")?,
            mail: text("mail")?,
            given_name: text("givenName")?,
            surname: text("sn")?,
            display_name: text("displayName")?,
            phone: text("telephoneNumber")?,
            company: text("company")?,
            department: text("department")?,
            title: text("title")?,
            enabled: uac & decode::UAC_ACCOUNTDISABLE == 0,
            locked_out,
            password_never_expires: uac & decode::UAC_DONT_EXPIRE_PASSWORD != 0,
            when_changed,
            pwd_last_set,
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

    fn with(pairs: &[(&str, &[u8])]) -> Result<DirectoryUser, BadEntry> {
        let mut all: Vec<(&str, &[u8])> = vec![("objectGUID", GUID), ("uSNChanged", b"7")];
        all.extend_from_slice(pairs);
        entry(&all).into_user()
    }

    fn refused(pairs: &[(&str, &[u8])]) -> BadEntry {
        match with(pairs) {
            Ok(user) => panic!("{pairs:?} was accepted: {user:?}"),
            Err(bad) => bad,
        }
    }

    #[test]
    fn a_text_attribute_that_is_not_utf8_is_refused_not_dropped() {
        for name in [
            "mail",
            "sAMAccountName",
            "displayName",
            "userPrincipalName",
            "title",
        ] {
            let bad = refused(&[(name, b"ada\xff@example.com")]);
            assert!(
                bad.reason.contains(name) && bad.reason.contains("UTF-8"),
                "{bad:?}"
            );
            assert_eq!(bad.dn, "CN=Ada,OU=X,DC=corp,DC=test");
            assert_eq!(
                bad.object_guid,
                decode::object_guid(GUID),
                "the GUID was readable"
            );
        }
    }

    #[test]
    fn a_huge_value_or_a_nul_is_refused_naming_the_attribute() {
        let huge = vec![b'a'; 1 << 20];
        for name in ["displayName", "mail"] {
            let bad = refused(&[(name, &huge)]);
            assert!(
                bad.reason.contains(name) && bad.reason.contains("1048576 bytes"),
                "{bad:?}"
            );
            assert!(bad.reason.len() < 200, "the value is not quoted");
        }
        let at_limit = vec![b'a'; MAX_TEXT_VALUE_BYTES];
        assert!(with(&[("displayName", &at_limit)]).is_ok());
        let bad = refused(&[("displayName", b"Ada\0Lovelace")]);
        assert!(
            bad.reason.contains("displayName") && bad.reason.contains("NUL"),
            "{bad:?}"
        );
        let mut long_dn = entry(&[("objectGUID", GUID), ("uSNChanged", b"1")]);
        long_dn.dn = format!("CN={},DC=x", "a".repeat(MAX_DN_BYTES));
        let bad = long_dn.into_user().unwrap_err();
        assert!(bad.reason.contains("DN"), "{bad:?}");
        assert!(bad.dn.chars().count() <= SHOWN_CHARS + 1 && bad.dn.ends_with('…'));
    }

    #[test]
    fn a_missing_or_malformed_guid_is_refused_without_a_guid() {
        for guid in [&b""[..], &[1u8; 15], &[1u8; 17]] {
            let bad = entry(&[("objectGUID", guid), ("uSNChanged", b"1")])
                .into_user()
                .unwrap_err();
            assert!(bad.reason.contains("objectGUID"), "{bad:?}");
            assert_eq!(bad.object_guid, None);
        }
        let missing = entry(&[("uSNChanged", b"1")]).into_user().unwrap_err();
        assert_eq!(missing.object_guid, None);
        let two = entry(&[
            ("objectGUID", GUID),
            ("objectGUID", GUID),
            ("uSNChanged", b"1"),
        ])
        .into_user()
        .unwrap_err();
        assert!(two.reason.contains("objectGUID has 2 values"), "{two:?}");
        assert_eq!(two.object_guid, None, "which of two GUIDs is unknown");
    }

    #[test]
    fn a_single_valued_attribute_with_two_values_is_refused() {
        for name in [
            "mail",
            "userAccountControl",
            "uSNChanged",
            "displayName",
            "objectSid",
        ] {
            let bad = refused(&[(name, b"1"), (name, b"2")]);
            assert!(
                bad.reason.contains(name) && bad.reason.contains("single-valued"),
                "{name}: {bad:?}"
            );
        }
    }

    #[test]
    fn numbers_and_times_that_do_not_read_are_refused_not_defaulted() {
        for (name, value) in [
            ("userAccountControl", &b"512x"[..]),
            ("userAccountControl", b"99999999999"),
            ("uSNChanged", b"twelve"),
            ("uSNChanged", b"-5"),
            ("lockoutTime", b"soon"),
            ("pwdLastSet", b"yesterday"),
            ("whenChanged", b"2026-11-25"),
        ] {
            let bad = refused(&[(name, value)]);
            assert!(bad.reason.contains(name), "{name}: {bad:?}");
        }
        let long = "9".repeat(5000);
        let bad = refused(&[("userAccountControl", long.as_bytes())]);
        assert!(
            bad.reason.len() < 200,
            "a long value is not quoted: {}",
            bad.reason.len()
        );
        // Values AD really writes still read.
        let user = with(&[
            ("userAccountControl", b"-2147483136"),
            ("lockoutTime", b"0"),
            ("pwdLastSet", b"9223372036854775807"),
            ("whenChanged", b"20261125083000.0Z"),
        ])
        .unwrap();
        assert!(user.enabled && !user.locked_out && user.pwd_last_set.is_none());
        assert!(user.when_changed.is_some());
    }

    /// Builds a search result entry as ldap3 hands it over.
    fn result_entry(dn: &[u8], attributes: &[(&[u8], &[&[u8]])]) -> ResultEntry {
        use ldap3::asn1::{PL, StructureTag, TagClass};
        let primitive = |b: &[u8]| StructureTag {
            class: TagClass::Universal,
            id: 4,
            payload: PL::P(b.to_vec()),
        };
        let constructed = |id, inner| StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::C(inner),
        };
        let attributes = attributes
            .iter()
            .map(|(name, values)| {
                constructed(
                    16,
                    vec![
                        primitive(name),
                        constructed(17, values.iter().map(|v| primitive(v)).collect()),
                    ],
                )
            })
            .collect();
        ResultEntry::new(StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::C(vec![primitive(dn), constructed(16, attributes)]),
        })
    }

    #[test]
    fn search_entries_with_broken_parts_are_bad_entries() {
        let ok = RawEntry::from_result(result_entry(
            b"CN=Ada,DC=x",
            &[
                (b"objectGUID", &[GUID]),
                (b"uSNChanged", &[b"3"]),
                (b"mail", &[b"a@x.org"]),
            ],
        ))
        .unwrap();
        assert_eq!(
            ok.clone().into_user().unwrap().mail.as_deref(),
            Some("a@x.org")
        );
        let twice = RawEntry::from_result(result_entry(
            b"CN=Ada,DC=x",
            &[
                (b"objectGUID", &[GUID]),
                (b"mail", &[b"a@x.org"]),
                (b"MAIL", &[b"b@x.org"]),
            ],
        ))
        .unwrap_err();
        assert!(twice.reason.contains("MAIL appears twice"), "{twice:?}");
        assert_eq!(twice.object_guid, decode::object_guid(GUID));
        let dn = RawEntry::from_result(result_entry(b"CN=\xff", &[])).unwrap_err();
        assert_eq!(dn.dn, "(unknown DN)");
        let name =
            RawEntry::from_result(result_entry(b"CN=A", &[(b"m\xffil", &[b"x"])])).unwrap_err();
        assert!(name.reason.contains("attribute name"), "{name:?}");
        let not_an_entry = ResultEntry::new(ldap3::asn1::StructureTag {
            class: ldap3::asn1::TagClass::Application,
            id: 5,
            payload: ldap3::asn1::PL::P(vec![]),
        });
        assert!(RawEntry::from_result(not_an_entry).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// One attribute value: good text, and the ways a hostile directory breaks one.
        fn value() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                4 => "[ -~]{0,24}".prop_map(String::into_bytes),
                2 => "[0-9]{1,20}".prop_map(String::into_bytes),
                1 => "-[0-9]{1,20}".prop_map(String::into_bytes),
                1 => "\\PC{0,12}".prop_map(String::into_bytes),
                1 => proptest::collection::vec(any::<u8>(), 0..24),
                1 => Just(GUID.to_vec()),
                1 => Just(b"20261125083000.0Z".to_vec()),
                1 => Just(b"a\0b".to_vec()),
                1 => Just(b"a\xc3".to_vec()),
                1 => (MAX_TEXT_VALUE_BYTES - 1..=MAX_TEXT_VALUE_BYTES + 1)
                    .prop_map(|n| vec![b'7'; n]),
            ]
        }

        /// A value AD could really hold for `name`.
        fn good(name: &'static str) -> BoxedStrategy<Vec<u8>> {
            match name {
                "objectGUID" => proptest::collection::vec(any::<u8>(), 16).boxed(),
                "objectSid" => proptest::collection::vec(any::<u32>(), 0..6)
                    .prop_map(|subs| {
                        let mut b = vec![1u8, u8::try_from(subs.len()).unwrap(), 0, 0, 0, 0, 0, 5];
                        for sub in &subs {
                            b.extend_from_slice(&sub.to_le_bytes());
                        }
                        b
                    })
                    .boxed(),
                "userAccountControl" => any::<u32>().prop_map(|v| v.to_string().into_bytes()).boxed(),
                "uSNChanged" => (0..=i64::MAX).prop_map(|v| v.to_string().into_bytes()).boxed(),
                "lockoutTime" | "pwdLastSet" => {
                    any::<i64>().prop_map(|v| v.to_string().into_bytes()).boxed()
                }
                "whenChanged" => "20[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]\\.0Z"
                    .prop_map(String::into_bytes)
                    .boxed(),
                _ => "\\PC{0,24}".prop_map(String::into_bytes).boxed(),
            }
        }

        /// Each attribute keyward reads: mostly a good value, sometimes absent, a hostile value
        /// or two values.
        fn attrs() -> impl Strategy<Value = HashMap<String, Vec<Vec<u8>>>> {
            let per_attribute = USER_ATTRIBUTES
                .iter()
                .map(|name| {
                    (
                        Just(name.to_ascii_lowercase()),
                        prop_oneof![
                            24 => good(name).prop_map(|v| vec![v]),
                            2 => Just(vec![]),
                            1 => value().prop_map(|v| vec![v]),
                            1 => proptest::collection::vec(value(), 2..3),
                        ],
                    )
                })
                .collect::<Vec<_>>();
            per_attribute
                .prop_map(|pairs| pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect())
        }

        /// What a text attribute must read as, if the entry is accepted at all.
        fn expected_text(values: Option<&Vec<Vec<u8>>>) -> Result<Option<String>, ()> {
            match values.map(Vec::as_slice) {
                None | Some([]) => Ok(None),
                Some([one]) => {
                    let text = std::str::from_utf8(one).map_err(|_| ())?;
                    if one.len() > MAX_TEXT_VALUE_BYTES || text.contains('\0') {
                        return Err(());
                    }
                    Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty()))
                }
                Some(_) => Err(()),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Whatever the attributes hold, decoding never panics, never defaults a field it
            /// could not read, and a refusal names an attribute and stays short.
            #[test]
            fn a_user_decodes_exactly_or_is_refused_naming_the_attribute(attrs in attrs()) {
                let raw = RawEntry { dn: "CN=Ada,DC=corp,DC=test".into(), attrs };
                let guid = match raw.attrs.get("objectguid").map(Vec::as_slice) {
                    Some([one]) => decode::object_guid(one),
                    _ => None,
                };
                match raw.clone().into_user() {
                    Ok(user) => {
                        prop_assert_eq!(Some(user.object_guid), guid);
                        let fields = [
                            ("samaccountname", user.sam_account_name.clone()),
                            ("userprincipalname", user.user_principal_name.clone()),
                            ("mail", user.mail.clone()),
                            ("givenname", user.given_name.clone()),
                            ("sn", user.surname.clone()),
                            ("displayname", user.display_name.clone()),
                            ("telephonenumber", user.phone.clone()),
                            ("company", user.company.clone()),
                            ("department", user.department.clone()),
                            ("title", user.title.clone()),
                        ];
                        for (name, got) in fields {
                            let expected = expected_text(raw.attrs.get(name));
                            prop_assert_eq!(Ok(got), expected, "{}", name);
                        }
                        let usn = expected_text(raw.attrs.get("usnchanged")).unwrap().unwrap();
                        prop_assert_eq!(Ok(user.usn_changed), usn.parse::<i64>());
                        let uac = expected_text(raw.attrs.get("useraccountcontrol")).unwrap();
                        let disabled = uac.is_some_and(|t| t.parse::<i64>().unwrap() & 2 != 0);
                        prop_assert_eq!(user.enabled, !disabled);
                    }
                    Err(bad) => {
                        prop_assert_eq!(bad.dn, raw.dn);
                        prop_assert_eq!(bad.object_guid, guid);
                        let names_one = USER_ATTRIBUTES.iter().any(|a| bad.reason.contains(a));
                        prop_assert!(names_one, "{}", bad.reason);
                        prop_assert!(bad.reason.len() < 200, "{}", bad.reason);
                    }
                }
            }
        }
    }
}
