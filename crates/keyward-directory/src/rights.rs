//! What the bound service account may do, read without changing anything: its token (its SID
//! and its groups', from `tokenGroups`), and on one account the rights rotation needs, from the
//! account's DACL (read with the SD-flags control) and the server's own
//! `allowedAttributesEffective`.

use ldap3::controls::RawControl;
use ldap3::{Scope, ldap_escape};

use crate::security::{Access, Dacl, IMPLICIT_SIDS, RESET_PASSWORD, RIGHT_CONTROL_ACCESS};
use crate::{Error, RawEntry, Result, Session, decode};

/// `LDAP_SERVER_SD_FLAGS_OID:` which parts of nTSecurityDescriptor to return.
const OID_SD_FLAGS: &str = "1.2.840.113556.1.4.801";
/// The control's value: BER `SEQUENCE { INTEGER 4 }`, the DACL only (`DACL_SECURITY_INFORMATION`).
/// Without it, AD also returns the SACL, which needs a privilege, and refuses the attribute.
const SD_FLAGS_DACL: [u8; 5] = [0x30, 0x03, 0x02, 0x01, 0x04];

/// The account a session is bound as, and the SIDs its access token holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundAccount {
    /// Its DN.
    pub dn: String,
    /// Its objectSid.
    pub sid: String,
    /// The SIDs of every group it is in, nested ones too (`tokenGroups`).
    pub group_sids: Vec<String>,
}

impl BoundAccount {
    /// Every SID an access check counts for this account.
    pub fn token(&self) -> Vec<String> {
        let mut token = vec![self.sid.clone()];
        token.extend(self.group_sids.iter().cloned());
        token.extend(IMPLICIT_SIDS.iter().map(|s| (*s).to_owned()));
        token
    }
}

/// The rights password rotation needs on one account, as the bound account holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRights {
    /// The account checked.
    pub dn: String,
    /// Reset Password (the extended right User-Force-Change-Password): what a reset needs.
    pub reset_password: Access,
    /// Write pwdLastSet, as the server reports it in `allowedAttributesEffective`.
    pub write_pwd_last_set: bool,
}

impl Session {
    /// The account `who` (a DN, or a userPrincipalName searched under `base`) with its
    /// `tokenGroups`. `who` is normally the bind DN of the session itself.
    pub async fn bound_account(&mut self, base: &str, who: &str) -> Result<BoundAccount> {
        let dn = if who.contains('=') {
            who.to_owned()
        } else {
            // A Kerberos principal's realm may differ in case from the UPN's suffix, and an
            // account may have no UPN: its sAMAccountName is the principal's first part.
            let sam = who.split('@').next().unwrap_or(who);
            let filter = format!(
                "(&(objectClass=user)(|(userPrincipalName={})(sAMAccountName={})))",
                ldap_escape(who),
                ldap_escape(sam)
            );
            let found = self
                .search_small(base, Scope::Subtree, &filter, vec!["1.1".into()])
                .await?;
            match found.as_slice() {
                [one] => one.dn.clone(),
                _ => {
                    return Err(Error::Search {
                        code: 32,
                        detail: format!(
                            "no single account under {base} has the userPrincipalName {who}"
                        ),
                    });
                }
            }
        };
        let entry = self
            .search_small(
                &dn,
                Scope::Base,
                "(objectClass=*)",
                vec!["objectSid".into(), "tokenGroups".into()],
            )
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Search {
                code: 32,
                detail: format!("the bound account {dn} cannot be read"),
            })?;
        let sid = entry
            .bytes("objectSid")
            .and_then(decode::object_sid)
            .ok_or_else(|| Error::Search {
                code: 16,
                detail: format!("{dn} has no readable objectSid"),
            })?;
        let group_sids = all_bytes(&entry, "tokenGroups")
            .filter_map(decode::object_sid)
            .collect();
        Ok(BoundAccount {
            dn,
            sid,
            group_sids,
        })
    }

    /// The rights `account` holds on the entry `dn` for rotation. Read-only.
    pub async fn rights_on(&mut self, account: &BoundAccount, dn: &str) -> Result<AccountRights> {
        let control = RawControl {
            ctype: OID_SD_FLAGS.into(),
            crit: true,
            val: Some(SD_FLAGS_DACL.to_vec()),
        };
        let result = self
            .ldap
            .with_controls(control)
            .with_timeout(self.operation_timeout)
            .search(
                dn,
                Scope::Base,
                "(objectClass=*)",
                vec!["nTSecurityDescriptor", "allowedAttributesEffective"],
            )
            .await?;
        if result.1.rc != 0 {
            return Err(Error::Search {
                code: result.1.rc,
                detail: crate::error::one_line(&result.1.text),
            });
        }
        let entry = result
            .0
            .into_iter()
            .find(|e| !e.is_ref() && !e.is_intermediate())
            .ok_or_else(|| Error::Search {
                code: 32,
                detail: format!("{dn} cannot be read"),
            })?;
        let entry = RawEntry::from_result(entry).map_err(|bad| Error::Search {
            code: 1,
            detail: format!("malformed entry {}: {}", bad.dn, bad.reason),
        })?;
        let reset_password = match entry.bytes("nTSecurityDescriptor") {
            // No Read Permissions: the right cannot be shown held.
            None => Access::Missing,
            Some(sd) => Dacl::parse(sd)
                .map_err(|e| Error::Search {
                    code: 1,
                    detail: format!("{dn}: {e}"),
                })?
                .access(&account.token(), RIGHT_CONTROL_ACCESS, &[RESET_PASSWORD]),
        };
        let write_pwd_last_set = entry
            .texts("allowedAttributesEffective")
            .iter()
            .any(|a| a.eq_ignore_ascii_case("pwdLastSet"));
        Ok(AccountRights {
            dn: dn.to_owned(),
            reset_password,
            write_pwd_last_set,
        })
    }
}

/// Every value of `name`, as bytes.
fn all_bytes<'e>(entry: &'e RawEntry, name: &str) -> impl Iterator<Item = &'e [u8]> + 'e {
    entry
        .attrs
        .get(&name.to_ascii_lowercase())
        .into_iter()
        .flatten()
        .map(Vec::as_slice)
}
