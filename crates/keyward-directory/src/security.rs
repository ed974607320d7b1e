//! Reading a security descriptor's DACL and deciding, read-only, whether an account holds a
//! right on an object: what `keyward directory test` uses to name each missing right before
//! the first rotation finds it.
//!
//! The descriptor is the self-relative binary form of `nTSecurityDescriptor` (MS-DTYP 2.4.6),
//! read with the SD-flags control asking for the DACL only, which any account with Read
//! Permissions on the object may read. The decision follows the DACL in order (MS-DTYP 2.5.3.2,
//! for one right): ACEs marked inherit-only are skipped, as are those for SIDs not in the
//! account's token; the first remaining ACE that covers the right decides, a deny as much as an
//! allow. An object ACE covers a right only when it names no object type or one of the types
//! that carry the right (a property, or the property set it belongs to).
//!
//! Nothing here panics on hostile bytes: a descriptor that does not parse is an error naming
//! the offset, never a guess.

use uuid::{Uuid, uuid};

use crate::decode;

/// The control access right (extended rights such as Reset Password).
pub const RIGHT_CONTROL_ACCESS: u32 = 0x0000_0100;
/// Write property.
pub const RIGHT_WRITE_PROPERTY: u32 = 0x0000_0020;
/// `GENERIC_ALL`, as it may appear unmapped in a stored ACE.
const GENERIC_ALL: u32 = 0x1000_0000;
/// `GENERIC_WRITE`, as it may appear unmapped in a stored ACE.
const GENERIC_WRITE: u32 = 0x4000_0000;

/// The extended right User-Force-Change-Password ("Reset Password").
pub const RESET_PASSWORD: Uuid = uuid!("00299570-246d-11d0-a768-00aa006e0529");
/// The attribute pwdLastSet.
pub const PWD_LAST_SET: Uuid = uuid!("bf967a0a-0de6-11d0-a285-00aa003049e2");
/// The property set User-Account-Restrictions, which holds pwdLastSet.
pub const USER_ACCOUNT_RESTRICTIONS: Uuid = uuid!("4c164200-20c0-11d0-a768-00aa003e0529");
/// The class user, as delegations name it for "descendant User objects".
pub const USER_CLASS: Uuid = uuid!("bf967aba-0de6-11d0-a285-00aa003049e2");

/// The well-known SIDs every authenticated account's token holds besides its own and its
/// groups': Everyone and Authenticated Users.
pub const IMPLICIT_SIDS: [&str; 2] = ["S-1-1-0", "S-1-5-11"];

/// `SE_DACL_PRESENT` in the descriptor's control word.
const SE_DACL_PRESENT: u16 = 0x0004;
/// `INHERIT_ONLY_ACE`: the ACE is there only to be inherited; it does not apply here.
const INHERIT_ONLY_ACE: u8 = 0x08;
/// Object ACE flags: which GUIDs follow the mask.
const ACE_OBJECT_TYPE_PRESENT: u32 = 0x1;
const ACE_INHERITED_OBJECT_TYPE_PRESENT: u32 = 0x2;

/// Whether an ACE allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AceKind {
    /// `ACCESS_ALLOWED_ACE` or `ACCESS_ALLOWED_OBJECT_ACE`.
    Allow,
    /// `ACCESS_DENIED_ACE` or `ACCESS_DENIED_OBJECT_ACE`.
    Deny,
}

/// One access-allowed or access-denied ACE of a DACL (audit and callback ACEs are skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    /// Allow or deny.
    pub kind: AceKind,
    /// The ACE flags (inheritance).
    pub flags: u8,
    /// The access mask.
    pub mask: u32,
    /// For object ACEs: the property, property set or extended right it is limited to.
    pub object_type: Option<Uuid>,
    /// For object ACEs: the class of objects that inherit it.
    pub inherited_object_type: Option<Uuid>,
    /// The trustee, as `S-1-…`.
    pub sid: String,
}

/// The DACL of a descriptor; `None` is a NULL DACL (no DACL present: everyone has every
/// right).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dacl(pub Option<Vec<Ace>>);

/// What a DACL decides for one right and one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// An ACE allows it (the SID it was granted to).
    Granted {
        /// The trustee of the deciding ACE.
        by: String,
    },
    /// An ACE denies it before any allows it.
    Denied {
        /// The trustee of the deciding ACE.
        by: String,
    },
    /// No ACE grants it.
    Missing,
}

impl Access {
    /// True when the right is held.
    pub fn is_granted(&self) -> bool {
        matches!(self, Self::Granted { .. })
    }
}

/// A descriptor that could not be read, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the security descriptor is malformed at byte {offset}: {reason}")]
pub struct Malformed {
    /// Byte offset in the descriptor.
    pub offset: usize,
    /// What was wrong.
    pub reason: &'static str,
}

fn malformed(offset: usize, reason: &'static str) -> Malformed {
    Malformed { offset, reason }
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, Malformed> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| malformed(at, "truncated"))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, Malformed> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| malformed(at, "truncated"))
}

fn guid_at(b: &[u8], at: usize) -> Result<Uuid, Malformed> {
    b.get(at..at + 16)
        .and_then(decode::object_guid)
        .ok_or_else(|| malformed(at, "truncated GUID"))
}

/// The SID starting at `at` (its length is in its second byte).
fn sid_at(b: &[u8], at: usize) -> Result<String, Malformed> {
    let count = usize::from(
        *b.get(at + 1)
            .ok_or_else(|| malformed(at, "truncated SID"))?,
    );
    b.get(at..at + 8 + 4 * count)
        .and_then(decode::object_sid)
        .ok_or_else(|| malformed(at, "invalid SID"))
}

impl Dacl {
    /// The DACL of a self-relative security descriptor.
    pub fn parse(sd: &[u8]) -> Result<Self, Malformed> {
        if sd.first() != Some(&1) {
            return Err(malformed(0, "not a revision 1 security descriptor"));
        }
        let control = u16_at(sd, 2)?;
        let offset = usize::try_from(u32_at(sd, 16)?).map_err(|_| malformed(16, "offset"))?;
        if control & SE_DACL_PRESENT == 0 || offset == 0 {
            return Ok(Self(None));
        }
        let count = usize::from(u16_at(sd, offset + 4)?);
        let acl_size = usize::from(u16_at(sd, offset + 2)?);
        let end = offset + acl_size;
        if sd.len() < end {
            return Err(malformed(offset, "the ACL is longer than the descriptor"));
        }
        let mut aces = Vec::with_capacity(count);
        let mut at = offset + 8;
        for _ in 0..count {
            let kind = *sd.get(at).ok_or_else(|| malformed(at, "truncated ACE"))?;
            let flags = *sd
                .get(at + 1)
                .ok_or_else(|| malformed(at, "truncated ACE"))?;
            let size = usize::from(u16_at(sd, at + 2)?);
            if size < 8 || at + size > end {
                return Err(malformed(at, "an ACE's size runs past its ACL"));
            }
            let body = &sd[..at + size];
            match kind {
                0x00 | 0x01 => aces.push(Ace {
                    kind: if kind == 0 {
                        AceKind::Allow
                    } else {
                        AceKind::Deny
                    },
                    flags,
                    mask: u32_at(body, at + 4)?,
                    object_type: None,
                    inherited_object_type: None,
                    sid: sid_at(body, at + 8)?,
                }),
                0x05 | 0x06 => {
                    let object_flags = u32_at(body, at + 8)?;
                    let mut field = at + 12;
                    let mut guid = |present: bool| -> Result<Option<Uuid>, Malformed> {
                        if !present {
                            return Ok(None);
                        }
                        let g = guid_at(body, field)?;
                        field += 16;
                        Ok(Some(g))
                    };
                    let object_type = guid(object_flags & ACE_OBJECT_TYPE_PRESENT != 0)?;
                    let inherited_object_type =
                        guid(object_flags & ACE_INHERITED_OBJECT_TYPE_PRESENT != 0)?;
                    aces.push(Ace {
                        kind: if kind == 5 {
                            AceKind::Allow
                        } else {
                            AceKind::Deny
                        },
                        flags,
                        mask: u32_at(body, at + 4)?,
                        object_type,
                        inherited_object_type,
                        sid: sid_at(body, field)?,
                    });
                }
                // Audit, alarm and callback ACEs decide nothing here.
                _ => {}
            }
            at += size;
        }
        Ok(Self(Some(aces)))
    }

    /// Whether `token` (the account's SIDs, its groups' and [`IMPLICIT_SIDS`]) holds `right`
    /// (one bit of the access mask), limited to `object_types` for object ACEs (an object ACE
    /// with another object type does not cover it; one with none covers every type).
    ///
    /// An ACE's inherited object type is not checked: on the object itself, an ACE inherited
    /// for another class arrives marked inherit-only, which is skipped.
    pub fn access(&self, token: &[String], right: u32, object_types: &[Uuid]) -> Access {
        let Some(aces) = &self.0 else {
            return Access::Granted {
                by: "S-1-1-0 (no DACL)".into(),
            };
        };
        for ace in aces {
            if ace.flags & INHERIT_ONLY_ACE != 0 || !token.contains(&ace.sid) {
                continue;
            }
            let mask = expand_generic(ace.mask);
            let type_matches = ace.object_type.is_none_or(|t| object_types.contains(&t));
            if mask & right == 0 || !type_matches {
                continue;
            }
            let by = ace.sid.clone();
            return match ace.kind {
                AceKind::Allow => Access::Granted { by },
                AceKind::Deny => Access::Denied { by },
            };
        }
        Access::Missing
    }
}

/// Generic rights in their directory-service meaning (a stored ACE normally has them mapped
/// already).
fn expand_generic(mask: u32) -> u32 {
    let mut out = mask;
    if mask & GENERIC_ALL != 0 {
        out |= 0x000F_01FF;
    }
    if mask & GENERIC_WRITE != 0 {
        out |= 0x0002_0028;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid_bytes(text: &str) -> Vec<u8> {
        let parts: Vec<u64> = text[2..].split('-').map(|p| p.parse().unwrap()).collect();
        let mut out = vec![
            u8::try_from(parts[0]).unwrap(),
            u8::try_from(parts.len() - 2).unwrap(),
        ];
        out.extend_from_slice(&parts[1].to_be_bytes()[2..]);
        for sub in &parts[2..] {
            out.extend_from_slice(&u32::try_from(*sub).unwrap().to_le_bytes());
        }
        out
    }

    /// One ACE: (type, flags, mask, object type, inherited object type, SID).
    type TestAce<'a> = (u8, u8, u32, Option<Uuid>, Option<Uuid>, &'a str);

    fn descriptor(aces: &[TestAce<'_>]) -> Vec<u8> {
        let mut body = Vec::new();
        for (kind, flags, mask, object, inherited, sid) in aces {
            let mut ace = mask.to_le_bytes().to_vec();
            if *kind >= 5 {
                let f = u32::from(object.is_some()) | (u32::from(inherited.is_some()) << 1);
                ace.extend_from_slice(&f.to_le_bytes());
                for g in [object, inherited].into_iter().flatten() {
                    ace.extend_from_slice(&g.to_bytes_le());
                }
            }
            ace.extend_from_slice(&sid_bytes(sid));
            let size = u16::try_from(ace.len() + 4).unwrap();
            body.extend_from_slice(&[*kind, *flags]);
            body.extend_from_slice(&size.to_le_bytes());
            body.extend_from_slice(&ace);
        }
        let acl_size = u16::try_from(body.len() + 8).unwrap();
        let mut sd = vec![1, 0];
        sd.extend_from_slice(&(0x8000 | SE_DACL_PRESENT).to_le_bytes());
        sd.extend_from_slice(&[0; 12]);
        sd.extend_from_slice(&20u32.to_le_bytes());
        sd.extend_from_slice(&[2, 0]);
        sd.extend_from_slice(&acl_size.to_le_bytes());
        sd.extend_from_slice(&u16::try_from(aces.len()).unwrap().to_le_bytes());
        sd.extend_from_slice(&[0, 0]);
        sd.extend_from_slice(&body);
        sd
    }

    const SVC: &str = "S-1-5-21-1-2-3-1115";
    const ADMINS: &str = "S-1-5-21-1-2-3-512";

    fn token() -> Vec<String> {
        vec![SVC.into(), "S-1-5-21-1-2-3-513".into(), "S-1-1-0".into()]
    }

    #[test]
    fn a_delegated_reset_is_granted_and_others_are_missing() {
        let sd = descriptor(&[
            (0x00, 0, 0x000F_01FF, None, None, ADMINS),
            (
                0x05,
                0x12,
                RIGHT_CONTROL_ACCESS,
                Some(RESET_PASSWORD),
                Some(USER_CLASS),
                SVC,
            ),
            (0x00, 0, 0x0002_0094, None, None, "S-1-5-11"),
        ]);
        let dacl = Dacl::parse(&sd).unwrap();
        assert_eq!(dacl.0.as_ref().unwrap().len(), 3);
        assert_eq!(
            dacl.access(&token(), RIGHT_CONTROL_ACCESS, &[RESET_PASSWORD]),
            Access::Granted { by: SVC.into() }
        );
        assert_eq!(
            dacl.access(&token(), RIGHT_WRITE_PROPERTY, &[PWD_LAST_SET]),
            Access::Missing
        );
        // The administrators' full control is theirs, not the service account's.
        let admin = vec![ADMINS.to_owned()];
        assert!(
            dacl.access(&admin, RIGHT_WRITE_PROPERTY, &[PWD_LAST_SET])
                .is_granted()
        );
    }

    #[test]
    fn the_first_deciding_ace_wins_and_inherit_only_aces_do_not_apply() {
        let reset = Some(RESET_PASSWORD);
        let sd = descriptor(&[
            (
                0x05,
                INHERIT_ONLY_ACE,
                RIGHT_CONTROL_ACCESS,
                reset,
                None,
                SVC,
            ),
            (0x06, 0, RIGHT_CONTROL_ACCESS, reset, None, "S-1-1-0"),
            (0x05, 0, RIGHT_CONTROL_ACCESS, reset, None, SVC),
        ]);
        let dacl = Dacl::parse(&sd).unwrap();
        assert_eq!(
            dacl.access(&token(), RIGHT_CONTROL_ACCESS, &[RESET_PASSWORD]),
            Access::Denied {
                by: "S-1-1-0".into()
            }
        );
    }

    #[test]
    fn an_object_ace_for_another_right_does_not_cover_this_one() {
        let change_password = uuid!("ab721a53-1e2f-11d0-9819-00aa0040529b");
        let sd = descriptor(&[
            (
                0x05,
                0,
                RIGHT_CONTROL_ACCESS,
                Some(change_password),
                None,
                SVC,
            ),
            (
                0x05,
                0,
                RIGHT_WRITE_PROPERTY,
                Some(USER_ACCOUNT_RESTRICTIONS),
                None,
                SVC,
            ),
        ]);
        let dacl = Dacl::parse(&sd).unwrap();
        assert_eq!(
            dacl.access(&token(), RIGHT_CONTROL_ACCESS, &[RESET_PASSWORD]),
            Access::Missing
        );
        // Write on the property set covers pwdLastSet, which belongs to it.
        assert!(
            dacl.access(
                &token(),
                RIGHT_WRITE_PROPERTY,
                &[PWD_LAST_SET, USER_ACCOUNT_RESTRICTIONS]
            )
            .is_granted()
        );
        // An ACE with no object type covers every extended right; GENERIC_ALL covers all.
        let all = Dacl::parse(&descriptor(&[(0x00, 0, GENERIC_ALL, None, None, SVC)])).unwrap();
        assert!(
            all.access(&token(), RIGHT_CONTROL_ACCESS, &[RESET_PASSWORD])
                .is_granted()
        );
    }

    #[test]
    fn hostile_descriptors_are_errors_not_panics() {
        let good = descriptor(&[(0x00, 0, 1, None, None, SVC)]);
        for cut in 0..good.len() {
            let _ = Dacl::parse(&good[..cut]);
        }
        assert!(Dacl::parse(&[]).is_err());
        assert!(Dacl::parse(&good[..good.len() - 3]).is_err());
        let mut long_ace = good.clone();
        long_ace[22] = 0xFF; // the ACL claims more bytes than there are
        assert!(Dacl::parse(&long_ace).is_err());
        // No DACL present: a NULL DACL grants everything.
        let mut null = good;
        null[2] = 0;
        assert!(
            Dacl::parse(&null)
                .unwrap()
                .access(&token(), RIGHT_CONTROL_ACCESS, &[])
                .is_granted()
        );
    }
}
