//! Hardware-key operations: the lifecycle of docs/product.md §2 applied with its effects and its
//! audit record in one transaction.
//!
//! Each operation reads the key, asks [`keyward_keys::transition`] what the event does, turns the
//! returned effects into a [`KeyChange`] and stores it. The change is version-checked, so of two
//! concurrent operations on one key exactly one wins; the other gets
//! [`Error::ConcurrentChange`].
//!
//! Effects on passwords are stored in the same transaction as the key change: an activation
//! starts the first rotation of the owner's rotation-group accounts (docs/product.md §3), a
//! deactivation drops what was in flight to the key, and marking a key compromised rotates
//! every password it held straight in the directory, so whoever has the key loses access
//! ([`passwords`]).
//!
//! So is what the step does to the key's holder ([`keyward_keys::holder_rule`]): every status
//! change releases the workstation that held the key or forgets it with the proof; only a code
//! typed on a workstation ([`codes`]) makes that workstation the holder, with a new proof.

mod codes;
mod passwords;

use std::collections::HashMap;

use keyward_keys::{
    ActivationCode, Effect, Event, EventKind, HolderRule, Key, KeySerial, KeyStatus, Reason,
    Transition, holder_rule, transition,
};
use keyward_model::{
    AuditRecord, Cursor, Employee, EmployeeId, EmployeeStatus, NewAuditRecord, Page, PageRequest,
};
use keyward_password::SecretString;
use keyward_store::{
    BindingChange, CodeChange, KeyChange, KeyNotice, KeyState, PasswordWrite, StoredCode,
};
use serde_json::json;

use codes::Prover;
pub(crate) use codes::code_is_live;

use crate::context::Context;
use crate::{Actor, Employees, Error, Result};

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
#[derive(Clone, Copy, Debug)]
pub struct Keys<'a> {
    ctx: Context<'a>,
}

impl<'a> Keys<'a> {
    pub(crate) fn new(ctx: Context<'a>) -> Self {
        Self { ctx }
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
                return Err(Error::GivenTwice {
                    what: "serial",
                    key: serial.to_string(),
                });
            }
            // Checks the table's import row (a new serial only) for each key.
            transition(None, &Event::Import, keyward_keys::KeyFacts::default())?;
            parsed.push(serial);
        }
        let now = self.ctx.clock.now();
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
        Ok(self.ctx.store.import_keys(&parsed, now, &audits).await?)
    }

    /// One page of keys by serial, optionally only those in a status, each with its owner.
    /// `after` is the `next_cursor` of the previous page; `limit` 1 to 1000 (default 100).
    pub async fn list(
        &self,
        status: Option<&str>,
        after: Option<String>,
        limit: Option<u32>,
    ) -> Result<Page<KeyView>> {
        let status = status.map(str::parse::<KeyStatus>).transpose()?;
        let request = PageRequest::new(after.map(Cursor::new), limit)?;
        let page = self.ctx.store.list_keys(status, &request).await?;
        Ok(Page {
            items: self.with_owners(page.items).await?,
            next_cursor: page.next_cursor,
        })
    }

    /// The keys with their owners, read in one query per chunk of owners.
    async fn with_owners(&self, keys: Vec<Key>) -> Result<Vec<KeyView>> {
        let mut ids: Vec<EmployeeId> = keys.iter().filter_map(|k| k.employee_id).collect();
        ids.sort_unstable();
        ids.dedup();
        // One query per chunk of owners, not one per key.
        let owners: HashMap<EmployeeId, Employee> = self
            .ctx
            .store
            .employees_by_ids(&ids)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        if let Some(missing) = ids.iter().find(|id| !owners.contains_key(id)) {
            return Err(Error::NotFound {
                what: "employee",
                key: missing.to_string(),
            });
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

    /// The keys held by any of `employees` (one page of a list), without their owners.
    pub async fn of_employees(&self, employees: &[EmployeeId]) -> Result<Vec<Key>> {
        Ok(self.ctx.store.keys_of_many(employees).await?)
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
            .ctx
            .store
            .list_audit(Some(&subject(&serial)), 0, 100_000)
            .await?;
        if records.is_empty() && self.ctx.store.key(&serial).await?.is_none() {
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
            .ctx
            .store
            .keys_of(owner.id)
            .await?
            .into_iter()
            .filter(|k| k.status.has_owner() && k.serial != serial)
            .count();
        let limit = usize::from(self.ctx.settings.keys.per_employee);
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

    /// An administrator submits the activation code the user read out: resumes a Suspended
    /// key. No workstation holds the key afterwards; the one with the key in hand proves it
    /// with the key proof. A Reserved key is activated only on a workstation (the code typed
    /// there), since an administrator's action never hands a key to a workstation.
    pub async fn submit_code(&self, serial: &str, code: &str, actor: &Actor) -> Result<KeyView> {
        let serial = KeySerial::parse(serial)?;
        Ok(self.code_step(&serial, None, code, actor, None).await?.0)
    }

    /// Activates a Reserved key with its code (administrator: refused, see
    /// [`Keys::submit_code`]).
    pub async fn activate(&self, serial: &str, code: &str, actor: &Actor) -> Result<KeyView> {
        let serial = KeySerial::parse(serial)?;
        Ok(self
            .code_step(&serial, Some(Event::Activate), code, actor, None)
            .await?
            .0)
    }

    /// Resumes a Suspended key with its code (administrator: see [`Keys::submit_code`]).
    pub async fn resume(&self, serial: &str, code: &str, actor: &Actor) -> Result<KeyView> {
        let serial = KeySerial::parse(serial)?;
        Ok(self
            .code_step(&serial, Some(Event::Resume), code, actor, None)
            .await?
            .0)
    }

    /// The activation code typed on workstation `ws`: activates a Reserved key or resumes a
    /// Suspended one, and makes `ws` its holder with a new key proof (returned, shown once) in
    /// the same write.
    pub(crate) async fn submit_code_on_workstation(
        &self,
        serial: &KeySerial,
        code: &str,
        ws: uuid::Uuid,
    ) -> Result<(KeyView, SecretString)> {
        let (view, proof) = self
            .code_step(serial, None, code, &Actor::Workstation(ws), Some(ws))
            .await?;
        let proof = proof.ok_or_else(|| Error::Internal {
            source: "an activation on a workstation issued no key proof".into(),
        })?;
        Ok((view, proof))
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
        Employees::new(self.ctx.store)
    }

    async fn load(&self, serial: &KeySerial) -> Result<Key> {
        self.ctx
            .store
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
        self.store_transition(&key, event, &t, actor, None).await
    }

    /// Turns a transition's effects into a stored change with its audit record. `prover` is
    /// the workstation that proved possession in this step (the code typed on it) with the
    /// SHA-256 of its new key proof; what becomes of the holder follows
    /// [`keyward_keys::holder_rule`].
    async fn store_transition(
        &self,
        key: &Key,
        event: &Event,
        t: &Transition,
        actor: &Actor,
        prover: Option<&Prover>,
    ) -> Result<(Option<Key>, Option<ActivationCode>)> {
        let now = self.ctx.clock.now();
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
                    let new = self.issue_code(now).await?;
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
        let binding = match (holder_rule(t.event), prover) {
            (HolderRule::Forget, _) => BindingChange::Clear,
            (HolderRule::Release, _) | (HolderRule::ProverHolds, None) => BindingChange::Release,
            (HolderRule::ProverHolds, Some(p)) => BindingChange::Issue {
                holder: p.workstation.to_string(),
                proof_hash: p.proof_hash.clone(),
            },
        };
        let state = match (deleted, t.to) {
            (false, Some(status)) => Some(KeyState {
                status,
                employee_id: owner,
                reason: t.reason,
                description: description.clone(),
                wipe_pending,
                binding,
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
                "holder_before": key.linked_workstation,
                "holder_after": prover.map(|p| p.workstation),
                "follow_ups": follow_ups,
            }),
            at: now,
        };
        let notify = match (t.event, state.as_ref().and_then(|s| s.employee_id)) {
            (EventKind::Assign, Some(owner)) if self.ctx.settings.mail.notify_key_assigned => {
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
        let after = self.ctx.store.apply_key_change(&change).await?;
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
            Some(code) if self.ctx.settings.mail.include_activation_code => {
                let kek = self.ctx.kek.get(self.ctx.settings, self.ctx.store).await?;
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
