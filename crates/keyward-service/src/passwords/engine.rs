//! The directory step of a rotation: after the key acknowledged version n+1, set it in the
//! directory, then commit. Run by the server's worker; safe to run in several processes at once
//! (each due step is claimed first, and a crashed worker's claim expires).
//!
//! The controller pin (docs/product.md §3.3): before the first write of a rotation leaves the
//! process, the domain controller it goes to is stored with the candidate; every further step
//! (the retry, the verifying bind that decides a refusal, the check whether a user change was
//! applied already) goes to that controller only, since another one may not have replicated
//! the write yet. Unreachable, it makes the step transient, never a refusal.

use std::sync::{Mutex, PoisonError};

use chrono::Duration;
use keyward_directory::{DirectoryClient, Error as DirError, Session};
use keyward_model::{DomainController, NewAuditRecord};
use keyward_password::SecretString;
use keyward_rotation::{LastCommit, Route};
use keyward_store::{AccountPassword, NewMessage, PasswordWrite};
use serde_json::json;

use super::state::{self, Method};
use super::{Passwords, account_subject};
use crate::secrets::open_password;
use crate::{Directories, Error, Result};

/// What one pass of [`Passwords::advance_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AdvanceReport {
    /// Rotations the directory took and that are now committed.
    pub committed: usize,
    /// Candidates the directory refused; the key is rolled back.
    pub refused: usize,
    /// Transient failures that will be retried.
    pub retried: usize,
}

/// Directory steps one pass tries at most; the next pass goes on.
const MAX_STEPS_PER_PASS: usize = 100;

/// How a directory attempt ended.
enum Attempt {
    /// The directory holds the candidate; where and at which `unicodePwd` version when the
    /// controller said.
    Applied(Option<LastCommit>),
    Refused(String),
    Transient(String),
}

/// What a directory step did when nothing failed.
enum Wrote {
    /// The candidate was written (where, when known).
    Applied(Option<LastCommit>),
    /// Nothing was written: the controller reached has not replicated the account's last
    /// committed password (the message says which and how far behind).
    Behind(String),
}

/// How a stored attempt is counted in the [`AdvanceReport`] (and the server's
/// `keyward_rotation_directory_steps_total`).
#[derive(Clone, Copy)]
enum Outcome {
    Committed,
    Refused,
    Retried,
}

impl Attempt {
    fn outcome(&self) -> Outcome {
        match self {
            Self::Applied(_) => Outcome::Committed,
            Self::Refused(_) => Outcome::Refused,
            Self::Transient(_) => Outcome::Retried,
        }
    }
}

impl Passwords<'_> {
    /// Runs every due directory step once. Steps are claimed one at a time, so a claim never
    /// runs out while earlier steps of the same pass wait for a slow directory.
    pub async fn advance_due(&self) -> Result<AdvanceReport> {
        let claim = Duration::seconds(
            i64::try_from(self.ctx.settings.passwords.claim_secs).unwrap_or(i64::MAX / 1000),
        );
        let mut report = AdvanceReport::default();
        let mut tried: Vec<(String, uuid::Uuid)> = Vec::new();
        while tried.len() < MAX_STEPS_PER_PASS {
            let now = self.ctx.clock.now();
            let Some(row) = self
                .ctx
                .store
                .claim_directory_steps(now, now + claim, 1, &tried)
                .await?
                .pop()
            else {
                break;
            };
            tried.push((row.directory.clone(), row.object_guid));
            self.advance_one(&row, &mut report).await?;
        }
        Ok(report)
    }

    /// One directory attempt for a claimed step, and its outcome stored version-checked.
    async fn advance_one(&self, row: &AccountPassword, report: &mut AdvanceReport) -> Result<()> {
        let p = &self.ctx.settings.passwords;
        // The attempt ends well inside the claim, so no other worker (nor the replacement
        // rotation of a compromised key, scheduled after this claim) can overlap it.
        let budget = std::time::Duration::from_secs(p.claim_secs.saturating_mul(3) / 4)
            .max(std::time::Duration::from_secs(1));
        // The row as this worker last wrote it: the attempt itself may store the controller
        // pin (or release one) before it writes to the directory.
        let latest = Mutex::new(row.clone());
        let attempt = match tokio::time::timeout(budget, self.attempt(&latest)).await {
            Ok(attempt) => attempt,
            Err(_) => Attempt::Transient(format!(
                "the directory step took longer than {} s (3/4 of passwords.claim_secs)",
                budget.as_secs()
            )),
        };
        let row = &current(&latest);
        let now = self.ctx.clock.now();
        let outcome = attempt.outcome();
        let (next, audit_action, error) = match attempt {
            Attempt::Applied(written) => match state::committed(&row.state, now, written) {
                Some(next) => (next, "password.committed", None),
                None => return Ok(()),
            },
            Attempt::Refused(e) => (
                state::refused(&row.state, e.clone()),
                "password.refused",
                Some(e),
            ),
            // A transient failure never rolls the key back: the directory may hold the
            // candidate already (a reset whose reply was lost), and going back would lock the
            // owner out. It is retried for as long as it takes and reported as stalled.
            Attempt::Transient(e) => {
                let attempts = row.state.attempts.saturating_add(1);
                let stalled = attempts >= p.max_attempts;
                let e = if stalled {
                    format!("stalled, still retrying after {attempts} attempts: {e}")
                } else {
                    e
                };
                if attempts == p.max_attempts {
                    tracing::warn!(
                        directory = %row.directory,
                        account = %row.object_guid,
                        attempts,
                        "password rotation stalled: the directory keeps failing; it is retried \
                         every {} s until it succeeds",
                        p.retry_max_secs
                    );
                }
                (
                    state::retry(
                        &row.state,
                        e.clone(),
                        now,
                        p.retry_base_secs,
                        p.retry_max_secs,
                    ),
                    if attempts == p.max_attempts {
                        "password.directory_stalled"
                    } else {
                        "password.directory_retry"
                    },
                    Some(e),
                )
            }
        };
        let pending = row.state.pending.as_ref();
        let audit = NewAuditRecord {
            actor: "system".into(),
            action: audit_action.into(),
            subject: account_subject(&row.directory, row.object_guid),
            detail: json!({
                "version": pending.map(|p| p.version),
                "reason": pending.map(|p| p.reason.clone()),
                "attempts": next.attempts,
                "error": error,
                "controller": controller_json(pending.and_then(|p| p.controller.as_ref())),
            }),
            at: now,
        };
        let notify = if audit_action == "password.committed" {
            self.rotated_notice(row).await?
        } else {
            None
        };
        let write = PasswordWrite {
            directory: row.directory.clone(),
            object_guid: row.object_guid,
            expected_row_version: Some(row.row_version),
            state: next,
            audit: vec![audit],
            notify,
            now,
        };
        match self.ctx.store.save_account_password(&write).await {
            // Counted by what the directory answered, which is also the audit record's action.
            Ok(_) => match outcome {
                Outcome::Committed => report.committed += 1,
                Outcome::Refused => report.refused += 1,
                Outcome::Retried => report.retried += 1,
            },
            // Our claim expired and another worker took the step: it decides.
            Err(keyward_store::Error::Stale { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// One directory attempt for a claimed row.
    async fn attempt(&self, latest: &Mutex<AccountPassword>) -> Attempt {
        match self.try_directory(latest).await {
            Ok(Wrote::Applied(written)) => Attempt::Applied(written),
            Ok(Wrote::Behind(why)) => Attempt::Transient(why),
            Err(Error::Directory(e)) if refused_by_the_directory(&e) => {
                // The directory refused the write, but an earlier attempt (one whose reply was
                // lost, or one of a worker that crashed after the write) may have set the
                // candidate already; rolling the key back then would lock the owner out. So a
                // refusal counts only when the candidate does not bind, on the controller the
                // writes went to: another one may not have replicated them yet.
                let row = current(latest);
                match self.candidate_binds(&row, pin_of(&row)).await {
                    Ok(true) => Attempt::Applied(None),
                    Ok(false) => Attempt::Refused(e.to_string()),
                    Err(check) => Attempt::Transient(format!(
                        "{e}; and whether the directory holds the candidate could not be \
                         checked: {check}"
                    )),
                }
            }
            Err(Error::Directory(e)) => classify(e),
            Err(e @ (Error::Config(_) | Error::NotFound { .. } | Error::InvalidInput(_))) => {
                Attempt::Refused(e.to_string())
            }
            Err(e) => Attempt::Transient(e.to_string()),
        }
    }

    /// Whether the pending candidate is the account's password now: a bind, on `on` when the
    /// rotation is pinned there.
    async fn candidate_binds(
        &self,
        row: &AccountPassword,
        on: Option<&DomainController>,
    ) -> Result<bool> {
        let (dn, candidate) = self.dn_and_candidate(row).await?;
        let client = Directories::new(self.ctx.settings).client(&row.directory)?;
        Ok(client.verify_password_on(on, &dn, &candidate).await?)
    }

    /// The account's DN and the opened pending candidate.
    async fn dn_and_candidate(&self, row: &AccountPassword) -> Result<(String, SecretString)> {
        let pending = row.state.pending.as_ref().ok_or_else(|| Error::Internal {
            source: "a directory step without a pending candidate".into(),
        })?;
        let account = self
            .ctx
            .store
            .account(&row.directory, row.object_guid)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "directory account",
                key: format!("{}/{}", row.directory, row.object_guid),
            })?;
        let kek = self.ctx.kek.get(self.ctx.settings, self.ctx.store).await?;
        let candidate = open_password(
            &kek,
            &pending.sealed,
            &row.directory,
            row.object_guid,
            pending.version,
        )?;
        Ok((account.dn, candidate))
    }

    /// Where this attempt may go: the pinned controller, or (nothing pinned, or the pin's URL
    /// removed from the configuration, which releases it) the directory's URLs in order.
    async fn route(
        &self,
        latest: &Mutex<AccountPassword>,
        client: &DirectoryClient,
    ) -> Result<Option<DomainController>> {
        let row = current(latest);
        match state::route(&row.state, &client.config().urls) {
            Route::AnyInOrder => Ok(None),
            Route::Pinned(controller) => Ok(Some(controller.clone())),
            Route::Gone(controller) => {
                tracing::warn!(
                    directory = %row.directory,
                    account = %row.object_guid,
                    %controller,
                    "releasing the rotation's domain controller pin: its URL is no longer \
                     configured, which says the controller is gone for good"
                );
                let released = state::released(&row.state);
                let detail = json!({
                    "version": row.state.pending.as_ref().map(|p| p.version),
                    "controller": controller_json(Some(controller)),
                    "why": "its URL is no longer in the directory's configuration",
                });
                self.store_step(latest, released, "password.controller_released", detail)
                    .await?;
                Ok(None)
            }
        }
    }

    /// Before the first write of a rotation, on the controller `session` reached: waits
    /// ([`Wrote::Behind`]) while that controller has not replicated the account's last
    /// committed password, and otherwise pins the rotation to it, stored before anything is
    /// written there, so that a crash or a lost reply still knows where the write may be.
    async fn before_first_write(
        &self,
        latest: &Mutex<AccountPassword>,
        session: &mut Session,
        urls: &[String],
        dn: &str,
    ) -> Result<Option<Wrote>> {
        let controller = session.controller().await?;
        let its_version = password_version(session, dn).await;
        let row = current(latest);
        if let Some(last) =
            keyward_rotation::behind_last_commit(&row.state, &controller, its_version, urls)
        {
            return Ok(Some(Wrote::Behind(format!(
                "{controller} has not replicated this account's last password yet (unicodePwd \
                 version {} there, {} on {}, which took it): waiting, since Active Directory \
                 would let the older password win once they replicate",
                its_version.unwrap_or_default(),
                last.password_version,
                last.controller
            ))));
        }
        self.pin(latest, controller).await?;
        Ok(None)
    }

    /// Pins the rotation to `controller`.
    async fn pin(
        &self,
        latest: &Mutex<AccountPassword>,
        controller: DomainController,
    ) -> Result<()> {
        let row = current(latest);
        let detail = json!({
            "version": row.state.pending.as_ref().map(|p| p.version),
            "controller": controller_json(Some(&controller)),
        });
        let next = state::pinned(&row.state, controller);
        self.store_step(latest, next, "password.controller_pinned", detail)
            .await
    }

    /// One version-checked write of `next` inside an attempt, with its audit record; `latest`
    /// becomes the stored row.
    async fn store_step(
        &self,
        latest: &Mutex<AccountPassword>,
        next: keyward_rotation::PasswordState,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        let row = current(latest);
        let now = self.ctx.clock.now();
        let write = PasswordWrite {
            directory: row.directory.clone(),
            object_guid: row.object_guid,
            expected_row_version: Some(row.row_version),
            state: next,
            audit: vec![NewAuditRecord {
                actor: "system".into(),
                action: action.into(),
                subject: account_subject(&row.directory, row.object_guid),
                detail,
                at: now,
            }],
            notify: None,
            now,
        };
        let saved = self.ctx.store.save_account_password(&write).await?;
        *latest.lock().unwrap_or_else(PoisonError::into_inner) = saved;
        Ok(())
    }

    async fn try_directory(&self, latest: &Mutex<AccountPassword>) -> Result<Wrote> {
        let row = current(latest);
        let (dn, candidate) = self.dn_and_candidate(&row).await?;
        let method = row.state.pending.as_ref().map(|p| p.method);
        let client = Directories::new(self.ctx.settings).client(&row.directory)?;
        let on = self.route(latest, &client).await?;
        if method == Some(Method::Change) {
            let kek = self.ctx.kek.get(self.ctx.settings, self.ctx.store).await?;
            let sealed_old = row.state.sealed_current.as_deref().ok_or_else(|| {
                Error::InvalidInput(
                    "a user change needs the current password, which keyward does not know".into(),
                )
            })?;
            let old = open_password(
                &kek,
                sealed_old,
                &row.directory,
                row.object_guid,
                row.state.version,
            )?;
            let session = match client.open_for_change(&dn, &old, on.as_ref()).await {
                Ok(session) => session,
                // A retry after a crash or a lost reply: the change may have been applied
                // already, on the controller it went to.
                Err(DirError::WrongOldPassword) => {
                    return applied_already(&client, on.as_ref(), &dn, &candidate).await;
                }
                Err(e) => return Err(e.into()),
            };
            let mut session = match self
                .ready_to_write(latest, session, &client.config().urls, &dn, on.is_some())
                .await?
            {
                Ok(session) => session,
                Err(behind) => return Ok(behind),
            };
            let outcome = session.change_password(&dn, &old, &candidate).await;
            return self.after_write(latest, session, &dn, outcome).await;
        }
        let session = match &on {
            Some(controller) => client.connect_on(controller).await?,
            None => client.connect().await?,
        };
        let mut session = match self
            .ready_to_write(latest, session, &client.config().urls, &dn, on.is_some())
            .await?
        {
            Ok(session) => session,
            Err(behind) => return Ok(behind),
        };
        let outcome = session.reset_password(&dn, &candidate).await;
        self.after_write(latest, session, &dn, outcome).await
    }

    /// The session, ready for the write: as it is when the rotation is pinned already; otherwise
    /// after [`Self::before_first_write`], or closed with what stopped the write (`Err(Wrote)`
    /// when the controller is behind, the error when the check failed).
    async fn ready_to_write(
        &self,
        latest: &Mutex<AccountPassword>,
        mut session: Session,
        urls: &[String],
        dn: &str,
        pinned: bool,
    ) -> Result<std::result::Result<Session, Wrote>> {
        if pinned {
            return Ok(Ok(session));
        }
        match self
            .before_first_write(latest, &mut session, urls, dn)
            .await
        {
            Ok(None) => Ok(Ok(session)),
            Ok(Some(behind)) => {
                session.close().await;
                Ok(Err(behind))
            }
            Err(e) => {
                session.close().await;
                Err(e)
            }
        }
    }

    /// Closes the session of a write; when the write went through, reads first where it was
    /// written and the `unicodePwd` version the controller gave it (the next rotation's
    /// replication check), `None` when the controller does not say.
    async fn after_write(
        &self,
        latest: &Mutex<AccountPassword>,
        mut session: Session,
        dn: &str,
        outcome: std::result::Result<(), DirError>,
    ) -> Result<Wrote> {
        let written = if outcome.is_ok() {
            let controller = pin_of(&current(latest)).cloned();
            match (controller, password_version(&mut session, dn).await) {
                (Some(controller), Some(password_version)) => Some(LastCommit {
                    controller,
                    password_version,
                }),
                _ => None,
            }
        } else {
            None
        };
        session.close().await;
        outcome?;
        Ok(Wrote::Applied(written))
    }

    /// The "password changed" mail for the account's employee, if wanted and possible.
    async fn rotated_notice(&self, row: &AccountPassword) -> Result<Option<NewMessage>> {
        if !self.ctx.settings.passwords.notify_rotated {
            return Ok(None);
        }
        let Some(account) = self
            .ctx
            .store
            .account(&row.directory, row.object_guid)
            .await?
        else {
            return Ok(None);
        };
        let Some(employee) = self.ctx.store.employee(account.employee_id).await? else {
            return Ok(None);
        };
        Ok(employee.email.map(|email| NewMessage {
            kind: "password_rotated",
            employee_id: employee.id,
            recipient: email.as_str().to_owned(),
            subject_ref: format!(
                "{}/{}",
                row.directory,
                account.sam_account_name.as_deref().unwrap_or("account")
            ),
        }))
    }
}

/// The `unicodePwd` version `session`'s controller holds for `dn`; `None` when it cannot be
/// read (logged: the replication check is then skipped, as before it existed).
async fn password_version(session: &mut Session, dn: &str) -> Option<u32> {
    match session.password_version(dn).await {
        Ok(version) => version,
        Err(e) => {
            tracing::debug!(error = %e, "the account's replication metadata could not be read");
            None
        }
    }
}

async fn applied_already(
    client: &DirectoryClient,
    on: Option<&DomainController>,
    dn: &str,
    candidate: &SecretString,
) -> Result<Wrote> {
    if client.verify_password_on(on, dn, candidate).await? {
        Ok(Wrote::Applied(None))
    } else {
        Err(DirError::WrongOldPassword.into())
    }
}

/// The row as the attempt last stored it.
fn current(latest: &Mutex<AccountPassword>) -> AccountPassword {
    latest
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// The controller the rotation in flight is pinned to.
fn pin_of(row: &AccountPassword) -> Option<&DomainController> {
    row.state.pending.as_ref()?.controller.as_ref()
}

/// How audit records name a controller.
fn controller_json(controller: Option<&DomainController>) -> serde_json::Value {
    controller.map_or(
        serde_json::Value::Null,
        |c| json!({ "url": c.url, "host": c.host }),
    )
}

/// Errors with which the directory answered the write itself: it may have taken the same
/// candidate in an earlier attempt, so these are checked with a bind before they count.
fn refused_by_the_directory(e: &DirError) -> bool {
    matches!(
        e,
        DirError::PasswordPolicy { .. }
            | DirError::InsufficientAccess { .. }
            | DirError::Unwilling { .. }
    )
}

/// Which directory errors end a rotation (the key goes back) and which are retried.
fn classify(e: DirError) -> Attempt {
    match e {
        DirError::PasswordPolicy { .. }
        | DirError::WrongOldPassword
        | DirError::InsufficientAccess { .. }
        | DirError::Unwilling { .. }
        | DirError::NeedsTls { .. }
        | DirError::Config { .. }
        | DirError::Unsupported { .. } => Attempt::Refused(e.to_string()),
        other => Attempt::Transient(other.to_string()),
    }
}
