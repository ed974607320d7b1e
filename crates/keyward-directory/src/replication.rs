//! What a domain controller holds of one account's password in replication terms: the version
//! of `unicodePwd` in the account's `replPropertyMetaData`. Active Directory settles two
//! unreplicated changes of one attribute by this version before their times, so a controller
//! with a lower version than another has not replicated that one's password yet (see
//! `keyward_rotation::behind_last_commit`). Read-only.

use ldap3::Scope;

use crate::{Error, RawEntry, Result, Session};

/// The attribute id of `unicodePwd` (its `msDS-IntId`/ATTID in every AD schema).
const UNICODE_PWD_ATTID: u32 = 0x0009_005A;
/// `replPropertyMetaDataBlob` (MS-DRSR 5.172): version, reserved, count, reserved, then
/// `count` entries of 48 bytes whose first two fields are the attribute id and its version.
const HEADER_LEN: usize = 16;
const ENTRY_LEN: usize = 48;

impl Session {
    /// The `unicodePwd` version this controller holds for `dn`, from its `replPropertyMetaData`.
    /// `None` when the server returns no metadata (not AD, or no right to read it) or the
    /// account never had a password; an unreadable blob is `None` too, never a guess.
    pub async fn password_version(&mut self, dn: &str) -> Result<Option<u32>> {
        let result = self
            .ldap
            .with_timeout(self.operation_timeout)
            .search(
                dn,
                Scope::Base,
                "(objectClass=*)",
                vec!["replPropertyMetaData"],
            )
            .await?;
        if result.1.rc != 0 {
            return Err(Error::Search {
                code: result.1.rc,
                detail: crate::error::one_line(&result.1.text),
            });
        }
        let Some(entry) = result
            .0
            .into_iter()
            .find(|e| !e.is_ref() && !e.is_intermediate())
        else {
            return Ok(None);
        };
        let entry = RawEntry::from_result(entry).map_err(|bad| Error::Search {
            code: 1,
            detail: format!("malformed entry {}: {}", bad.dn, bad.reason),
        })?;
        Ok(entry
            .bytes("replPropertyMetaData")
            .and_then(|blob| attribute_version(blob, UNICODE_PWD_ATTID)))
    }
}

/// The version of attribute `attid` in a `replPropertyMetaDataBlob`; `None` when the blob is
/// not version 1, is cut short, or does not list the attribute.
fn attribute_version(blob: &[u8], attid: u32) -> Option<u32> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(blob.get(at..at + 4)?.try_into().ok()?))
    };
    if u32_at(0)? != 1 {
        return None;
    }
    let count = usize::try_from(u32_at(8)?).ok()?;
    if blob.len() < HEADER_LEN + count.checked_mul(ENTRY_LEN)? {
        return None;
    }
    (0..count)
        .map(|i| HEADER_LEN + i * ENTRY_LEN)
        .find(|&at| u32_at(at) == Some(attid))
        .and_then(|at| u32_at(at + 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blob with one 48-byte entry per (attid, version), the rest of each entry zero.
    fn blob(entries: &[(u32, u32)]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(1u32.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(u32::try_from(entries.len()).unwrap().to_le_bytes());
        b.extend(0u32.to_le_bytes());
        for (attid, version) in entries {
            b.extend(attid.to_le_bytes());
            b.extend(version.to_le_bytes());
            b.extend([0u8; ENTRY_LEN - 8]);
        }
        b
    }

    #[test]
    fn finds_the_version_of_the_attribute_asked_for() {
        let b = blob(&[(0x0002_0001, 4), (UNICODE_PWD_ATTID, 9), (0x0009_0060, 9)]);
        assert_eq!(attribute_version(&b, UNICODE_PWD_ATTID), Some(9));
        assert_eq!(attribute_version(&b, 0x0002_0001), Some(4));
        assert_eq!(attribute_version(&b, 0x0009_0000), None, "not listed");
    }

    #[test]
    fn a_short_or_unknown_blob_is_no_version() {
        let b = blob(&[(UNICODE_PWD_ATTID, 9)]);
        assert_eq!(
            attribute_version(&b[..b.len() - 1], UNICODE_PWD_ATTID),
            None
        );
        assert_eq!(attribute_version(&b[..10], UNICODE_PWD_ATTID), None);
        assert_eq!(attribute_version(&[], UNICODE_PWD_ATTID), None);
        let mut v2 = b.clone();
        v2[0] = 2;
        assert_eq!(attribute_version(&v2, UNICODE_PWD_ATTID), None);
        let mut huge = b;
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(attribute_version(&huge, UNICODE_PWD_ATTID), None);
    }
}
