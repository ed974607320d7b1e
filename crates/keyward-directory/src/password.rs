//! Password operations: an administrator's reset, a user's own change, and a verify bind.
//!
//! AD takes passwords in `unicodePwd` as the UTF-16LE encoding of the password in double
//! quotes, and only over an encrypted connection; keyward refuses to send one in clear even to
//! a server that would accept it (Samba does), and refuses every password operation while
//! `insecure_skip_tls_verify` is on (an unverified certificate lets anyone on the path read it).
//! A bind with a user's password (a change, a verify) is refused before the password leaves the
//! process unless the connection is encrypted and verified.

use std::collections::HashSet;

use keyward_model::DomainController;
use keyward_password::SecretString;
use ldap3::Mod;
use zeroize::Zeroize;

use crate::client::bind_reason;
use crate::error::one_line;
use crate::{DirectoryClient, Error, Result, Session};

impl Session {
    /// The modify of a user change on a session bound as `dn` ([`DirectoryClient::open_for_change`]):
    /// deletes `old` and adds `new` in one modify.
    pub async fn change_password(
        &mut self,
        dn: &str,
        old: &SecretString,
        new: &SecretString,
    ) -> Result<()> {
        let mut old_value = unicode_pwd(old);
        let mut new_value = unicode_pwd(new);
        let result = self
            .ldap
            .with_timeout(self.operation_timeout)
            .modify(
                dn,
                vec![
                    Mod::Delete(b"unicodePwd".to_vec(), HashSet::from([old_value.clone()])),
                    Mod::Add(b"unicodePwd".to_vec(), HashSet::from([new_value.clone()])),
                ],
            )
            .await;
        old_value.zeroize();
        new_value.zeroize();
        let result = result?;
        write_outcome(dn, result.rc, &result.text)
    }

    /// Sets `dn`'s password to `new` (an administrator's reset: replace `unicodePwd`).
    pub async fn reset_password(&mut self, dn: &str, new: &SecretString) -> Result<()> {
        if !self.encrypted {
            return Err(Error::NeedsTls {
                operation: "a password reset",
            });
        }
        if !self.verified {
            return Err(Error::NeedsVerifiedTls {
                operation: "a password reset",
                directory: self.directory.clone(),
            });
        }
        let mut value = unicode_pwd(new);
        let result = self
            .ldap
            .with_timeout(self.operation_timeout)
            .modify(
                dn,
                vec![Mod::Replace(
                    b"unicodePwd".to_vec(),
                    HashSet::from([value.clone()]),
                )],
            )
            .await;
        value.zeroize();
        let result = result?;
        write_outcome(dn, result.rc, &result.text)
    }
}

impl DirectoryClient {
    /// Changes `dn`'s password as the user: binds with `old`, then deletes the old value and adds
    /// the new one in one modify, so that AD applies its full policy (history, minimum age).
    pub async fn change_password(
        &self,
        dn: &str,
        old: &SecretString,
        new: &SecretString,
    ) -> Result<()> {
        let mut session = self.open_for_change(dn, old, None).await?;
        let result = session.change_password(dn, old, new).await;
        session.close().await;
        result
    }

    /// Opens the session a user change runs on: bound as `dn` with `old` (a wrong one is
    /// [`Error::WrongOldPassword`]), on `on` only when given, else the URLs in order. The caller
    /// may read [`Session::controller`] (and store it) before [`Session::change_password`].
    pub async fn open_for_change(
        &self,
        dn: &str,
        old: &SecretString,
        on: Option<&DomainController>,
    ) -> Result<Session> {
        match self.connect_as_user(dn, old, "a password change", on).await {
            Err(Error::Bind { reason, .. }) if reason.starts_with("wrong password") => {
                Err(Error::WrongOldPassword)
            }
            other => other,
        }
    }

    /// True when `who` can bind with `password`; false for invalid credentials. Other failures
    /// (unreachable, TLS) are errors. The password is sent only over an encrypted connection
    /// whose certificate is verified.
    pub async fn verify_password(&self, who: &str, password: &SecretString) -> Result<bool> {
        self.verify_password_on(None, who, password).await
    }

    /// [`Self::verify_password`] on `on` only when given (a pinned controller: another one may
    /// not have replicated the password yet, so its answer would prove nothing).
    pub async fn verify_password_on(
        &self,
        on: Option<&DomainController>,
        who: &str,
        password: &SecretString,
    ) -> Result<bool> {
        match self
            .connect_as_user(who, password, "a verifying bind with a user's password", on)
            .await
        {
            Ok(session) => {
                session.close().await;
                Ok(true)
            }
            Err(Error::Bind { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }
}

/// `"password"` in UTF-16LE, as `unicodePwd` wants it.
fn unicode_pwd(password: &SecretString) -> Vec<u8> {
    let quoted = format!("\"{}\"", password.expose());
    let bytes = quoted.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut quoted = quoted.into_bytes();
    quoted.zeroize();
    bytes
}

/// Turns a modify result into keyward's error variants. AD's diagnostic starts with an
/// 8-hex-digit code: match that, not the text, which differs between Windows and Samba.
fn write_outcome(dn: &str, rc: u32, text: &str) -> Result<()> {
    let code = text
        .get(..8)
        .filter(|c| c.bytes().all(|b| b.is_ascii_hexdigit()));
    match (rc, code) {
        (0, _) => Ok(()),
        (19, Some(c)) if c.eq_ignore_ascii_case("00000056") => Err(Error::WrongOldPassword),
        (19 | 53, Some(c)) if c.eq_ignore_ascii_case("0000052D") => Err(Error::PasswordPolicy {
            code: c.to_ascii_uppercase(),
            detail: one_line(text),
        }),
        (19, _) if text.contains("old password") => Err(Error::WrongOldPassword),
        (19, _) => Err(Error::PasswordPolicy {
            code: code.unwrap_or("unknown").to_owned(),
            detail: one_line(text),
        }),
        (50, _) => Err(Error::InsufficientAccess { dn: dn.to_owned() }),
        (53, _) => Err(Error::Unwilling {
            detail: one_line(text),
        }),
        (8 | 13, _) => Err(Error::NeedsTls {
            operation: "a password write (the server requires an encrypted connection)",
        }),
        (49, _) => Err(Error::Bind {
            who: dn.to_owned(),
            reason: bind_reason(rc, text),
        }),
        (code, _) => Err(Error::Search {
            code,
            detail: one_line(text),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_pwd_is_quoted_utf16le() {
        let v = unicode_pwd(&SecretString::from("Ab1"));
        assert_eq!(v, vec![b'"', 0, b'A', 0, b'b', 0, b'1', 0, b'"', 0]);
    }

    #[test]
    fn ad_answers_become_distinct_errors() {
        let policy = "0000052D: Constraint violation - check_password_restrictions: the password is too short. It should be equal or longer than 7 characters!";
        assert!(
            matches!(write_outcome("cn=x", 19, policy), Err(Error::PasswordPolicy { ref code, .. }) if code == "0000052D")
        );
        assert!(matches!(
            write_outcome("cn=x", 53, "0000052D: AtrErr: DSID-03190F80"),
            Err(Error::PasswordPolicy { .. })
        ));
        let old = "00000056: Constraint violation - check_password_restrictions: The old password specified doesn't match!";
        assert!(matches!(
            write_outcome("cn=x", 19, old),
            Err(Error::WrongOldPassword)
        ));
        assert!(matches!(
            write_outcome("cn=x", 50, "error in module acl"),
            Err(Error::InsufficientAccess { .. })
        ));
        assert!(matches!(
            write_outcome(
                "cn=x",
                53,
                "0000001F: SvcErr: DSID-031A126C, problem 5003 (WILL_NOT_PERFORM)"
            ),
            Err(Error::Unwilling { .. })
        ));
        assert!(write_outcome("cn=x", 0, "").is_ok());
    }
}
