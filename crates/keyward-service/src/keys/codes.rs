//! Activation codes: issued and checked off the async workers (PBKDF2 is slow on purpose),
//! hashed with a pepper derived from the key-encryption key when `[secrets]` is configured,
//! and every attempt counted before the comparison, so N parallel guesses count N attempts.
//!
//! A right code typed on a workstation is that workstation's proof of possession: the same
//! write that activates (or resumes) the key makes it the holder with a new key proof. A code
//! an administrator submits makes no workstation the holder.

use chrono::{DateTime, Utc};
use keyward_keys::{
    ActivationCodePolicy, CodeCheck, CodeHash, CodePepper, Event, IssuedCode, KeySerial, KeyStatus,
};
use keyward_model::NewAuditRecord;
use keyward_password::SecretString;
use keyward_store::{AttemptReservation, StoredCode};
use ring::rand::SystemRandom;
use serde_json::json;
use zeroize::Zeroizing;

use super::{KeyView, Keys, not_found, subject};
use crate::agent::new_key_proof;
use crate::secrets::code_pepper;
use crate::{Actor, Error, Result};

/// The workstation that proved possession in a step, with the SHA-256 of its new key proof.
pub(super) struct Prover {
    pub(super) workstation: uuid::Uuid,
    pub(super) proof_hash: String,
}

impl Keys<'_> {
    /// A new activation code, hashed on a blocking thread.
    pub(super) async fn issue_code(&self, now: DateTime<Utc>) -> Result<IssuedCode> {
        let policy = self.ctx.settings.activation_code_policy()?;
        let pepper = code_pepper(self.ctx.kek, self.ctx.settings, self.ctx.store).await?;
        blocking(move || Ok(policy.issue(now, &SystemRandom::new(), pepper.as_ref())?)).await
    }

    /// Checks a code and applies `event` (Activate or Resume; `None`: the one the key's status
    /// calls for) when it is right; counts every attempt first; locks the key when the last
    /// allowed attempt is wrong. With `on_workstation`, that workstation becomes the holder and
    /// the new key proof is returned.
    pub(super) async fn code_step(
        &self,
        serial: &KeySerial,
        event: Option<Event>,
        presented: &str,
        actor: &Actor,
        on_workstation: Option<uuid::Uuid>,
    ) -> Result<(KeyView, Option<SecretString>)> {
        let (key, proof_hash) = self
            .ctx
            .store
            .key_with_proof(serial)
            .await?
            .ok_or_else(|| not_found(serial))?;
        let event = event.unwrap_or(if key.status == KeyStatus::Suspended {
            Event::Resume
        } else {
            Event::Activate
        });
        // The status must allow the event before a code is even looked at.
        let t = keyward_keys::transition(Some(key.status), &event, key.facts())?;
        if on_workstation.is_none() {
            refuse_admin_activation(&key.serial, &event, proof_hash.is_some())?;
        }
        let policy = self.ctx.settings.activation_code_policy()?;
        let now = self.ctx.clock.now();
        let (number, code_hash) = match self
            .ctx
            .store
            .reserve_code_attempt(serial, policy.max_attempts, now)
            .await?
        {
            AttemptReservation::NoCode => {
                return Err(Error::InvalidTransition(format!(
                    "key {} has no live activation code; an administrator must issue one",
                    key.serial
                )));
            }
            AttemptReservation::Expired => return Err(Error::ActivationCodeExpired),
            AttemptReservation::Exhausted => {
                self.fail_activation(serial, actor).await?;
                return Err(Error::ActivationAttemptsExhausted);
            }
            AttemptReservation::Counted { number, code_hash } => (number, code_hash),
        };
        let hash = CodeHash::decode(&code_hash)?;
        let pepper = code_pepper(self.ctx.kek, self.ctx.settings, self.ctx.store).await?;
        if code_matches(hash, presented, pepper).await? {
            let (proof, prover) = match on_workstation {
                Some(ws) => {
                    let (proof, proof_hash) = new_key_proof()?;
                    (
                        Some(proof),
                        Some(Prover {
                            workstation: ws,
                            proof_hash,
                        }),
                    )
                }
                None => (None, None),
            };
            let (after, _) = self
                .store_transition(&key, &event, &t, actor, prover.as_ref())
                .await?;
            let view = self.view(after.ok_or_else(|| not_found(serial))?).await?;
            return Ok((view, proof));
        }
        let verdict = policy.judge_wrong(number);
        let attempts_left = match verdict {
            CodeCheck::Wrong { attempts_left } => attempts_left,
            _ => 0,
        };
        self.ctx
            .store
            .append_audit(&NewAuditRecord {
                actor: actor.to_string(),
                action: "key.activation_code_rejected".into(),
                subject: subject(serial),
                detail: json!({
                    "status": key.status.as_str(),
                    "attempt": number,
                    "attempts_left": attempts_left,
                }),
                at: now,
            })
            .await?;
        if verdict == CodeCheck::Exhausted {
            self.fail_activation(serial, actor).await?;
            return Err(Error::ActivationAttemptsExhausted);
        }
        Err(Error::WrongActivationCode { attempts_left })
    }

    /// Locks a key whose attempts are used up, unless another request already did (or the key
    /// moved on): the attempts stay used either way, so no further guess is compared.
    async fn fail_activation(&self, serial: &KeySerial, actor: &Actor) -> Result<()> {
        let key = self.load(serial).await?;
        if !matches!(key.status, KeyStatus::Reserved | KeyStatus::Suspended) {
            return Ok(());
        }
        let event = Event::FailActivation;
        let t = keyward_keys::transition(Some(key.status), &event, key.facts())?;
        match self.store_transition(&key, &event, &t, actor, None).await {
            Ok(_) | Err(Error::ConcurrentChange(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// An administrator's code never hands a key to a workstation, so it may not make a key Active
/// that no workstation could then prove it holds: a Reserved key (it has no key proof yet) is
/// activated only on the workstation, and a Suspended key is resumed by an administrator only
/// when it has a proof for its workstation to present.
fn refuse_admin_activation(serial: &KeySerial, event: &Event, has_proof: bool) -> Result<()> {
    match event {
        Event::Activate => Err(Error::InvalidTransition(format!(
            "key {serial} is activated on the workstation: the user types the activation code \
             there (the agent's activate call), which makes that workstation the key's holder. \
             An administrator's activation would hand the key to no workstation"
        ))),
        Event::Resume if !has_proof => Err(Error::InvalidTransition(format!(
            "key {serial} has no key proof, so after an administrator's resume no workstation \
             could prove it holds the key; the user types the code on the workstation instead"
        ))),
        _ => Ok(()),
    }
}

/// Whether `presented` is the stored code, compared on a blocking thread.
async fn code_matches(hash: CodeHash, presented: &str, pepper: Option<CodePepper>) -> Result<bool> {
    let presented = Zeroizing::new(presented.to_owned());
    blocking(move || Ok(hash.matches(&presented, pepper.as_ref())?)).await
}

/// Whether a code a message carries is still the key's live, unexpired code: a check, not an
/// attempt (nothing is counted). Tells a code replaced since from the live one.
pub(crate) async fn code_is_live(
    stored: &StoredCode,
    policy: &ActivationCodePolicy,
    code: &str,
    pepper: Option<CodePepper>,
    now: DateTime<Utc>,
) -> Result<CodeCheck> {
    if now > stored.expires_at {
        return Ok(CodeCheck::Expired);
    }
    if stored.attempts_used >= policy.max_attempts {
        return Ok(CodeCheck::Exhausted);
    }
    let hash = CodeHash::decode(&stored.code_hash)?;
    Ok(if code_matches(hash, code, pepper).await? {
        CodeCheck::Accepted
    } else {
        CodeCheck::Wrong {
            attempts_left: policy.max_attempts - stored.attempts_used,
        }
    })
}

/// Runs slow hashing off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal {
            source: format!("a hashing task failed: {e}").into(),
        })?
}
