//! Decoding AD attribute values: objectGUID, objectSid, userAccountControl, FILETIME and
//! generalized time. Every function returns `None` or an error for bad input; none panics.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use uuid::Uuid;

/// userAccountControl: the account is disabled.
pub const UAC_ACCOUNTDISABLE: u32 = 0x0002;
/// userAccountControl: the password never expires.
pub const UAC_DONT_EXPIRE_PASSWORD: u32 = 0x1_0000;

/// objectGUID is 16 bytes whose first three fields are little-endian (Microsoft's GUID layout).
pub fn object_guid(bytes: &[u8]) -> Option<Uuid> {
    let bytes: [u8; 16] = bytes.try_into().ok()?;
    Some(Uuid::from_bytes_le(bytes))
}

/// The bytes of a GUID as AD stores them, for `(objectGUID=\xx…)` filters.
pub fn object_guid_bytes(id: Uuid) -> [u8; 16] {
    id.to_bytes_le()
}

/// objectSid in its text form `S-1-5-21-…`.
pub fn object_sid(bytes: &[u8]) -> Option<String> {
    let revision = *bytes.first()?;
    let count = usize::from(*bytes.get(1)?);
    let authority = bytes.get(2..8)?;
    if bytes.len() != 8 + 4 * count {
        return None;
    }
    let authority = authority
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut text = format!("S-{revision}-{authority}");
    for chunk in bytes[8..].chunks_exact(4) {
        let sub = u32::from_le_bytes(chunk.try_into().ok()?);
        text.push('-');
        text.push_str(&sub.to_string());
    }
    Some(text)
}

/// A FILETIME (100 ns intervals since 1601-01-01 UTC, as decimal text). `0` and the
/// "never" value `9223372036854775807` are `None`.
pub fn filetime(text: &str) -> Option<DateTime<Utc>> {
    filetime_ticks(text.trim().parse().ok()?)
}

/// [`filetime`] of a number already parsed.
pub fn filetime_ticks(ticks: i64) -> Option<DateTime<Utc>> {
    // Seconds between 1601-01-01 and 1970-01-01.
    const EPOCH_DIFF_SECS: i64 = 11_644_473_600;
    if ticks <= 0 || ticks == i64::MAX {
        return None;
    }
    let secs = ticks / 10_000_000 - EPOCH_DIFF_SECS;
    let nanos = u32::try_from((ticks % 10_000_000) * 100).ok()?;
    Utc.timestamp_opt(secs, nanos).single()
}

/// LDAP generalized time as AD writes it: `20261125083000.0Z`.
pub fn generalized_time(text: &str) -> Option<DateTime<Utc>> {
    let core = text.trim().trim_end_matches('Z');
    let core = core.split('.').next()?;
    let naive = NaiveDateTime::parse_from_str(core, "%Y%m%d%H%M%S").ok()?;
    Some(Utc.from_utc_datetime(&naive))
}

/// An LDAP filter component matching one objectGUID, e.g. `(objectGUID=\04\03…)`.
pub fn guid_filter(id: Uuid) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("(objectGUID=");
    for b in object_guid_bytes(id) {
        let _ = write!(out, "\\{b:02x}");
    }
    out.push(')');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_uses_microsoft_byte_order() {
        // The GUID {01020304-0506-0708-090a-0b0c0d0e0f10} is stored as 04 03 02 01 06 05 08 07 09 …
        let stored = [4, 3, 2, 1, 6, 5, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16];
        let id = object_guid(&stored).unwrap();
        assert_eq!(id.to_string(), "01020304-0506-0708-090a-0b0c0d0e0f10");
        assert_eq!(object_guid_bytes(id), stored);
        assert!(object_guid(&[1, 2, 3]).is_none());
    }

    #[test]
    fn sids() {
        // S-1-5-21-1004336348-1177238915-682003330-512
        let mut b = vec![1u8, 5, 0, 0, 0, 0, 0, 5];
        for sub in [21u32, 1_004_336_348, 1_177_238_915, 682_003_330, 512] {
            b.extend_from_slice(&sub.to_le_bytes());
        }
        assert_eq!(
            object_sid(&b).unwrap(),
            "S-1-5-21-1004336348-1177238915-682003330-512"
        );
        assert!(object_sid(&b[..10]).is_none());
        assert!(object_sid(&[]).is_none());
    }

    #[test]
    fn filetimes() {
        assert_eq!(
            filetime("133000000000000000").unwrap().to_rfc3339(),
            "2022-06-18T04:26:40+00:00"
        );
        assert!(filetime("0").is_none());
        assert!(filetime("9223372036854775807").is_none());
        assert!(filetime("garbage").is_none());
    }

    #[test]
    fn generalized_times() {
        assert_eq!(
            generalized_time("20261125083000.0Z").unwrap().to_rfc3339(),
            "2026-11-25T08:30:00+00:00"
        );
        assert!(generalized_time("yesterday").is_none());
    }
}
