//! The state file: the workstation's registration and the simulated keys' memory.
//!
//! It is saved atomically (a temporary file in the same directory, synced, then renamed over
//! the old one) with mode 0600, so that a crash leaves either the old or the new state, never
//! half of one: `sync` relies on it to save what a key stored *before* acknowledging it.
//!
//! Accounts are keyed `directory/object_guid`; directory names never contain `/` (the server
//! allows lowercase letters, digits, `-` and `_`), so the first `/` splits the key.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::secret::Secret;
use crate::wire::{Ack, AckAccount, Pending, PendingAccount, REDACTED};

/// What the state file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The workstation, once registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<Registration>,
    /// The simulated keys by serial (upper-cased).
    #[serde(default)]
    pub keys: BTreeMap<String, SimKey>,
}

/// The workstation's registration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The server's id for this workstation.
    pub workstation_id: Uuid,
    /// The name it registered with.
    pub name: String,
    /// The bearer credential, shown once by the server.
    pub credential: Secret,
}

/// A simulated key's memory.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimKey {
    /// The key was wiped and has stored nothing since.
    #[serde(default)]
    pub wiped: bool,
    /// Accounts by `directory/object_guid`.
    #[serde(default)]
    pub accounts: BTreeMap<String, SimAccount>,
    /// The key proof the server gave when the key became Active: what lets another workstation
    /// take the key over (it is read from the key, like the accounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_proof: Option<Secret>,
    /// The key proof read from the key just before a wipe, which the agent keeps until the
    /// server accepted the wipe: the server confirms a wipe only with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wipe_proof: Option<Secret>,
}

/// One account stored on a simulated key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimAccount {
    /// The logon name.
    pub login: String,
    /// The UPN, when the account has one.
    pub user_principal_name: Option<String>,
    /// The version the key holds.
    pub version: u64,
    /// The password the key holds.
    pub password: Secret,
}

/// What one round of `sync` did to a key.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Writes stored (roll-backs included).
    pub written: usize,
    /// Removes applied.
    pub removed: usize,
    /// The acknowledgement to send.
    pub ack: Ack,
}

/// A simulated key as `dump` prints it: the only output with passwords. Its `Debug` does not
/// show them.
#[derive(Serialize)]
pub struct KeyDump<'a> {
    /// Serial.
    pub serial: &'a str,
    /// Wiped and empty since.
    pub wiped: bool,
    /// The key proof, when the key holds one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_proof: Option<&'a str>,
    /// Accounts sorted by directory, then objectGUID.
    pub accounts: Vec<AccountDump<'a>>,
}

/// One account of a [`KeyDump`].
#[derive(Serialize)]
pub struct AccountDump<'a> {
    /// Directory.
    pub directory: &'a str,
    /// objectGUID.
    pub object_guid: &'a str,
    /// Logon name.
    pub login: &'a str,
    /// UPN.
    pub user_principal_name: Option<&'a str>,
    /// Version held.
    pub version: u64,
    /// Password held.
    pub password: &'a str,
}

impl fmt::Debug for KeyDump<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyDump")
            .field("serial", &self.serial)
            .field("wiped", &self.wiped)
            .field("key_proof", &self.key_proof.map(|_| REDACTED))
            .field("accounts", &self.accounts)
            .finish()
    }
}

impl fmt::Debug for AccountDump<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountDump")
            .field("directory", &self.directory)
            .field("object_guid", &self.object_guid)
            .field("login", &self.login)
            .field("user_principal_name", &self.user_principal_name)
            .field("version", &self.version)
            .field("password", &REDACTED)
            .finish()
    }
}

fn account_key(directory: &str, object_guid: &str) -> String {
    format!("{directory}/{object_guid}")
}

impl SimKey {
    /// Applies a pending document as a real key would, and says what to acknowledge.
    ///
    /// A wipe clears the key first, and writes listed with it are neither stored nor
    /// acknowledged: a wiped key goes back to stock holding nothing. Removes are always applied
    /// and acknowledged with the version listed. A write is stored whatever version the key
    /// held: the server decides the order (a roll-back included).
    pub fn apply(&mut self, pending: &Pending) -> Applied {
        let mut applied = Applied::default();
        if pending.wipe() {
            self.accounts.clear();
            if let Some(proof) = self.key_proof.take() {
                self.wipe_proof = Some(proof);
            }
            self.wiped = true;
            applied.ack.wiped = true;
        }
        for item in &pending.accounts {
            match item {
                PendingAccount::Write { .. } if applied.ack.wiped => {}
                PendingAccount::Write {
                    directory,
                    object_guid,
                    login,
                    user_principal_name,
                    version,
                    password,
                } => {
                    self.accounts.insert(
                        account_key(directory, object_guid),
                        SimAccount {
                            login: login.clone(),
                            user_principal_name: user_principal_name.clone(),
                            version: *version,
                            password: password.clone(),
                        },
                    );
                    self.wiped = false;
                    applied.written += 1;
                    applied.ack.accounts.push(AckAccount {
                        directory: directory.clone(),
                        object_guid: object_guid.clone(),
                        version: *version,
                    });
                }
                PendingAccount::Remove {
                    directory,
                    object_guid,
                    version,
                } => {
                    self.accounts.remove(&account_key(directory, object_guid));
                    applied.removed += 1;
                    applied.ack.accounts.push(AckAccount {
                        directory: directory.clone(),
                        object_guid: object_guid.clone(),
                        version: *version,
                    });
                }
            }
        }
        applied
    }

    /// The account stored under `directory`/`object_guid`.
    pub fn account(&self, directory: &str, object_guid: &str) -> Option<&SimAccount> {
        self.accounts.get(&account_key(directory, object_guid))
    }

    /// The account stored under `directory`/`object_guid`, to change it.
    pub fn account_mut(&mut self, directory: &str, object_guid: &str) -> Option<&mut SimAccount> {
        self.accounts.get_mut(&account_key(directory, object_guid))
    }

    /// The key's memory for printing, sorted by directory then objectGUID.
    pub fn dump<'a>(&'a self, serial: &'a str) -> KeyDump<'a> {
        let mut accounts: Vec<AccountDump<'a>> = self
            .accounts
            .iter()
            .map(|(key, account)| {
                let (directory, object_guid) = key.split_once('/').unwrap_or((key, ""));
                AccountDump {
                    directory,
                    object_guid,
                    login: &account.login,
                    user_principal_name: account.user_principal_name.as_deref(),
                    version: account.version,
                    password: account.password.expose(),
                }
            })
            .collect();
        accounts.sort_by(|a, b| (a.directory, a.object_guid).cmp(&(b.directory, b.object_guid)));
        KeyDump {
            serial,
            wiped: self.wiped,
            key_proof: self.key_proof.as_ref().map(Secret::expose),
            accounts,
        }
    }
}

/// A state file problem.
#[derive(Debug)]
pub enum StateError {
    /// Reading or writing failed.
    Io {
        /// The state file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// Why it failed.
        source: io::Error,
    },
    /// The file is not a valid state file.
    Invalid {
        /// The state file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// The command needs a registration and there is none.
    NotRegistered {
        /// The state file.
        path: PathBuf,
    },
    /// `register` without `--force` over an existing registration.
    AlreadyRegistered {
        /// The state file.
        path: PathBuf,
        /// The registration it holds.
        workstation_id: Uuid,
    },
    /// No simulated key with this serial.
    UnknownKey {
        /// The state file.
        path: PathBuf,
        /// The serial.
        serial: String,
    },
    /// The simulated key holds no such account.
    UnknownAccount {
        /// The serial.
        serial: String,
        /// Directory.
        directory: String,
        /// objectGUID.
        object_guid: String,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io {
                path,
                action,
                source,
            } => write!(
                f,
                "cannot {action} the state file {}: {source}",
                path.display()
            ),
            Self::Invalid { path, source } => write!(
                f,
                "the state file {} is not valid: {source}",
                path.display()
            ),
            Self::NotRegistered { path } => write!(
                f,
                "the state file {} holds no registration: run `keyward-agent-sim register --name NAME` first",
                path.display()
            ),
            Self::AlreadyRegistered {
                path,
                workstation_id,
            } => write!(
                f,
                "the state file {} already holds workstation {workstation_id}: use --force to register again",
                path.display()
            ),
            Self::UnknownKey { path, serial } => write!(
                f,
                "the state file {} holds no simulated key {serial}: `activate` it first",
                path.display()
            ),
            Self::UnknownAccount {
                serial,
                directory,
                object_guid,
            } => write!(
                f,
                "the simulated key {serial} holds no account {directory}/{object_guid}"
            ),
        }
    }
}

impl std::error::Error for StateError {}

/// The state and the file it lives in.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    /// The state.
    pub state: State,
}

impl StateFile {
    /// Reads `path`; a missing file is an empty state (nothing registered, no keys).
    pub fn load(path: &Path) -> Result<Self, StateError> {
        let state = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StateError::Invalid {
                path: path.to_owned(),
                source,
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::default(),
            Err(source) => {
                return Err(StateError::Io {
                    path: path.to_owned(),
                    action: "read",
                    source,
                });
            }
        };
        Ok(Self {
            path: path.to_owned(),
            state,
        })
    }

    /// Writes the state atomically with mode 0600.
    pub fn save(&self) -> Result<(), StateError> {
        let io_error = |source| StateError::Io {
            path: self.path.clone(),
            action: "write",
            source,
        };
        let mut bytes =
            serde_json::to_vec_pretty(&self.state).map_err(|source| StateError::Invalid {
                path: self.path.clone(),
                source,
            })?;
        bytes.push(b'\n');
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        // The temporary file must be in the same directory: a rename is atomic only within
        // one file system. tempfile creates it 0600 already; saying so keeps that explicit.
        let mut temp = tempfile::Builder::new()
            .prefix(".keyward-agent-sim.")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(io_error)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            temp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(io_error)?;
        }
        temp.write_all(&bytes).map_err(io_error)?;
        temp.as_file().sync_all().map_err(io_error)?;
        temp.persist(&self.path).map_err(|e| io_error(e.error))?;
        // Make the rename itself durable; a failure here leaves a correct file, so it is
        // not worth failing the command for.
        #[cfg(unix)]
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The registration, or a failure telling the user to register.
    pub fn registration(&self) -> Result<&Registration, StateError> {
        self.state
            .registration
            .as_ref()
            .ok_or_else(|| StateError::NotRegistered {
                path: self.path.clone(),
            })
    }

    /// The simulated key `serial`.
    pub fn key(&self, serial: &str) -> Result<&SimKey, StateError> {
        self.state
            .keys
            .get(serial)
            .ok_or_else(|| StateError::UnknownKey {
                path: self.path.clone(),
                serial: serial.to_owned(),
            })
    }

    /// The simulated key `serial`, to change it.
    pub fn key_mut(&mut self, serial: &str) -> Result<&mut SimKey, StateError> {
        self.state
            .keys
            .get_mut(serial)
            .ok_or_else(|| StateError::UnknownKey {
                path: self.path.clone(),
                serial: serial.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::{SimAccount, SimKey, State, StateError, StateFile};
    use crate::secret::Secret;
    use crate::wire::{AckAccount, Pending};

    fn pending(json: &str) -> Pending {
        serde_json::from_str(json).unwrap()
    }

    fn write(guid: &str, version: u64, password: &str) -> String {
        format!(
            r#"{{"directory": "corp1", "object_guid": "{guid}", "login": "CORP1\\bob",
                "user_principal_name": "bob@corp1.test", "action": "write",
                "version": {version}, "password": "{password}"}}"#
        )
    }

    fn ack(guid: &str, version: u64) -> AckAccount {
        AckAccount {
            directory: "corp1".into(),
            object_guid: guid.into(),
            version,
        }
    }

    fn account(version: u64, password: &str) -> SimAccount {
        SimAccount {
            login: "CORP1\\bob".into(),
            user_principal_name: Some("bob@corp1.test".into()),
            version,
            password: Secret::new(password),
        }
    }

    #[test]
    fn a_write_is_stored_and_acknowledged_with_its_version() {
        let mut key = SimKey::default();
        let doc = format!(
            r#"{{"serial": "HK-1", "status": "active", "commands": [], "accounts": [{}]}}"#,
            write("9f1c", 3, "pw-3")
        );
        let applied = key.apply(&pending(&doc));
        assert_eq!((applied.written, applied.removed), (1, 0));
        assert!(!applied.ack.wiped);
        assert_eq!(applied.ack.accounts, [ack("9f1c", 3)]);
        assert_eq!(key.accounts["corp1/9f1c"], account(3, "pw-3"));
        // Listed again until acknowledged: writing it again changes nothing.
        let again = key.apply(&pending(&doc));
        assert_eq!(again, applied);
        assert_eq!(key.accounts.len(), 1);
    }

    #[test]
    fn a_lower_version_is_a_rollback_and_is_applied() {
        let mut key = SimKey::default();
        key.accounts
            .insert("corp1/9f1c".into(), account(4, "pw-4-refused-by-ad"));
        let doc = format!(
            r#"{{"serial": "HK-1", "status": "active", "accounts": [{}]}}"#,
            write("9f1c", 3, "pw-3")
        );
        let applied = key.apply(&pending(&doc));
        assert_eq!(applied.written, 1);
        assert_eq!(applied.ack.accounts, [ack("9f1c", 3)]);
        assert_eq!(key.accounts["corp1/9f1c"], account(3, "pw-3"));
    }

    #[test]
    fn a_remove_deletes_the_account_and_is_acknowledged_with_zero() {
        let mut key = SimKey::default();
        key.accounts.insert("corp1/77aa".into(), account(1, "old"));
        key.accounts.insert("corp1/9f1c".into(), account(2, "keep"));
        let doc = r#"{"serial": "HK-1", "status": "active", "accounts": [
            {"directory": "corp1", "object_guid": "77aa", "login": "CORP1\\alice",
             "user_principal_name": null, "action": "remove", "version": 0},
            {"directory": "corp1", "object_guid": "never-held", "login": "CORP1\\carol",
             "user_principal_name": null, "action": "remove", "version": 0}]}"#;
        let applied = key.apply(&pending(doc));
        assert_eq!((applied.written, applied.removed), (0, 2));
        assert_eq!(applied.ack.accounts, [ack("77aa", 0), ack("never-held", 0)]);
        assert_eq!(key.accounts.keys().collect::<Vec<_>>(), ["corp1/9f1c"]);
    }

    #[test]
    fn a_wipe_clears_the_key_and_stores_nothing_listed_with_it() {
        let mut key = SimKey::default();
        key.accounts.insert("corp1/9f1c".into(), account(2, "pw"));
        key.accounts.insert("corp2/0001".into(), account(7, "pw2"));
        let doc = format!(
            r#"{{"serial": "HK-1", "status": "deactivated", "commands": ["wipe"], "accounts": [{}]}}"#,
            write("9f1c", 3, "pw-3")
        );
        let applied = key.apply(&pending(&doc));
        assert!(applied.ack.wiped);
        assert_eq!((applied.written, applied.removed), (0, 0));
        assert!(applied.ack.accounts.is_empty());
        assert!(key.wiped);
        assert!(key.accounts.is_empty());
        // The next write (the key was issued again) makes it a used key again.
        let doc = format!(
            r#"{{"serial": "HK-1", "status": "active", "accounts": [{}]}}"#,
            write("9f1c", 1, "new")
        );
        key.apply(&pending(&doc));
        assert!(!key.wiped);
    }

    #[test]
    fn the_documented_example_applies() {
        // docs/agent-api.md, "What is pending": a wipe with one write and one remove.
        let doc = r#"{
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
        let mut key = SimKey::default();
        let applied = key.apply(&pending(doc));
        assert!(applied.ack.wiped);
        assert_eq!(applied.ack.accounts, [ack("77aa…", 0)]);
        assert!(key.accounts.is_empty());
    }

    #[test]
    fn dump_sorts_by_directory_then_object_guid() {
        let mut key = SimKey::default();
        key.accounts.insert("corp/b".into(), account(1, "1"));
        key.accounts.insert("corp-a/a".into(), account(2, "2"));
        key.accounts.insert("corp/a".into(), account(3, "3"));
        let dump = serde_json::to_value(key.dump("HK-1")).unwrap();
        let order: Vec<(&str, &str)> = dump["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["directory"].as_str().unwrap(),
                    a["object_guid"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(order, [("corp", "a"), ("corp", "b"), ("corp-a", "a")]);
        assert_eq!(dump["accounts"][0]["password"], "3");
        assert_eq!(dump["serial"], "HK-1");
    }

    #[test]
    fn debug_of_a_dump_shows_neither_passwords_nor_the_key_proof() {
        let mut key = SimKey::default();
        key.accounts
            .insert("corp/a".into(), account(1, "Pa55-in-the-key"));
        key.key_proof = Some(Secret::new("kwp_proof-on-the-key"));
        let mut state = State::default();
        state.keys.insert("HK-1".into(), key.clone());
        for printed in [format!("{:?}", key.dump("HK-1")), format!("{state:?}")] {
            assert!(!printed.contains("Pa55-in-the-key"), "{printed}");
            assert!(!printed.contains("kwp_proof-on-the-key"), "{printed}");
        }
        // Serialized (what `dump` prints), they are there: that is the command's purpose.
        let json = serde_json::to_string(&key.dump("HK-1")).unwrap();
        assert!(json.contains("Pa55-in-the-key") && json.contains("kwp_proof-on-the-key"));
    }

    #[test]
    fn the_state_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let missing = StateFile::load(&path).unwrap();
        assert!(missing.state.registration.is_none());
        assert!(matches!(
            missing.registration(),
            Err(StateError::NotRegistered { .. })
        ));

        let mut file = missing;
        file.state.registration = Some(super::Registration {
            workstation_id: uuid::Uuid::nil(),
            name: "WS-042".into(),
            credential: Secret::new("kww_test"),
        });
        let mut key = SimKey {
            wiped: true,
            ..SimKey::default()
        };
        key.accounts.insert("corp1/9f1c".into(), account(3, "pw"));
        file.state.keys.insert("HK-1".into(), key.clone());
        file.save().unwrap();

        let loaded = StateFile::load(&path).unwrap();
        let registration = loaded.registration().unwrap();
        assert_eq!(registration.name, "WS-042");
        assert_eq!(registration.credential.expose(), "kww_test");
        assert_eq!(loaded.key("HK-1").unwrap(), &key);
        assert!(matches!(
            loaded.key("HK-2"),
            Err(StateError::UnknownKey { .. })
        ));
    }

    #[test]
    fn a_save_replaces_the_file_atomically_and_privately() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{}").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let mut file = StateFile::load(&path).unwrap();
        file.state.keys.insert("HK-1".into(), SimKey::default());
        file.save().unwrap();

        // Only the state file is left: the temporary file was renamed, not copied.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        let state: State = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert!(state.keys.contains_key("HK-1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_save_into_a_missing_directory_fails_and_a_bad_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::load(&dir.path().join("no/such/dir/state.json")).unwrap();
        assert!(matches!(file.save(), Err(StateError::Io { .. })));

        let path = dir.path().join("state.json");
        std::fs::write(&path, r#"{"keys": {}, "typo": 1}"#).unwrap();
        let err = StateFile::load(&path).unwrap_err();
        assert!(matches!(err, StateError::Invalid { .. }));
        assert!(err.to_string().contains("typo"), "{err}");
    }
}
