//! The workstation side: registration and approval of workstations, and what an approved
//! workstation may do with the keys it holds (docs/agent-api.md).
//!
//! A password leaves keyward only here, in [`Agent::pending`], and only to the approved
//! workstation that holds the key, while the key is Active. A workstation holds a key only after
//! proving possession since the key's last status change: the activation code typed on it
//! ([`Agent::activate`]), or the key proof stored on the key, presented on `seen`
//! ([`key_proof`]); a serial number alone never makes it the holder (docs/product.md §2).

mod key_proof;
mod registration;

pub use registration::Registration;
pub(crate) use registration::check_registration_secret;

pub(crate) use key_proof::new_key_proof;
use key_proof::proof_matches;

use keyward_keys::{KeySerial, KeyStatus};
use keyward_model::{
    Cursor, FINGERPRINT_LEN, NewAuditRecord, Page, PageRequest, Workstation, WorkstationStatus,
};
use keyward_password::{SecretString, sha256_hex, sha256_matches};
use keyward_rotation::{PasswordState, RotationState};
use keyward_store::{NewWorkstation, PasswordWrite};
use serde_json::json;
use uuid::Uuid;

use crate::context::Context;
use crate::passwords::state::{self, Method};
use crate::passwords::{NewPassword, account_subject, plan_rotation};
use crate::secrets::{open_password, random_token_text, seal_password};
use crate::{Actor, Credential, Error, Keys, Result};

const CREDENTIAL_PREFIX: &str = "kww_";

/// A key account write or removal the agent must apply.
#[derive(Debug)]
pub struct AccountDelivery {
    /// The directory.
    pub directory: String,
    /// The account's objectGUID.
    pub object_guid: Uuid,
    /// `NETBIOS\sam` (the directory name upper-cased stands for the NetBIOS name).
    pub login: String,
    /// The account's UPN.
    pub user_principal_name: Option<String>,
    /// `write` or `remove`.
    pub action: &'static str,
    /// The version to acknowledge.
    pub version: i64,
    /// The password for a write.
    pub password: Option<SecretString>,
}

/// What is pending for a key.
#[derive(Debug)]
pub struct PendingWork {
    /// The key.
    pub serial: String,
    /// Its status.
    pub status: KeyStatus,
    /// `wipe` while a wipe is queued.
    pub commands: Vec<&'static str>,
    /// Account writes and removals.
    pub accounts: Vec<AccountDelivery>,
}

/// One acknowledged account item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckItem {
    /// The directory.
    pub directory: String,
    /// The account's objectGUID.
    pub object_guid: Uuid,
    /// The version the key wrote (0 for a removal).
    pub version: i64,
}

/// A key as a workstation that reported it sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenKey {
    /// The key's status.
    pub status: KeyStatus,
    /// Whether this workstation holds the key (it proved possession).
    pub held: bool,
}

/// What an activation (or resume) through the agent did.
#[derive(Debug)]
pub struct Activated {
    /// The key's status now.
    pub status: KeyStatus,
    /// When the key became Active: the new key proof to store on the key, shown once.
    pub key_proof: Option<SecretString>,
}

/// How a user changed a password on the agent.
#[derive(Debug)]
pub enum UserChange {
    /// On the key alone; the directory is not changed by keyward.
    KeyOnly,
    /// On the key and in the directory, as a user change with the old password.
    KeyAndDomain(SecretString),
}

/// Workstation administration and the agent's operations.
#[derive(Clone, Copy, Debug)]
pub struct Agent<'a> {
    ctx: Context<'a>,
}

impl<'a> Agent<'a> {
    pub(crate) fn new(ctx: Context<'a>) -> Self {
        Self { ctx }
    }

    /// Registers a workstation (status pending) and returns its credential, shown once. The
    /// same as [`Agent::register_with`] without an address or a registration secret (refused
    /// when the server is configured with one).
    pub async fn register(&self, name: &str) -> Result<(Workstation, SecretString)> {
        self.register_with(&Registration {
            name,
            source_address: None,
            secret: None,
        })
        .await
    }

    /// Registers a workstation (status pending) with the address it came from, after checking
    /// the registration secret when one is configured, and returns its credential, shown once.
    pub async fn register_with(
        &self,
        registration: &Registration<'_>,
    ) -> Result<(Workstation, SecretString)> {
        let name = registration.name.trim();
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(Error::InvalidInput(
                "a workstation name must be 1 to 128 printable characters".into(),
            ));
        }
        registration::check_secret(&self.ctx.settings.agent, registration.secret)?;
        let secret = random_token_text()?;
        let id = Uuid::now_v7();
        let credential = SecretString::new(format!(
            "{CREDENTIAL_PREFIX}{}_{}",
            id.simple(),
            secret.expose()
        ));
        let now = self.ctx.clock.now();
        let source_address = registration.source_address.map(|a| a.to_string());
        let credential_hash = sha256_hex(credential.expose().as_bytes());
        let record = NewAuditRecord {
            actor: format!("workstation:{id}"),
            action: "workstation.registered".into(),
            subject: subject(id),
            detail: json!({
                "name": name,
                "source_address": source_address,
                "credential_fingerprint": credential_hash.get(..FINGERPRINT_LEN),
            }),
            at: now,
        };
        let ws = self
            .ctx
            .store
            .create_workstation(
                &NewWorkstation {
                    id,
                    name,
                    credential_hash: &credential_hash,
                    source_address: source_address.as_deref(),
                    created_at: now,
                },
                &record,
            )
            .await?;
        Ok((ws, credential))
    }

    /// The workstation a credential belongs to, whatever its status. Every failure is the same
    /// [`Error::Unauthorized`] naming the workstation credential.
    pub async fn authenticate(&self, credential: &str) -> Result<Workstation> {
        let refused = || Error::Unauthorized {
            credential: Credential::Workstation,
        };
        let id = credential
            .strip_prefix(CREDENTIAL_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .and_then(|(id, _)| Uuid::parse_str(id).ok())
            .ok_or_else(refused)?;
        let ws = self.ctx.store.workstation(id).await?.ok_or_else(refused)?;
        let stored = self
            .ctx
            .store
            .workstation_credential_hash(id)
            .await?
            .ok_or_else(refused)?;
        if !sha256_matches(&stored, credential.as_bytes()) {
            return Err(refused());
        }
        self.ctx
            .store
            .touch_workstation(id, self.ctx.clock.now())
            .await?;
        Ok(ws)
    }

    /// One page of workstations in registration order.
    pub async fn list(
        &self,
        after: Option<String>,
        limit: Option<u32>,
    ) -> Result<Page<Workstation>> {
        let request = PageRequest::new(after.map(Cursor::new), limit)?;
        Ok(self.ctx.store.list_workstations(&request).await?)
    }

    /// Approves a pending workstation.
    pub async fn approve(&self, id: &str, actor: &Actor) -> Result<Workstation> {
        self.set_status(id, WorkstationStatus::Approved, actor)
            .await
    }

    /// Revokes a workstation for good.
    pub async fn revoke(&self, id: &str, actor: &Actor) -> Result<Workstation> {
        self.set_status(id, WorkstationStatus::Revoked, actor).await
    }

    /// Moves a workstation to `to` from a status that allows it
    /// ([`WorkstationStatus::sources`]); [`Error::WorkstationState`] otherwise.
    async fn set_status(
        &self,
        id: &str,
        to: WorkstationStatus,
        actor: &Actor,
    ) -> Result<Workstation> {
        let id = Uuid::parse_str(id.trim())
            .map_err(|_| Error::InvalidInput(format!("{id:?} is not a workstation id (a UUID)")))?;
        let before = self
            .ctx
            .store
            .workstation(id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "workstation",
                key: id.to_string(),
            })?;
        let now = self.ctx.clock.now();
        let record = NewAuditRecord {
            actor: actor.to_string(),
            action: format!("workstation.{to}"),
            subject: subject(id),
            detail: json!({
                "from": before.status.as_str(),
                "to": to.as_str(),
                "name": before.name,
                "source_address": before.source_address,
                "credential_fingerprint": before.credential_fingerprint,
            }),
            at: now,
        };
        self.ctx
            .store
            .set_workstation_status(id, WorkstationStatus::sources(to), to, now, &record)
            .await?
            .ok_or(Error::WorkstationState {
                id,
                status: before.status,
                to,
            })
    }

    /// Refuses a workstation that is not approved.
    pub fn require_approved(ws: &Workstation) -> Result<()> {
        match ws.status {
            WorkstationStatus::Approved => Ok(()),
            WorkstationStatus::Pending => Err(Error::WorkstationNotApproved(format!(
                "workstation {} waits for an administrator's approval (keyward workstations approve {})",
                ws.id, ws.id
            ))),
            WorkstationStatus::Revoked => Err(Error::WorkstationNotApproved(format!(
                "workstation {} is revoked; register it again",
                ws.id
            ))),
        }
    }

    /// The workstation reports a key it sees. It becomes the key's holder only by proving
    /// possession with the key proof stored on the key (compare-and-set on the key's version);
    /// a key that has no proof (never activated on a workstation) is reported but not held,
    /// since a serial number proves nothing. Without the proof an Active key is refused
    /// (`key_proof_required`, audited); a key in another status answers its status.
    pub async fn seen(
        &self,
        ws: &Workstation,
        serial: &str,
        key_proof: Option<&SecretString>,
    ) -> Result<SeenKey> {
        Self::require_approved(ws)?;
        let serial = KeySerial::parse(serial)?;
        let (key, stored_proof) = self
            .ctx
            .store
            .key_with_proof(&serial)
            .await?
            .ok_or_else(|| not_found(&serial))?;
        if key.linked_workstation.as_deref() == Some(ws.id.to_string().as_str()) {
            return Ok(SeenKey {
                status: key.status,
                held: true,
            });
        }
        match key_proof {
            Some(presented) if proof_matches(stored_proof.as_deref(), Some(presented)) => {
                let after = self
                    .change_holder(ws, &key, None, "key.seen", "key proof presented")
                    .await?;
                Ok(SeenKey {
                    status: after.status,
                    held: true,
                })
            }
            Some(_) => Err(self.refuse_proof(ws, &key, key_proof, "holding").await),
            None if key.status == KeyStatus::Active => Err(self
                .refuse_proof(ws, &key, None, "holding the Active")
                .await),
            None => Ok(SeenKey {
                status: key.status,
                held: false,
            }),
        }
    }

    /// The user typed the activation code on the workstation: the code is the proof of
    /// possession, so a right code activates (or resumes) the key and makes this workstation
    /// its holder with a new key proof, in one write.
    pub async fn activate(&self, ws: &Workstation, serial: &str, code: &str) -> Result<Activated> {
        Self::require_approved(ws)?;
        let serial = KeySerial::parse(serial)?;
        let (view, proof) = self
            .keys()
            .submit_code_on_workstation(&serial, code, ws.id)
            .await?;
        Ok(Activated {
            status: view.key.status,
            key_proof: Some(proof),
        })
    }

    /// The agent reports a lock (wrong PIN).
    pub async fn lock(&self, ws: &Workstation, serial: &str, reason: &str) -> Result<KeyStatus> {
        self.held(ws, serial).await?;
        let view = self.keys().lock(serial, reason, &actor(ws)).await?;
        Ok(view.key.status)
    }

    /// What the key must do: a queued wipe, account writes and removals.
    pub async fn pending(&self, ws: &Workstation, serial: &str) -> Result<PendingWork> {
        let key = self.held(ws, serial).await?;
        let mut work = PendingWork {
            serial: key.serial.to_string(),
            status: key.status,
            commands: Vec::new(),
            accounts: Vec::new(),
        };
        if key.wipe_pending {
            work.commands.push("wipe");
        }
        if key.status != KeyStatus::Active {
            return Ok(work);
        }
        let Some(owner) = key.employee_id else {
            return Ok(work);
        };
        let rows = self
            .ctx
            .store
            .account_passwords(Some(key.serial.as_str()))
            .await?;
        let mut kek = None;
        for row in rows {
            let s = &row.state;
            // The version the key stores the value under, the sealed value, and the version
            // it is sealed for (they differ for a roll-back).
            let (version, sealed, sealed_version) = match (s.state, s.pending.as_ref()) {
                (RotationState::AwaitingKey, Some(p)) => {
                    (p.version, Some(p.sealed.as_str()), p.version)
                }
                (RotationState::RollingBack, _) => {
                    let target = state::rollback_target(s);
                    (target.version, target.sealed, target.sealed_version)
                }
                _ => continue,
            };
            // Only the accounts of the key's owner: an account that moved to another employee
            // (or a row left from an earlier owner) is never delivered.
            let Some(account) = self
                .ctx
                .store
                .account(&row.directory, row.object_guid)
                .await?
                .filter(|a| a.employee_id == owner)
            else {
                continue;
            };
            let password = match sealed {
                Some(sealed) => {
                    if kek.is_none() {
                        kek = Some(self.ctx.kek.get(self.ctx.settings, self.ctx.store).await?);
                    }
                    let kek = kek.as_deref().ok_or_else(|| Error::Internal {
                        source: "key-encryption key missing".into(),
                    })?;
                    Some(open_password(
                        kek,
                        sealed,
                        &row.directory,
                        row.object_guid,
                        sealed_version,
                    )?)
                }
                None => None,
            };
            work.accounts.push(AccountDelivery {
                login: format!(
                    "{}\\{}",
                    row.directory.to_uppercase(),
                    account.sam_account_name.as_deref().unwrap_or_default()
                ),
                user_principal_name: account.user_principal_name.clone(),
                action: if password.is_some() {
                    "write"
                } else {
                    "remove"
                },
                directory: row.directory,
                object_guid: row.object_guid,
                version,
                password,
            });
        }
        Ok(work)
    }

    /// Records what the key wrote. Returns how many items were expected and accepted; an
    /// acknowledgement of something keyward is not waiting for is ignored. Account versions are
    /// acknowledged only for an Active key; a wipe only with the key proof, read from the key
    /// before it was wiped.
    pub async fn acknowledge(
        &self,
        ws: &Workstation,
        serial: &str,
        wipe: Option<&SecretString>,
        items: &[AckItem],
    ) -> Result<usize> {
        let key = self.held(ws, serial).await?;
        if !items.is_empty() && key.status != KeyStatus::Active {
            return Err(Error::InvalidTransition(format!(
                "key {} is {}; account versions are acknowledged only for an Active key",
                key.serial, key.status
            )));
        }
        let mut accepted = 0;
        if let Some(presented) = wipe {
            self.confirm_wipe(ws, &key, presented).await?;
            accepted += 1;
        }
        // An Active key always has an owner.
        let Some(owner) = key.employee_id.filter(|_| !items.is_empty()) else {
            return Ok(accepted);
        };
        for item in items {
            let Some(row) = self
                .ctx
                .store
                .account_password(&item.directory, item.object_guid)
                .await?
            else {
                continue;
            };
            if row.state.key_serial.as_deref() != Some(key.serial.as_str())
                || !self
                    .owned_by(&row.directory, row.object_guid, owner)
                    .await?
            {
                continue;
            }
            let now = self.ctx.clock.now();
            let s = &row.state;
            let (next, action) = match (s.state, s.pending.as_ref()) {
                (RotationState::AwaitingKey, Some(p)) if p.version == item.version => {
                    (state::delivered(s, now), "password.delivered")
                }
                (RotationState::RollingBack, _)
                    if state::rollback_target(s).version == item.version =>
                {
                    let resealed = self
                        .reseal_for_rollback(s, &row.directory, row.object_guid)
                        .await?;
                    (state::rolled_back(s, resealed), "password.rolled_back")
                }
                _ => continue,
            };
            let write = PasswordWrite {
                directory: row.directory.clone(),
                object_guid: row.object_guid,
                expected_row_version: Some(row.row_version),
                state: next,
                audit: vec![NewAuditRecord {
                    actor: actor(ws).to_string(),
                    action: action.into(),
                    subject: account_subject(&row.directory, row.object_guid),
                    detail: json!({ "key": key.serial.as_str(), "version": item.version }),
                    at: now,
                }],
                notify: None,
                now,
            };
            match self.ctx.store.save_account_password(&write).await {
                Ok(_) => accepted += 1,
                Err(keyward_store::Error::Stale { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(accepted)
    }

    /// A wipe the key reports, accepted from its holder with the key's proof while a wipe is
    /// queued: a workstation cannot return a key to stock it never had in hand.
    async fn confirm_wipe(
        &self,
        ws: &Workstation,
        key: &keyward_keys::Key,
        presented: &SecretString,
    ) -> Result<()> {
        if !key.wipe_pending {
            return Err(Error::InvalidTransition(format!(
                "key {} is {} and has no wipe queued",
                key.serial, key.status
            )));
        }
        let stored = self
            .ctx
            .store
            .key_with_proof(&key.serial)
            .await?
            .and_then(|(_, p)| p);
        if !proof_matches(stored.as_deref(), Some(presented)) {
            return Err(self
                .refuse_proof(ws, key, Some(presented), "confirming the wipe of")
                .await);
        }
        self.keys()
            .confirm_wipe(key.serial.as_str(), &actor(ws))
            .await?;
        Ok(())
    }

    /// Whether the account belongs to `owner`.
    async fn owned_by(
        &self,
        directory: &str,
        object_guid: Uuid,
        owner: keyward_model::EmployeeId,
    ) -> Result<bool> {
        Ok(self
            .ctx
            .store
            .account(directory, object_guid)
            .await?
            .is_some_and(|a| a.employee_id == owner))
    }

    /// The user changed an account's password on the agent.
    pub async fn user_change(
        &self,
        ws: &Workstation,
        serial: &str,
        directory: &str,
        object_guid: Uuid,
        change: UserChange,
    ) -> Result<PasswordState> {
        let key = self.held(ws, serial).await?;
        if key.status != KeyStatus::Active {
            return Err(Error::InvalidTransition(format!(
                "key {} is {}; only an Active key's passwords can be changed",
                key.serial, key.status
            )));
        }
        let account = self
            .ctx
            .store
            .account(directory, object_guid)
            .await?
            .filter(|a| Some(a.employee_id) == key.employee_id)
            .ok_or_else(|| Error::NotFound {
                what: "account of the key's owner",
                key: format!("{directory}/{object_guid}"),
            })?;
        let row = self
            .ctx
            .store
            .account_password(directory, object_guid)
            .await?;
        let now = self.ctx.clock.now();
        let who = actor(ws);
        let write = match change {
            UserChange::KeyOnly => {
                let current = row.as_ref().map_or_else(
                    || PasswordState::new(Some(key.serial.to_string())),
                    |r| r.state.clone(),
                );
                if current.state != RotationState::Idle {
                    return Err(Error::RotationInFlight(format!(
                        "account {directory}/{object_guid} has a rotation under way; try again when it is done"
                    )));
                }
                let mut next = state::changed_on_key(&current, now);
                next.key_serial = Some(key.serial.to_string());
                PasswordWrite {
                    directory: directory.to_owned(),
                    object_guid,
                    expected_row_version: row.as_ref().map(|r| r.row_version),
                    audit: vec![NewAuditRecord {
                        actor: who.to_string(),
                        action: "password.changed_on_key".into(),
                        subject: account_subject(directory, object_guid),
                        detail: json!({ "key": key.serial.as_str(), "version": next.version }),
                        at: now,
                    }],
                    state: next,
                    notify: None,
                    now,
                }
            }
            UserChange::KeyAndDomain(password) => {
                if row
                    .as_ref()
                    .is_none_or(|r| r.state.sealed_current.is_none())
                {
                    return Err(Error::NotSupported(format!(
                        "keyward does not know the current password of {directory}/{object_guid}, \
                         so it cannot make a user change; ask an administrator for `keyward \
                         passwords rotate`"
                    )));
                }
                if password.is_empty() || password.expose().chars().any(char::is_control) {
                    return Err(Error::PasswordPolicy(
                        "the password is empty or contains a control character".into(),
                    ));
                }
                plan_rotation(
                    &self.ctx.plan_at(now),
                    &account,
                    row.as_ref(),
                    Some(key.serial.to_string()),
                    NewPassword::Given(password),
                    "user_change",
                    Method::Change,
                    &who,
                )
                .await?
            }
        };
        Ok(self.ctx.store.save_account_password(&write).await?.state)
    }

    /// The key, refused unless this approved workstation holds it (it proved possession since
    /// the key's last status change).
    async fn held(&self, ws: &Workstation, serial: &str) -> Result<keyward_keys::Key> {
        Self::require_approved(ws)?;
        let serial = KeySerial::parse(serial)?;
        let key = self
            .ctx
            .store
            .key(&serial)
            .await?
            .ok_or_else(|| not_found(&serial))?;
        if key.linked_workstation.as_deref() != Some(ws.id.to_string().as_str()) {
            return Err(Error::KeyNotHeld(format!(
                "key {} is not held by this workstation; report it with `seen` and its key \
                 proof, or type its activation code on this workstation",
                key.serial
            )));
        }
        Ok(key)
    }

    /// The committed value sealed again for the roll-back's own version (what the key now
    /// holds under that version); `None` when keyward never knew the committed value.
    async fn reseal_for_rollback(
        &self,
        current: &PasswordState,
        directory: &str,
        object_guid: Uuid,
    ) -> Result<Option<String>> {
        let target = state::rollback_target(current);
        let Some(sealed) = target.sealed else {
            return Ok(None);
        };
        let kek = self.ctx.kek.get(self.ctx.settings, self.ctx.store).await?;
        let value = open_password(&kek, sealed, directory, object_guid, target.sealed_version)?;
        Ok(Some(seal_password(
            &kek,
            &value,
            directory,
            object_guid,
            target.version,
        )?))
    }

    fn keys(&self) -> Keys<'a> {
        Keys::new(self.ctx)
    }
}

fn actor(ws: &Workstation) -> Actor {
    Actor::Workstation(ws.id)
}

fn subject(id: Uuid) -> String {
    format!("workstation:{id}")
}

fn not_found(serial: &KeySerial) -> Error {
    Error::NotFound {
        what: "key",
        key: serial.to_string(),
    }
}
