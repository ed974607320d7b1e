//! Directory accounts: one user object of one directory, keyed by objectGUID.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{DirectoryName, Email, EmployeeId};

/// A user object of one directory, as keyward keeps it.
///
/// Its identity is `(directory, object_guid)`: never the DN, the sAMAccountName or the e-mail,
/// which all change over a person's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryAccount {
    /// The directory it was read from.
    pub directory: DirectoryName,
    /// The AD objectGUID, decoded to a UUID.
    pub object_guid: Uuid,
    /// The employee this account belongs to.
    pub employee_id: EmployeeId,
    /// Distinguished name at the last read.
    pub dn: String,
    /// sAMAccountName (pre-Windows 2000 logon name).
    pub sam_account_name: Option<String>,
    /// userPrincipalName.
    pub user_principal_name: Option<String>,
    /// Normalized mail attribute, when present and valid.
    pub mail: Option<Email>,
    /// displayName.
    pub display_name: Option<String>,
    /// False when userAccountControl has ACCOUNTDISABLE.
    pub enabled: bool,
    /// Member (transitively) of the directory's password rotation group.
    pub in_rotation_group: bool,
    /// uSNChanged at the last read.
    pub usn_changed: i64,
    /// When keyward last saw the account in scope.
    pub last_seen_at: DateTime<Utc>,
    /// Since when the account is out of scope (left the group, deleted, moved); `None` while in
    /// scope. It is removed when this is older than the grace period.
    pub missing_since: Option<DateTime<Utc>>,
}
