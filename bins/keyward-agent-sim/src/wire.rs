//! The agent API's bodies, as `docs/agent-api.md` describes them. Answers that are only printed
//! stay `serde_json::Value` so that a field the server adds shows up without a change here.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::secret::Secret;

/// The command in `pending.commands` that asks the agent to wipe the key.
pub const WIPE: &str = "wipe";

/// `POST /api/v1/agent/register`'s body. (No `Debug`: it may hold the registration secret.)
#[derive(Serialize)]
pub struct RegisterRequest<'a> {
    /// The workstation's name.
    pub name: &'a str,
    /// The server's registration secret, when it wants one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_secret: Option<&'a str>,
}

/// `POST /api/v1/agent/register`'s answer, shown once by the server.
#[derive(Debug, Deserialize)]
pub struct Registered {
    /// The new workstation's id.
    pub workstation_id: Uuid,
    /// Its name.
    pub name: String,
    /// `pending` until an administrator approves it.
    pub status: String,
    /// The client address the server recorded (servers before 0.x did not).
    #[serde(default)]
    pub source_address: Option<String>,
    /// The fingerprint the server shows for the credential.
    #[serde(default)]
    pub credential_fingerprint: Option<String>,
    /// The bearer credential for every other call.
    pub credential: Secret,
}

/// A workstation as printed by `register`: never with its credential.
#[derive(Debug, Serialize)]
pub struct WorkstationView<'a> {
    /// Id.
    pub workstation_id: Uuid,
    /// Name.
    pub name: &'a str,
    /// `pending`, `approved` or `revoked`.
    pub status: &'a str,
    /// The first 8 hex digits of the SHA-256 of the credential, computed here: the same as
    /// `keyward workstations list` shows for this workstation.
    pub credential_fingerprint: &'a str,
    /// The address the server saw this registration come from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_address: Option<&'a str>,
}

/// The fingerprint of a credential: the first 8 hex digits of its SHA-256.
pub fn credential_fingerprint(credential: &Secret) -> String {
    use std::fmt::Write as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, credential.expose().as_bytes());
    digest
        .as_ref()
        .iter()
        .take(4)
        .fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

/// `POST …/activate`'s body.
#[derive(Serialize)]
pub struct ActivateRequest<'a> {
    /// The activation code.
    pub code: &'a str,
}

/// `POST …/lock`'s body.
#[derive(Debug, Serialize)]
pub struct LockRequest<'a> {
    /// Why the key locked itself.
    pub reason: &'a str,
}

/// `GET …/pending`: the work for one key.
#[derive(Debug, Deserialize)]
pub struct Pending {
    /// The key's serial.
    pub serial: String,
    /// The key's status on the server.
    pub status: String,
    /// Commands for the key; `wipe` is the only one known. Unknown ones are ignored.
    #[serde(default)]
    pub commands: Vec<String>,
    /// What the key must store or forget.
    #[serde(default)]
    pub accounts: Vec<PendingAccount>,
}

impl Pending {
    /// Whether a wipe is queued.
    pub fn wipe(&self) -> bool {
        self.commands.iter().any(|c| c == WIPE)
    }
}

/// One item of `pending.accounts`, by its `action`.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum PendingAccount {
    /// Store `password` under `login` as `version` (a roll-back too: whatever the key held).
    Write {
        /// Directory.
        directory: String,
        /// objectGUID.
        object_guid: String,
        /// The logon name, e.g. `CORP1\bob`.
        login: String,
        /// The UPN, when the account has one.
        user_principal_name: Option<String>,
        /// The version the key acknowledges.
        version: u64,
        /// The password to store.
        password: Secret,
    },
    /// Delete the account from the key; acknowledged with the version listed.
    Remove {
        /// Directory.
        directory: String,
        /// objectGUID.
        object_guid: String,
        /// The version the key acknowledges.
        version: u64,
    },
}

/// `POST …/ack`'s body.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ack {
    /// The key was wiped in this round.
    pub wiped: bool,
    /// Each applied item with the version written (`0` for a remove).
    pub accounts: Vec<AckAccount>,
}

/// One acknowledged item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AckAccount {
    /// Directory.
    pub directory: String,
    /// objectGUID.
    pub object_guid: String,
    /// The version the key now holds, `0` when removed.
    pub version: u64,
}

/// `POST …/ack`'s answer.
#[derive(Debug, Deserialize)]
pub struct AckAnswer {
    /// How many items the server was waiting for.
    pub accepted: u64,
}

/// `POST …/accounts/{directory}/{object_guid}/password`'s body.
#[derive(Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum PasswordChange<'a> {
    /// The key alone changed; the password is never sent.
    KeyOnly,
    /// The key and the domain change to `password`.
    KeyAndDomain {
        /// The new password.
        password: &'a str,
    },
}

/// What `Debug` prints in place of a secret.
pub const REDACTED: &str = "<redacted>";

impl std::fmt::Debug for ActivateRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivateRequest")
            .field("code", &REDACTED)
            .finish()
    }
}

impl std::fmt::Debug for PasswordChange<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::KeyOnly => f.write_str("KeyOnly"),
            Self::KeyAndDomain { .. } => f
                .debug_struct("KeyAndDomain")
                .field("password", &REDACTED)
                .finish(),
        }
    }
}

/// `POST …/password`'s answer.
#[derive(Debug, Deserialize)]
pub struct PasswordChanged {
    /// The account's new version.
    pub version: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Ack, AckAccount, ActivateRequest, PasswordChange, Pending, PendingAccount};

    #[test]
    fn debug_of_request_bodies_hides_codes_and_passwords() {
        let printed = [
            format!("{:?}", ActivateRequest { code: "48151623" }),
            format!(
                "{:?}",
                PasswordChange::KeyAndDomain {
                    password: "N3w-Passw0rd!"
                }
            ),
        ];
        for line in printed {
            assert!(
                !line.contains("48151623") && !line.contains("N3w-Passw0rd!"),
                "{line}"
            );
        }
    }

    /// The example of docs/agent-api.md, "What is pending".
    const DOC_PENDING: &str = r#"{
      "serial": "HK-0001",
      "status": "active",
      "commands": ["wipe"],
      "accounts": [
        {"directory": "corp1", "object_guid": "9f1c…", "login": "CORP1\\bob",
         "user_principal_name": "bob@corp1.test", "action": "write", "version": 3,
         "password": "…"},
        {"directory": "corp1", "object_guid": "77aa…", "login": "CORP1\\alice",
         "user_principal_name": null, "action": "remove", "version": 0}
      ]
    }"#;

    #[test]
    fn the_documented_pending_document_parses() {
        let pending: Pending = serde_json::from_str(DOC_PENDING).unwrap();
        assert_eq!(pending.serial, "HK-0001");
        assert_eq!(pending.status, "active");
        assert!(pending.wipe());
        assert_eq!(pending.accounts.len(), 2);
        let PendingAccount::Write {
            directory,
            object_guid,
            login,
            user_principal_name,
            version,
            password,
        } = &pending.accounts[0]
        else {
            panic!("expected a write: {:?}", pending.accounts[0]);
        };
        assert_eq!(
            (directory.as_str(), object_guid.as_str(), login.as_str()),
            ("corp1", "9f1c…", "CORP1\\bob")
        );
        assert_eq!(user_principal_name.as_deref(), Some("bob@corp1.test"));
        assert_eq!((*version, password.expose()), (3, "…"));
        assert!(matches!(
            &pending.accounts[1],
            PendingAccount::Remove { directory, object_guid, .. } if directory == "corp1" && object_guid == "77aa…"
        ));
    }

    #[test]
    fn an_idle_key_has_nothing_pending() {
        let pending: Pending =
            serde_json::from_str(r#"{"serial": "HK-0001", "status": "reserved"}"#).unwrap();
        assert!(!pending.wipe());
        assert!(pending.accounts.is_empty());
        let pending: Pending = serde_json::from_str(
            r#"{"serial": "HK-0001", "status": "active", "commands": ["later"], "accounts": []}"#,
        )
        .unwrap();
        assert!(!pending.wipe());
    }

    #[test]
    fn malformed_items_are_rejected() {
        let without_password = r#"{"serial": "HK-1", "status": "active", "accounts": [
            {"directory": "corp1", "object_guid": "g", "login": "CORP1\\bob",
             "user_principal_name": null, "action": "write", "version": 3}]}"#;
        assert!(serde_json::from_str::<Pending>(without_password).is_err());
        let unknown_action = r#"{"serial": "HK-1", "status": "active", "accounts": [
            {"directory": "corp1", "object_guid": "g", "action": "rename", "version": 0}]}"#;
        assert!(serde_json::from_str::<Pending>(unknown_action).is_err());
    }

    #[test]
    fn request_bodies_match_the_contract() {
        let ack = Ack {
            wiped: false,
            accounts: vec![AckAccount {
                directory: "corp1".into(),
                object_guid: "9f1c".into(),
                version: 3,
            }],
        };
        assert_eq!(
            serde_json::to_value(&ack).unwrap(),
            json!({"wiped": false, "accounts": [{"directory": "corp1", "object_guid": "9f1c", "version": 3}]})
        );
        assert_eq!(
            serde_json::to_value(PasswordChange::KeyOnly).unwrap(),
            json!({"mode": "key_only"})
        );
        assert_eq!(
            serde_json::to_value(PasswordChange::KeyAndDomain { password: "pw" }).unwrap(),
            json!({"mode": "key_and_domain", "password": "pw"})
        );
    }
}

#[cfg(test)]
mod fingerprint_tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_the_start_of_the_sha256_hex() {
        // SHA-256("abc") = ba7816bf…
        assert_eq!(credential_fingerprint(&Secret::new("abc")), "ba7816bf");
    }
}
