//! Hardware-key operations: the lifecycle of PRODUCT.md §2 applied with its effects and its
//! audit record in one transaction.
//!
//! Each operation reads the key, asks [`keyward_keys::transition`] what the event does, turns the
//! returned effects into a [`KeyChange`] and stores it. The change is version-checked, so of two
//! concurrent operations on one key exactly one wins; the other gets
//! [`Error::ConcurrentChange`].
//!
//! Effects on passwords are stored in the same transaction as the key change: an activation
//! starts the first rotation of the owner's rotation-group accounts (PRODUCT.md §3), a
//! deactivation drops what was in flight to the key, and marking a key compromised rotates
//! every password it held straight in the directory, so whoever has the key loses access.

use std::collections::HashMap;

use keyward_keys::{
    ActivationCode, CodeCheck, CodeHash, Effect, Event, EventKind, Key, KeySerial, KeyStatus,
    Reason, Transition, transition,
};
use keyward_model::{AuditRecord, Employee, EmployeeId, EmployeeStatus, NewAuditRecord};
use keyward_store::{CodeChange, KeyChange, KeyNotice, KeyState, PasswordWrite, Store, StoredCode};
use ring::rand::SystemRandom;
use serde_json::json;

use crate::passwords::state::{self, Method};
use crate::passwords::{NewPassword, PlanContext, account_subject, plan_rotation};
use crate::secrets::KekCell;
use crate::{Actor, Clock, Employees, Error, Result, Settings};

/// A key with its owner, as shown to administrators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyView {
    /// The key.
    pub key: Key,
    /// Its owner, when it has one.
    pub owner: Option<Employee>,
}

/// The outcome of an operation that issues an activation code: shown once, never stored.
#[derive(Debug)]
pub struct WithCode {
    /// The key after the operation.
    pub key: KeyView,
    /// The new code.
    pub activation_code: ActivationCode,
}

/// Hardware-key operations.
#[derive(Clone, Copy)]
pub struct Keys<'a> {
    store: &'a Store,
    settings: &'a Settings,
    clock: &'a dyn Clock,
    kek: &'a KekCell,
}

impl<'a> Keys<'a> {
    pub(crate) fn new(
        store: &'a Store,
        settings: &'a Settings,
        clock: &'a dyn Clock,
        kek: &'a KekCell,
    ) -> Self {
        Self {
            store,
            settings,
            clock,
            kek,
        }
    }

    /// Imports keys into stock, all or none. A serial given twice, or one that exists, is
    /// refused and nothing is imported.
    pub async fn import(&self, serials: &[String], actor: &Actor) -> Result<Vec<Key>> {
        if serials.is_empty() {
            return Err(Error::InvalidInput("no serial numbers given".into()));
        }
        let mut parsed = Vec::with_capacity(serials.len());
        for raw in serials {
            let serial = KeySerial::parse(raw)?;
            if parsed.contains(&serial) {
                return Err(Error::InvalidInput(format!(
                    "serial {serial} is given twice"
                )));
            }
            // Checks the table's import row (a new serial only) for each key.
            transition(None, &Event::Import, keyward_keys::KeyFacts::default())?;
            parsed.push(serial);
        }
        let now = self.clock.now();
        let audits: Vec<NewAuditRecord> = parsed
            .iter()
            .map(|serial| NewAuditRecord {
                actor: actor.to_string(),
                action: "key.import".into(),
                subject: subject(serial),
                detail: json!({ "event": "import", "from": null, "to": "ready" }),
                at: now,
            })
            .collect();
        Ok(self.store.import_keys(&parsed, now, &audits).await?)
    }

    /// Every key, optionally only those in a status.
    pub async fn list(&self, status: Option<&str>) -> Result<Vec<KeyView>> {
        let status = status.map(str::parse::<KeyStatus>).transpose()?;
        let keys = self.store.list_keys(status).await?;
        let mut owners: HashMap<EmployeeId, Employee> = HashMap::new();
        for id in keys.iter().filter_map(|k| k.employee_id) {
            if let std::collections::hash_map::Entry::Vacant(slot) = owners.entry(id) {
                slot.insert(self.employees().get(id).await?);
            }
        }
        let views = keys
            .into_iter()
            .map(|key| KeyView {
                owner: key.employee_id.and_then(|id| owners.get(&id).cloned()),
                key,
            })
            .collect();
        Ok(views)
    }

    /// One key with its owner.
    pub async fn show(&self, serial: &str) -> Result<KeyView> {
        let key = self.load(&KeySerial::parse(serial)?).await?;
        self.view(key).await
    }

    /// The audit records of a key, oldest first.
    pub async fn history(&self, serial: &str) -> Result<Vec<AuditRecord>> {
        let serial = KeySerial::parse(serial)?;
        let records = self
            .store
            .list_audit(Some(&subject(&serial)), 0, 100_000)
            .await?;
        if records.is_empty() && self.store.key(&serial).await?.is_none() {
            return Err(not_found(&serial));
        }
        Ok(records)
    }

    /// Hands a Ready key to an employee (by id or e-mail) and issues its activation code.
    pub async fn assign(&self, serial: &str, employee: &str, actor: &Actor) -> Result<WithCode> {
        let serial = KeySerial::parse(serial)?;
        self.load(&serial).await?;
        let owner = self.employees().find(employee).await?;
        if owner.status != EmployeeStatus::Active {
            return Err(Error::InvalidInput(format!(
                "employee {} is disabled and cannot receive a key",
                owner.id
            )));
        }
        let held = self
            .store
            .keys_of(owner.id)
            .await?
            .into_iter()
            .filter(|k| k.status.has_owner() && k.serial != serial)
            .count();
        let limit = usize::from(self.settings.keys.per_employee);
        if held >= limit {
            return Err(Error::LimitReached(format!(
                "employee {} already holds {held} key(s) and keys.per_employee is {limit}; \
                 deactivate a key first or raise the limit",
                owner.id
            )));
        }
        let (key, code) = self
            .step(&serial, &Event::Assign { employee: owner.id }, actor)
            .await?;
        self.with_code(key, code).await
    }

    /// Takes back a Reserved key that was never linked to a workstation.
    pub async fn cancel(&self, serial: &str, actor: &Actor) -> Result<KeyView> {
        self.simple(serial, &Event::CancelIssuance, actor).await
    }

    /// Submits an activation code: activates a Reserved key or resumes a Suspended one.
    pub async fn submit_code(&self, serial: &str, code: &str, actor: &Actor) -> Result<KeyView> {
        let serial = KeySerial::parse(serial)?;
        let key = self.load(&serial).await?;
        let event = if key.status == KeyStatus::Suspended {
            Event::Resume
        } else {
            Event::Activate
        };
        self.code_step(key, event, code, actor).await
    }

    /// Activates a Reserved key with its code.
    pub async fn activate(&self, serial: &str, code: &str, actor: &Actor) -> Result<KeyView> {
        let key = self.load(&KeySerial::parse(serial)?).await?;
        self.code_step(key, Event::Activate, code, actor).await
    }

    /// Resumes a Suspended key with its code.
    pub async fn resume(&self, serial: &str, code: &str, actor: &Actor) -> Result<KeyView> {
        let key = self.load(&KeySerial::parse(serial)?).await?;
        self.code_step(key, Event::Resume, code, actor).await
    }

    /// Locks an Active key (reason `locked_by_invalid_pin` or `admin`).
    pub async fn lock(&self, serial: &str, reason: &str, actor: &Actor) -> Result<KeyView> {
        let reason: Reason = reason.parse()?;
        self.simple(serial, &Event::Lock { reason }, actor).await
    }

    /// Suspends an Active key and issues the code that resumes it.
    pub async fn suspend(
        &self,
        serial: &str,
        description: &str,
        actor: &Actor,
    ) -> Result<WithCode> {
        let serial = KeySerial::parse(serial)?;
        let event = Event::Suspend {
            description: description.trim().to_owned(),
        };
        let (key, code) = self.step(&serial, &event, actor).await?;
        self.with_code(key, code).await
    }

    /// Removes the Locked status: the key becomes Suspended with a new code.
    pub async fn unlock(&self, serial: &str, actor: &Actor) -> Result<WithCode> {
        let serial = KeySerial::parse(serial)?;
        let (key, code) = self.step(&serial, &Event::Unlock, actor).await?;
        self.with_code(key, code).await
    }

    /// Takes the key from its owner and queues a wipe.
    pub async fn deactivate(&self, serial: &str, reason: &str, actor: &Actor) -> Result<KeyView> {
        let reason: Reason = reason.parse()?;
        self.simple(serial, &Event::Deactivate { reason }, actor)
            .await
    }

    /// Records that the key was wiped: back to stock.
    pub async fn confirm_wipe(&self, serial: &str, actor: &Actor) -> Result<KeyView> {
        self.simple(serial, &Event::ConfirmWipe, actor).await
    }

    /// Marks the key lost or stolen (terminal).
    pub async fn compromise(&self, serial: &str, reason: &str, actor: &Actor) -> Result<KeyView> {
        let reason: Reason = reason.parse()?;
        self.simple(serial, &Event::MarkCompromised { reason }, actor)
            .await
    }

    /// Removes a Ready or Compromised key from the inventory (its history stays in the audit log).
    pub async fn delete(&self, serial: &str, actor: &Actor) -> Result<()> {
        let serial = KeySerial::parse(serial)?;
        self.step(&serial, &Event::Delete, actor).await?;
        Ok(())
    }

    fn employees(&self) -> Employees<'a> {
        Employees::new(self.store)
    }

    async fn load(&self, serial: &KeySerial) -> Result<Key> {
        self.store
            .key(serial)
            .await?
            .ok_or_else(|| not_found(serial))
    }

    async fn view(&self, key: Key) -> Result<KeyView> {
        let owner = match key.employee_id {
            Some(id) => Some(self.employees().get(id).await?),
            None => None,
        };
        Ok(KeyView { key, owner })
    }

    async fn with_code(&self, key: Option<Key>, code: Option<ActivationCode>) -> Result<WithCode> {
        let (Some(key), Some(activation_code)) = (key, code) else {
            return Err(Error::Internal {
                source: "the transition issued no activation code".into(),
            });
        };
        Ok(WithCode {
            key: self.view(key).await?,
            activation_code,
        })
    }

    async fn simple(&self, serial: &str, event: &Event, actor: &Actor) -> Result<KeyView> {
        let serial = KeySerial::parse(serial)?;
        let (key, _) = self.step(&serial, event, actor).await?;
        let key = key.ok_or_else(|| not_found(&serial))?;
        self.view(key).await
    }

    /// Reads the key, applies `event` and stores the result.
    async fn step(
        &self,
        serial: &KeySerial,
        event: &Event,
        actor: &Actor,
    ) -> Result<(Option<Key>, Option<ActivationCode>)> {
        let key = self.load(serial).await?;
        let t = transition(Some(key.status), event, key.facts())?;
        self.store_transition(&key, event, &t, actor).await
    }

    /// Turns a transition's effects into a stored change with its audit record.
    async fn store_transition(
        &self,
        key: &Key,
        event: &Event,
        t: &Transition,
        actor: &Actor,
    ) -> Result<(Option<Key>, Option<ActivationCode>)> {
        let now = self.clock.now();
        let mut owner = key.employee_id;
        let mut wipe_pending = key.wipe_pending;
        let mut code = CodeChange::Keep;
        let mut issued: Option<ActivationCode> = None;
        let mut follow_ups: Vec<String> = Vec::new();
        let mut passwords: Vec<PasswordWrite> = Vec::new();
        let mut deleted = false;
        for effect in &t.effects {
            match effect {
                Effect::SetOwner(id) => owner = Some(*id),
                Effect::RemoveOwner => owner = None,
                Effect::IssueActivationCode => {
                    let policy = self.settings.activation_code_policy()?;
                    let new = policy.issue(now, &SystemRandom::new())?;
                    code = CodeChange::Replace(StoredCode {
                        code_hash: new.hash.encode(),
                        expires_at: new.expires_at,
                        attempts_used: 0,
                        issued_at: now,
                    });
                    issued = Some(new.code);
                }
                Effect::ConsumeActivationCode | Effect::CancelActivationCode => {
                    code = CodeChange::Delete;
                }
                Effect::QueueWipe => wipe_pending = true,
                Effect::DropPendingDeliveries => wipe_pending = false,
                // Password effects: see `password_effects` below.
                Effect::StartFirstRotation | Effect::RotateHeldPasswords => {}
                Effect::DeleteKey => deleted = true,
            }
        }
        if t.event == EventKind::ConfirmWipe {
            wipe_pending = false;
        }
        self.password_effects(key, t, owner, actor, now, &mut passwords, &mut follow_ups)
            .await?;
        let description = match event {
            Event::Suspend { description } if !description.is_empty() => Some(description.clone()),
            _ => None,
        };
        let state = match (deleted, t.to) {
            (false, Some(status)) => Some(KeyState {
                status,
                employee_id: owner,
                reason: t.reason,
                description: description.clone(),
                wipe_pending,
            }),
            _ => None,
        };
        let audit = NewAuditRecord {
            actor: actor.to_string(),
            action: format!("key.{}", t.event),
            subject: subject(&key.serial),
            detail: json!({
                "event": t.event.as_str(),
                "from": t.from.map(KeyStatus::as_str),
                "to": t.to.map(KeyStatus::as_str),
                "reason": t.reason.map(Reason::as_str),
                "description": description,
                "owner_before": key.employee_id,
                "owner_after": state.as_ref().and_then(|s| s.employee_id),
                "activation_code_issued": issued.is_some(),
                "wipe_queued": wipe_pending && !key.wipe_pending,
                "follow_ups": follow_ups,
            }),
            at: now,
        };
        let notify = match (t.event, state.as_ref().and_then(|s| s.employee_id)) {
            (EventKind::Assign, Some(owner)) if self.settings.mail.notify_key_assigned => {
                self.assigned_notice(&key.serial, owner, issued.as_ref())
                    .await?
            }
            _ => None,
        };
        let change = KeyChange {
            serial: key.serial.clone(),
            expected_version: key.version,
            state,
            code,
            audit,
            now,
            notify,
            passwords,
        };
        let after = self.store.apply_key_change(&change).await?;
        Ok((after, issued))
    }

    /// The notification of an assignment, for an owner with an e-mail. With
    /// `mail.include_activation_code` it carries the issued code sealed with the key-encryption
    /// key for its own outbox row, so the code is never stored in clear.
    async fn assigned_notice(
        &self,
        serial: &KeySerial,
        owner: EmployeeId,
        code: Option<&ActivationCode>,
    ) -> Result<Option<KeyNotice>> {
        let Some(email) = self.employees().get(owner).await?.email else {
            return Ok(None);
        };
        let id = uuid::Uuid::now_v7();
        let sealed_activation_code = match code {
            Some(code) if self.settings.mail.include_activation_code => {
                let kek = self.kek.get(self.settings, self.store).await?;
                Some(crate::mail::seal_activation_code(&kek, code, id, serial)?)
            }
            _ => None,
        };
        Ok(Some(KeyNotice {
            id,
            message: keyward_store::NewMessage {
                kind: "key_assigned",
                employee_id: owner,
                recipient: email.as_str().to_owned(),
                subject_ref: serial.to_string(),
            },
            sealed_activation_code,
        }))
    }

    /// Checks a code and applies `event` (Activate or Resume) when it is right; counts a wrong
    /// one; locks the key when the last attempt is wrong.
    async fn code_step(
        &self,
        key: Key,
        event: Event,
        presented: &str,
        actor: &Actor,
    ) -> Result<KeyView> {
        // The status must allow the event before a code is even looked at.
        let t = transition(Some(key.status), &event, key.facts())?;
        let stored = self
            .store
            .activation_code(&key.serial)
            .await?
            .ok_or_else(|| {
                Error::InvalidTransition(format!(
                    "key {} has no live activation code; an administrator must issue one",
                    key.serial
                ))
            })?;
        let hash = CodeHash::decode(&stored.code_hash)?;
        let policy = self.settings.activation_code_policy()?;
        let now = self.clock.now();
        match policy.check(
            &hash,
            stored.expires_at,
            stored.attempts_used,
            presented,
            now,
        ) {
            CodeCheck::Accepted => {
                let (after, _) = self.store_transition(&key, &event, &t, actor).await?;
                self.view(after.ok_or_else(|| not_found(&key.serial))?)
                    .await
            }
            CodeCheck::Expired => Err(Error::ActivationCodeExpired),
            CodeCheck::Wrong { attempts_left } => {
                let record = NewAuditRecord {
                    actor: actor.to_string(),
                    action: "key.activation_code_rejected".into(),
                    subject: subject(&key.serial),
                    detail: json!({ "status": key.status.as_str(), "attempts_left": attempts_left }),
                    at: now,
                };
                self.store
                    .count_failed_attempt(&key.serial, stored.attempts_used, &record)
                    .await?;
                Err(Error::WrongActivationCode { attempts_left })
            }
            CodeCheck::Exhausted => {
                let fail = Event::FailActivation;
                let t = transition(Some(key.status), &fail, key.facts())?;
                self.store_transition(&key, &fail, &t, actor).await?;
                Err(Error::ActivationAttemptsExhausted)
            }
        }
    }
}

impl Keys<'_> {
    /// The password writes a transition brings (stored in the key change's transaction).
    #[allow(clippy::too_many_arguments)]
    async fn password_effects(
        &self,
        key: &Key,
        t: &Transition,
        owner: Option<EmployeeId>,
        actor: &Actor,
        now: chrono::DateTime<chrono::Utc>,
        writes: &mut Vec<PasswordWrite>,
        follow_ups: &mut Vec<String>,
    ) -> Result<()> {
        for effect in &t.effects {
            match effect {
                Effect::StartFirstRotation => {
                    let owner = owner.ok_or_else(|| Error::Internal {
                        source: "an activation without an owner".into(),
                    })?;
                    self.first_rotations(key, owner, actor, now, writes, follow_ups)
                        .await?;
                }
                Effect::RotateHeldPasswords => {
                    self.rotate_held(key, actor, now, writes, follow_ups)
                        .await?;
                }
                _ => {}
            }
        }
        if t.to == Some(KeyStatus::Deactivated) {
            self.detach(key, actor, now, writes).await?;
        }
        Ok(())
    }

    /// Starts the first rotation of each rotation-group account of the key's new owner.
    async fn first_rotations(
        &self,
        key: &Key,
        owner: EmployeeId,
        actor: &Actor,
        now: chrono::DateTime<chrono::Utc>,
        writes: &mut Vec<PasswordWrite>,
        follow_ups: &mut Vec<String>,
    ) -> Result<()> {
        let ctx = PlanContext {
            store: self.store,
            settings: self.settings,
            kek: self.kek,
            now,
        };
        for account in self.store.accounts_of(owner).await? {
            if !account.in_rotation_group || !account.enabled || account.missing_since.is_some() {
                continue;
            }
            let row = self
                .store
                .account_password(account.directory.as_str(), account.object_guid)
                .await?;
            let planned = plan_rotation(
                &ctx,
                &account,
                row.as_ref(),
                Some(key.serial.to_string()),
                NewPassword::Generate,
                "key_activation",
                Method::Reset,
                actor,
            )
            .await;
            match planned {
                Ok(write) => writes.push(write),
                // The activation stands; the rotation is reported, not silently skipped.
                Err(e @ (Error::Config(_) | Error::RotationInFlight(_))) => {
                    tracing::warn!(
                        key = %key.serial,
                        account = %account.object_guid,
                        "first rotation not started: {e}"
                    );
                    follow_ups.push(format!(
                        "first rotation of {}/{} not started: {e}",
                        account.directory,
                        account.sam_account_name.as_deref().unwrap_or("?")
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A deactivated key no longer holds its accounts: drop what was in flight to it, except a
    /// candidate it already acknowledged, which goes on to the directory.
    async fn detach(
        &self,
        key: &Key,
        actor: &Actor,
        now: chrono::DateTime<chrono::Utc>,
        writes: &mut Vec<PasswordWrite>,
    ) -> Result<()> {
        for row in self
            .store
            .account_passwords(Some(key.serial.as_str()))
            .await?
        {
            let detached = state::detached(&row.state, "cancelled: the key was deactivated");
            let cancelled = row.state.pending.is_some() && detached.pending.is_none();
            writes.push(PasswordWrite {
                directory: row.directory.clone(),
                object_guid: row.object_guid,
                expected_row_version: Some(row.row_version),
                state: detached,
                audit: vec![keyward_model::NewAuditRecord {
                    actor: actor.to_string(),
                    action: "password.detached_from_key".into(),
                    subject: account_subject(&row.directory, row.object_guid),
                    detail: json!({ "key": key.serial.as_str(), "rotation_cancelled": cancelled }),
                    at: now,
                }],
                notify: None,
                now,
            });
        }
        Ok(())
    }

    /// A compromised key's passwords are replaced in the directory with values no key gets.
    async fn rotate_held(
        &self,
        key: &Key,
        actor: &Actor,
        now: chrono::DateTime<chrono::Utc>,
        writes: &mut Vec<PasswordWrite>,
        follow_ups: &mut Vec<String>,
    ) -> Result<()> {
        let ctx = PlanContext {
            store: self.store,
            settings: self.settings,
            kek: self.kek,
            now,
        };
        for row in self
            .store
            .account_passwords(Some(key.serial.as_str()))
            .await?
        {
            let Some(account) = self.store.account(&row.directory, row.object_guid).await? else {
                continue;
            };
            // Whatever was in flight is dropped first: the new candidate replaces it.
            let mut base = row.clone();
            base.state = state::replaced(&row.state, "replaced: the key was compromised");
            match plan_rotation(
                &ctx,
                &account,
                Some(&base),
                None,
                NewPassword::Generate,
                "key_compromised",
                Method::Reset,
                actor,
            )
            .await
            {
                Ok(mut write) => {
                    write.state = state::not_before_claim_ends(&row.state, write.state, now);
                    writes.push(write);
                }
                Err(e @ Error::Config(_)) => {
                    follow_ups.push(format!(
                        "password of {}/{} not rotated: {e}",
                        account.directory,
                        account.sam_account_name.as_deref().unwrap_or("?")
                    ));
                    writes.push(PasswordWrite {
                        directory: row.directory.clone(),
                        object_guid: row.object_guid,
                        expected_row_version: Some(row.row_version),
                        state: base.state,
                        audit: Vec::new(),
                        notify: None,
                        now,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for Keys<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

fn subject(serial: &KeySerial) -> String {
    format!("key:{serial}")
}

fn not_found(serial: &KeySerial) -> Error {
    Error::NotFound {
        what: "key",
        key: serial.to_string(),
    }
}
