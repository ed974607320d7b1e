//! A user object as read from a directory, before it is merged into an employee.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One user object of a directory, decoded. Produced by the LDAP connector and by the LDIF
/// reader; consumed by the merge and the sync engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    /// Distinguished name.
    pub dn: String,
    /// objectGUID: the identity of the account for its whole life.
    pub object_guid: Uuid,
    /// objectSid in its text form (`S-1-5-21-…`), when present.
    pub object_sid: Option<String>,
    /// sAMAccountName.
    pub sam_account_name: Option<String>,
    /// userPrincipalName.
    pub user_principal_name: Option<String>,
    /// The `mail` attribute as stored (not normalized; the merge normalizes it).
    pub mail: Option<String>,
    /// givenName.
    pub given_name: Option<String>,
    /// sn.
    pub surname: Option<String>,
    /// displayName.
    pub display_name: Option<String>,
    /// telephoneNumber.
    pub phone: Option<String>,
    /// company.
    pub company: Option<String>,
    /// department.
    pub department: Option<String>,
    /// title.
    pub title: Option<String>,
    /// userAccountControl without ACCOUNTDISABLE.
    pub enabled: bool,
    /// lockoutTime is set (the account is locked out by bad passwords).
    pub locked_out: bool,
    /// userAccountControl has `DONT_EXPIRE_PASSWORD`.
    pub password_never_expires: bool,
    /// whenChanged.
    pub when_changed: Option<DateTime<Utc>>,
    /// pwdLastSet; `None` when never set or "must change at next logon" (0).
    pub pwd_last_set: Option<DateTime<Utc>>,
    /// uSNChanged on the domain controller that answered.
    pub usn_changed: i64,
}
