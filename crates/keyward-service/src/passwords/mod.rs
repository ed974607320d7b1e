//! Password rotation (docs/product.md §3): who may start one, what `passwords status` shows,
//! and the directory step that the server's worker runs.
//!
//! A rotation is a stored state machine (the pure rules of `keyward_rotation`, called here
//! [`state`]): a sealed candidate is stored as pending
//! version n+1 before it leaves the process; the agent API delivers it to the key and records
//! the key's acknowledgement ([`crate::Agent`]); only then does [`Passwords::advance_due`] set
//! it in the directory; the commit keeps it as the current version. A candidate the directory
//! refuses is rolled back on the key. Every step is one version-checked write, so a crash at any
//! point resumes from the stored state and two workers never both advance one rotation.
//!
//! What it must never do: return, log or put in an error a password. Only the agent API hands a
//! candidate out, to the workstation that holds the key.

mod engine;

/// The rotation rules, under the name the use cases call them by (`state::start`, …).
pub(crate) use keyward_rotation as state;

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use keyward_model::{DirectoryAccount, Employee, EmployeeId, NewAuditRecord};
use keyward_password::{AccountNames, PasswordPolicy, SecretString};
use keyward_rotation::{Method, PasswordState, RotationState};
use keyward_store::{AccountPassword, PasswordWrite, Store};
use ring::rand::SystemRandom;
use serde_json::json;

use crate::context::Context;
use crate::directory_policy::{AccountPolicy, PolicyCell};
use crate::secrets::{KekCell, seal_password};
use crate::{Actor, Employees, Error, Result, Settings};
pub use engine::AdvanceReport;

/// The password, or how to make it, for an administrator's `passwords set`.
#[derive(Debug)]
pub enum NewPassword {
    /// Generate one from the directory's policy.
    Generate,
    /// This one (checked against the directory's policy).
    Given(SecretString),
}

/// One account's password state, as `passwords status` shows it. Never holds a password.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PasswordStatus {
    /// The employee.
    pub employee_id: EmployeeId,
    /// The directory.
    pub directory: String,
    /// The account's objectGUID.
    pub object_guid: uuid::Uuid,
    /// The account's sAMAccountName.
    pub sam_account_name: Option<String>,
    /// The key that holds the account.
    pub key_serial: Option<String>,
    /// The committed version (0: never rotated by keyward).
    pub version: i64,
    /// `idle`, `awaiting_key`, `awaiting_directory` or `rolling_back`; `not_on_a_key` for an
    /// account keyward has never handled.
    pub state: String,
    /// What the rotation in flight waits for, in words.
    pub waiting_for: Option<String>,
    /// The version in flight.
    pub pending_version: Option<i64>,
    /// Why it was started.
    pub reason: Option<String>,
    /// Since when it waits.
    pub waiting_since: Option<DateTime<Utc>>,
    /// True when it has waited for its key longer than `passwords.key_wait_warn_hours`, or
    /// when the directory has failed `passwords.max_attempts` times (stalled; still retried).
    pub overdue: bool,
    /// When the committed version was committed.
    pub last_commit: Option<DateTime<Utc>>,
    /// Directory attempts of the rotation in flight.
    pub attempts: u32,
    /// When the next directory attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last failure.
    pub last_error: Option<String>,
}

/// Password rotation use cases.
#[derive(Clone, Copy, Debug)]
pub struct Passwords<'a> {
    ctx: Context<'a>,
}

impl<'a> Passwords<'a> {
    pub(crate) fn new(ctx: Context<'a>) -> Self {
        Self { ctx }
    }

    /// Starts a rotation with a generated password for each account of an employee that lives
    /// on a key or is in its directory's rotation group (only those of `directory` if given).
    pub async fn rotate(
        &self,
        employee: &str,
        directory: Option<&str>,
        actor: &Actor,
    ) -> Result<Vec<PasswordStatus>> {
        let owner = Employees::new(self.ctx.store).find(employee).await?;
        let key = self.active_key_of(&owner).await?;
        let mut chosen = Vec::new();
        for account in self.ctx.store.accounts_of(owner.id).await? {
            if directory.is_some_and(|d| d != account.directory.as_str()) {
                continue;
            }
            let row = self
                .ctx
                .store
                .account_password(account.directory.as_str(), account.object_guid)
                .await?;
            let on_key = row.as_ref().is_some_and(|r| r.state.key_serial.is_some());
            if directory.is_some() || account.in_rotation_group || on_key {
                usable(&account)?;
                chosen.push((account, row));
            }
        }
        if chosen.is_empty() {
            return Err(Error::InvalidInput(format!(
                "employee {} has no account to rotate{}; an account must be in its directory's \
                 rotation group or be named with --directory",
                owner.id,
                directory
                    .map(|d| format!(" in directory {d}"))
                    .unwrap_or_default()
            )));
        }
        let mut writes = Vec::new();
        for (account, row) in &chosen {
            writes.push(
                self.plan(
                    account,
                    row.as_ref(),
                    &key,
                    NewPassword::Generate,
                    "admin_generate",
                    Method::Reset,
                    actor,
                )
                .await?,
            );
        }
        for write in &writes {
            self.ctx.store.save_account_password(write).await?;
        }
        self.status(Some(&owner.id.to_string())).await
    }

    /// Sets the password of an employee's account in `directory` to a given or generated
    /// value, through the key like any rotation.
    pub async fn set(
        &self,
        employee: &str,
        directory: &str,
        password: NewPassword,
        actor: &Actor,
    ) -> Result<PasswordStatus> {
        let owner = Employees::new(self.ctx.store).find(employee).await?;
        let key = self.active_key_of(&owner).await?;
        let mut accounts: Vec<DirectoryAccount> = self
            .ctx
            .store
            .accounts_of(owner.id)
            .await?
            .into_iter()
            .filter(|a| a.directory.as_str() == directory)
            .collect();
        let account = match accounts.len() {
            0 => {
                return Err(Error::NotFound {
                    what: "account of the employee in directory",
                    key: directory.to_owned(),
                });
            }
            1 => accounts.remove(0),
            n => {
                return Err(Error::InvalidInput(format!(
                    "employee {} has {n} accounts in directory {directory}; keyward does not \
                     support setting one of several",
                    owner.id
                )));
            }
        };
        usable(&account)?;
        let row = self
            .ctx
            .store
            .account_password(directory, account.object_guid)
            .await?;
        let reason = match password {
            NewPassword::Generate => "admin_generate",
            NewPassword::Given(_) => "admin_set",
        };
        let write = self
            .plan(
                &account,
                row.as_ref(),
                &key,
                password,
                reason,
                Method::Reset,
                actor,
            )
            .await?;
        self.ctx.store.save_account_password(&write).await?;
        let mut status = self.status(Some(&owner.id.to_string())).await?;
        status.retain(|s| s.object_guid == account.object_guid && s.directory == directory);
        status.pop().ok_or_else(|| Error::Internal {
            source: "the stored rotation is not in the status".into(),
        })
    }

    /// Every account's password state (only one employee's with `employee`).
    pub async fn status(&self, employee: Option<&str>) -> Result<Vec<PasswordStatus>> {
        let now = self.ctx.clock.now();
        let warn = Duration::hours(i64::from(self.ctx.settings.passwords.key_wait_warn_hours));
        let rows: HashMap<(String, uuid::Uuid), AccountPassword> = self
            .ctx
            .store
            .account_passwords(None)
            .await?
            .into_iter()
            .map(|r| ((r.directory.clone(), r.object_guid), r))
            .collect();
        let accounts = match employee {
            Some(e) => {
                let owner = Employees::new(self.ctx.store).find(e).await?;
                self.ctx.store.accounts_of(owner.id).await?
            }
            None => self.ctx.store.all_accounts().await?,
        };
        let mut out = Vec::new();
        for account in accounts {
            let key = (account.directory.as_str().to_owned(), account.object_guid);
            let row = rows.get(&key);
            if row.is_none() && employee.is_none() && !account.in_rotation_group {
                continue;
            }
            out.push(describe(
                &account,
                row.map(|r| &r.state),
                now,
                warn,
                self.ctx.settings.passwords.max_attempts,
            ));
        }
        Ok(out)
    }

    /// Starts a rotation for every committed password older than its directory's
    /// `max_password_age_days` whose key is Active. Returns how many started.
    pub async fn rotate_expired(&self) -> Result<usize> {
        let now = self.ctx.clock.now();
        let mut started = 0;
        for row in self.ctx.store.account_passwords(None).await? {
            let Some(config) = self.ctx.settings.directory(&row.directory) else {
                continue;
            };
            let days = config.max_password_age_days;
            let (Some(committed), Some(serial)) = (row.state.committed_at, &row.state.key_serial)
            else {
                continue;
            };
            if days == 0
                || row.state.state != RotationState::Idle
                || committed + Duration::days(i64::from(days)) > now
            {
                continue;
            }
            let Some(account) = self
                .ctx
                .store
                .account(&row.directory, row.object_guid)
                .await?
            else {
                continue;
            };
            if usable(&account).is_err() || !account.in_rotation_group {
                continue;
            }
            let key = keyward_keys::KeySerial::parse(serial)?;
            let Some(key) = self.ctx.store.key(&key).await? else {
                continue;
            };
            if key.status != keyward_keys::KeyStatus::Active
                || key.employee_id != Some(account.employee_id)
            {
                continue;
            }
            let planned = self
                .plan(
                    &account,
                    Some(&row),
                    &key.serial.to_string(),
                    NewPassword::Generate,
                    "max_age",
                    Method::Reset,
                    &Actor::System,
                )
                .await;
            // One account that cannot be rotated (a policy its name makes impossible, a
            // missing key-encryption key) must not keep the others from their rotation.
            let write = match planned {
                Ok(write) => write,
                Err(e @ (Error::Unavailable { .. } | Error::Internal { .. })) => return Err(e),
                Err(e) => {
                    tracing::warn!(
                        directory = %row.directory,
                        account = %row.object_guid,
                        "maximum-age rotation not started: {e}"
                    );
                    continue;
                }
            };
            match self.ctx.store.save_account_password(&write).await {
                Ok(_) => started += 1,
                Err(keyward_store::Error::Stale { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(started)
    }

    /// The serial of the employee's Active key.
    async fn active_key_of(&self, owner: &Employee) -> Result<String> {
        let keys = self.ctx.store.keys_of(owner.id).await?;
        keys.into_iter()
            .find(|k| k.status == keyward_keys::KeyStatus::Active)
            .map(|k| k.serial.to_string())
            .ok_or_else(|| {
                Error::InvalidTransition(format!(
                    "employee {} has no Active key: a password goes to the key before the \
                     directory, so assign and activate a key first",
                    owner.id
                ))
            })
    }

    /// Makes (or checks) the candidate, seals it and computes the write that starts the
    /// rotation.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn plan(
        &self,
        account: &DirectoryAccount,
        row: Option<&AccountPassword>,
        key_serial: &str,
        password: NewPassword,
        reason: &str,
        method: Method,
        actor: &Actor,
    ) -> Result<PasswordWrite> {
        plan_rotation(
            &self.ctx.plan_at(self.ctx.clock.now()),
            account,
            row,
            Some(key_serial.to_owned()),
            password,
            reason,
            method,
            actor,
        )
        .await
    }
}

/// What [`plan_rotation`] needs from its caller.
pub(crate) struct PlanContext<'a> {
    pub(crate) store: &'a Store,
    pub(crate) settings: &'a Settings,
    pub(crate) kek: &'a KekCell,
    pub(crate) policies: &'a PolicyCell,
    pub(crate) now: DateTime<Utc>,
}

/// Makes (or checks) a candidate, seals it for version n+1 and returns the write that starts
/// the rotation. `key_serial` `None` skips the key (a compromised key's accounts).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn plan_rotation(
    ctx: &PlanContext<'_>,
    account: &DirectoryAccount,
    row: Option<&AccountPassword>,
    key_serial: Option<String>,
    password: NewPassword,
    reason: &str,
    method: Method,
    actor: &Actor,
) -> Result<PasswordWrite> {
    let directory = account.directory.as_str();
    let current = row.map_or_else(
        || PasswordState::new(key_serial.clone()),
        |r| r.state.clone(),
    );
    if current.state != RotationState::Idle {
        return Err(Error::RotationInFlight(format!(
            "account {directory}/{} already has a rotation to version {} under way; wait for it \
             (see `keyward passwords status`)",
            account.sam_account_name.as_deref().unwrap_or("?"),
            current.pending.as_ref().map_or(0, |p| p.version)
        )));
    }
    let config = ctx.settings.directory(directory).ok_or_else(|| {
        Error::Config(format!(
            "directory {directory} is not configured; add it to [[directories]]"
        ))
    })?;
    if config.insecure_skip_tls_verify {
        // No password goes where anyone on the path could read it.
        return Err(Error::Config(format!(
            "directory {directory} has insecure_skip_tls_verify on, so its certificate is not \
             verified and no password operation is allowed; set ca_file instead"
        )));
    }
    let names = AccountNames {
        sam_account_name: account.sam_account_name.as_deref(),
        display_name: account.display_name.as_deref(),
    };
    let (directory_policy, policy) = effective_policy(ctx, config, account, method).await?;
    let rules = match &directory_policy {
        Some(AccountPolicy::Known(rules)) => Some(rules),
        _ => None,
    };
    let candidate = match password {
        NewPassword::Generate => policy
            .generate(&names, &SystemRandom::new())
            .map_err(|e| Error::Config(format!("directory {directory}: {e}")))?,
        NewPassword::Given(given) => {
            if method == Method::Reset {
                let checked = match rules {
                    Some(rules) => config
                        .password_policy
                        .validate_for_directory(&given, &names, rules),
                    None => policy.validate(&given, &names),
                };
                checked
                    .map_err(|v| Error::PasswordPolicy(format!("the password is refused: {v}")))?;
            }
            given
        }
    };
    let kek = ctx.kek.get(ctx.settings, ctx.store).await?;
    let version = current.version + 1;
    let sealed = seal_password(&kek, &candidate, directory, account.object_guid, version)?;
    drop(candidate);
    let next = state::start(
        &current,
        key_serial.clone(),
        state::Candidate {
            sealed,
            method,
            reason,
            requested_by: actor.to_string(),
        },
        ctx.now,
    );
    Ok(PasswordWrite {
        directory: directory.to_owned(),
        object_guid: account.object_guid,
        expected_row_version: row.map(|r| r.row_version),
        state: next,
        audit: vec![NewAuditRecord {
            actor: actor.to_string(),
            action: "password.rotation_started".into(),
            subject: account_subject(directory, account.object_guid),
            detail: json!({
                "version": version,
                "reason": reason,
                "method": method.as_str(),
                "key": key_serial,
                "sam_account_name": account.sam_account_name,
                "directory_policy": match &directory_policy {
                    Some(AccountPolicy::Known(rules)) => rules.source.clone(),
                    Some(AccountPolicy::Unknown(why)) => format!("unknown: {why}"),
                    None => "checked by the directory (user change)".to_owned(),
                },
            }),
            at: ctx.now,
        }],
        notify: None,
        now: ctx.now,
    })
}

/// The directory's own policy for the account (its domain policy or its fine-grained one; a
/// user change is checked by the directory itself, so it reads none), and keyward's policy
/// made at least as strict.
async fn effective_policy(
    ctx: &PlanContext<'_>,
    config: &keyward_directory::DirectoryConfig,
    account: &DirectoryAccount,
    method: Method,
) -> Result<(Option<AccountPolicy>, PasswordPolicy)> {
    let directory = account.directory.as_str();
    if method != Method::Reset {
        return Ok((None, config.password_policy.clone()));
    }
    let found = ctx
        .policies
        .for_account(ctx.settings, directory, &account.dn)
        .await;
    let policy = match &found {
        AccountPolicy::Known(rules) => config
            .password_policy
            .for_directory(rules)
            .map_err(|e| Error::Config(format!("directory {directory}: {e}")))?,
        AccountPolicy::Unknown(why) => {
            tracing::warn!(
                directory,
                account = %account.object_guid,
                "the directory's password policy is not known ({why}); keyward's own policy alone applies"
            );
            config.password_policy.clone()
        }
    };
    Ok((Some(found), policy))
}

/// The audit subject of an account.
pub(crate) fn account_subject(directory: &str, object_guid: uuid::Uuid) -> String {
    format!("account:{directory}/{object_guid}")
}

/// Refuses accounts a password must not be sent for.
fn usable(account: &DirectoryAccount) -> Result<()> {
    let name = account.sam_account_name.as_deref().unwrap_or("?");
    if !account.enabled {
        return Err(Error::InvalidInput(format!(
            "account {}/{name} is disabled in the directory",
            account.directory
        )));
    }
    if account.missing_since.is_some() {
        return Err(Error::InvalidInput(format!(
            "account {}/{name} is no longer in the directory's sync scope",
            account.directory
        )));
    }
    Ok(())
}

fn describe(
    account: &DirectoryAccount,
    row: Option<&PasswordState>,
    now: DateTime<Utc>,
    warn: Duration,
    stall_after: u32,
) -> PasswordStatus {
    let base = PasswordStatus {
        employee_id: account.employee_id,
        directory: account.directory.as_str().to_owned(),
        object_guid: account.object_guid,
        sam_account_name: account.sam_account_name.clone(),
        key_serial: None,
        version: 0,
        state: "not_on_a_key".into(),
        waiting_for: None,
        pending_version: None,
        reason: None,
        waiting_since: None,
        overdue: false,
        last_commit: None,
        attempts: 0,
        next_attempt_at: None,
        last_error: None,
    };
    let Some(s) = row else {
        return base;
    };
    let pending = s.pending.as_ref();
    let (waiting_for, since) = match s.state {
        RotationState::Idle => (None, None),
        RotationState::AwaitingKey => (
            Some("the key to acknowledge the new password (its workstation must sync)".to_owned()),
            pending.map(|p| p.requested_at),
        ),
        RotationState::AwaitingDirectory => (
            Some("the directory to accept the new password".to_owned()),
            pending.and_then(|p| p.acknowledged_at.or(Some(p.requested_at))),
        ),
        RotationState::RollingBack => (
            Some("the key to go back to the committed password".to_owned()),
            pending.map(|p| p.requested_at),
        ),
    };
    PasswordStatus {
        key_serial: s.key_serial.clone(),
        version: s.version,
        state: s.state.as_str().to_owned(),
        overdue: match s.state {
            RotationState::AwaitingKey => since.is_some_and(|t| now - t > warn),
            RotationState::AwaitingDirectory => s.attempts >= stall_after,
            RotationState::Idle | RotationState::RollingBack => false,
        },
        waiting_for,
        pending_version: pending.map(|p| p.version),
        reason: pending.map(|p| p.reason.clone()),
        waiting_since: since,
        last_commit: s.committed_at,
        attempts: s.attempts,
        next_attempt_at: s.next_attempt_at,
        last_error: s.last_error.clone(),
        ..base
    }
}
