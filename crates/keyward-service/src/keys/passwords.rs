//! What a key's transition does to the passwords on it, stored in the key change's
//! transaction: an activation starts the first rotation of the owner's rotation-group
//! accounts, a deactivation detaches the accounts, a compromise rotates what the key held.

use keyward_keys::{Effect, Key, KeyStatus, Transition};
use keyward_model::EmployeeId;
use keyward_store::PasswordWrite;
use serde_json::json;

use super::Keys;
use crate::passwords::state::{self, Method};
use crate::passwords::{NewPassword, account_subject, plan_rotation};
use crate::{Actor, Error, Result};

impl Keys<'_> {
    /// The password writes a transition brings (stored in the key change's transaction).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn password_effects(
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
        let ctx = self.ctx.plan_at(now);
        for account in self.ctx.store.accounts_of(owner).await? {
            if !account.in_rotation_group || !account.enabled || account.missing_since.is_some() {
                continue;
            }
            let row = self
                .ctx
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
            .ctx
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
        let ctx = self.ctx.plan_at(now);
        for row in self
            .ctx
            .store
            .account_passwords(Some(key.serial.as_str()))
            .await?
        {
            let Some(account) = self
                .ctx
                .store
                .account(&row.directory, row.object_guid)
                .await?
            else {
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
