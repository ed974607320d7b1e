//! Moving every stored secret to a new key-encryption key (`keyward secrets rotate-key`), and
//! checking that every stored secret opens (`keyward secrets check`).
//!
//! The rotation is crash-safe and can be run again until it finishes:
//! 1. it records `<from> <to>` (the two keys' fingerprints) in the settings; from then on no
//!    process loads the old key ([`crate::secrets::load_kek`] refuses while the record exists),
//!    and no live `keyward-server` may be running (they hold leases; the rotation refuses
//!    beside them);
//! 2. it stores the activation-code pepper sealed (it was derived from the old key), so that
//!    codes issued before the rotation keep working;
//! 3. it re-seals every value in batches, each batch one transaction, each value written only
//!    where the text it read is still stored; a value that already opens with the new key is
//!    skipped, so a run after a crash continues where the last one stopped;
//! 4. it goes over everything again until a pass finds nothing left under the old key;
//! 5. in one last transaction it re-seals the key check, deletes the record and writes the
//!    audit record: before that transaction the database answers to the old key (with the
//!    record), after it to the new one.

use std::num::NonZeroU64;
use std::path::Path;

use keyward_model::NewAuditRecord;
use keyward_password::{Kek, SealContext, Sealed};
use keyward_store::{Reseal, SealedSlot, SealedValue, Store};
use ring::rand::SystemRandom;

use crate::secrets::{
    CHECK_KEY, CHECK_PLAINTEXT, PEPPER_KEY, ROTATION_KEY, configured_kek, derived_pepper, internal,
    password_context, setting_context,
};
use crate::{Actor, Error, Keyward, Result};

/// How far a rotation is: `done` of `of` sealed values looked at in the current pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KekRotationProgress {
    /// Values looked at so far in this pass.
    pub done: u64,
    /// Values in the database when the pass started.
    pub of: u64,
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekRotationReport {
    /// The old key's fingerprint.
    pub from: String,
    /// The new key's fingerprint.
    pub to: String,
    /// Values this run re-sealed.
    pub resealed: u64,
    /// Values already sealed with the new key (by an earlier, interrupted run).
    pub already_new: u64,
    /// True when the database was already under the new key and nothing was done.
    pub finished_earlier: bool,
}

/// What `secrets check` found: every sealed value opened with the configured key, or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretsReport {
    /// The configured key's fingerprint.
    pub fingerprint: String,
    /// Values that opened.
    pub opened: u64,
    /// Where the values that did not open are, one line each.
    pub failed: Vec<String>,
}

/// Passes over the database before giving up on values something keeps sealing with the old
/// key (nothing should: see the module docs).
const MAX_PASSES: usize = 5;

/// Values read per page by `secrets check`.
const VERIFY_BATCH: NonZeroU64 = NonZeroU64::new(500).unwrap();

impl Keyward {
    /// Re-seals every stored secret with the key in `new_key_file` (see the module docs).
    /// `batch_size` values are written per transaction; `progress` hears after each batch.
    pub async fn rotate_kek(
        &self,
        new_key_file: &Path,
        batch_size: NonZeroU64,
        progress: &mut (dyn FnMut(KekRotationProgress) + Send),
    ) -> Result<KekRotationReport> {
        let store = self.store();
        let old = configured_kek(self.settings(), store).await?;
        let new = read_new_key(new_key_file)?;
        let (from, to) = (old.fingerprint().to_owned(), new.fingerprint().to_owned());
        if from == to {
            return Err(Error::InvalidInput(format!(
                "{} holds the key already configured (fingerprint {from}): make a new one with \
                 `keyward secrets new-key-file PATH`",
                new_key_file.display()
            )));
        }
        let check = stored_check(&old, store).await?;
        if self.start_rotation(&old, &new, &check).await? == Start::AlreadyDone {
            return Ok(KekRotationReport {
                from,
                to,
                resealed: 0,
                already_new: 0,
                finished_earlier: true,
            });
        }
        store_pepper_sealed(&old, store).await?;

        let mut report = KekRotationReport {
            from: from.clone(),
            to: to.clone(),
            resealed: 0,
            already_new: 0,
            finished_earlier: false,
        };
        let pair = KeyPair {
            old: &old,
            new: &new,
        };
        for pass in 0..MAX_PASSES {
            let (resealed, already_new) = reseal_pass(store, pair, batch_size, progress).await?;
            if pass == 0 {
                report.already_new = already_new;
            }
            report.resealed += resealed;
            if resealed == 0 {
                break;
            }
            if pass + 1 == MAX_PASSES {
                return Err(Error::ConcurrentChange(
                    "secrets are still being sealed with the old key by another process: stop \
                     every keyward process on this database and run the rotation again"
                        .into(),
                ));
            }
        }
        self.switch_key_check(&new, &check, &report).await?;
        Ok(report)
    }

    /// Decides whether a rotation from `old` to `new` may start (or continue), and records it.
    async fn start_rotation(&self, old: &Kek, new: &Kek, check: &Sealed) -> Result<Start> {
        let store = self.store();
        let (from, to) = (old.fingerprint(), new.fingerprint());
        let check_context = setting_context(CHECK_KEY)?;
        let record = store.setting(ROTATION_KEY).await?;
        if opens(new, check, &check_context) {
            // The last transaction of an earlier run committed: nothing is left to do.
            if record.is_some() {
                store.delete_setting(ROTATION_KEY).await?;
            }
            return Ok(Start::AlreadyDone);
        }
        if !opens(old, check, &check_context) {
            return Err(Error::Config(format!(
                "the configured key-encryption key (fingerprint {from}) is not the one this \
                 database's secrets are sealed with, and neither is the new one ({to}); \
                 configure the current key and run the rotation again"
            )));
        }
        if let Some(record) = &record
            && record.split(' ').nth(1) != Some(to)
        {
            return Err(Error::Config(format!(
                "an unfinished rotation to another key is recorded ({record}): finish it with \
                 that key file first"
            )));
        }
        // Recorded first, then the servers are looked at: a server that starts from now on
        // sees the record and refuses to load the old key, and one that started before holds
        // a lease that is seen here.
        store
            .setting_insert_if_absent(ROTATION_KEY, &format!("{from} {to}"))
            .await?;
        if let Err(refused) = self.refuse_beside_live_servers().await {
            if record.is_none() {
                store.delete_setting(ROTATION_KEY).await?;
            }
            return Err(refused);
        }
        Ok(Start::Go)
    }

    /// The last step: the key check re-sealed with `new`, the record deleted and the audit
    /// record written, in one transaction.
    async fn switch_key_check(
        &self,
        new: &Kek,
        check: &Sealed,
        report: &KekRotationReport,
    ) -> Result<()> {
        let new_check = new
            .seal(
                CHECK_PLAINTEXT,
                &setting_context(CHECK_KEY)?,
                &SystemRandom::new(),
            )
            .map_err(internal)?;
        let audit = NewAuditRecord {
            actor: Actor::Cli.to_string(),
            action: "secrets.kek_rotated".into(),
            subject: "installation".into(),
            detail: serde_json::json!({
                "from": report.from, "to": report.to, "resealed": report.resealed,
            }),
            at: self.now(),
        };
        let switched = self
            .store()
            .reseal(
                &[Reseal {
                    slot: SealedSlot::Setting {
                        key: CHECK_KEY.into(),
                    },
                    from: check.as_str().to_owned(),
                    to: new_check.as_str().to_owned(),
                }],
                &[ROTATION_KEY],
                &[audit],
            )
            .await?;
        if switched == 1 {
            Ok(())
        } else {
            Err(Error::ConcurrentChange(
                "the key check changed during the rotation: run it again".into(),
            ))
        }
    }

    /// Opens every sealed value with the configured key.
    pub async fn verify_secrets(&self) -> Result<SecretsReport> {
        let kek = self.kek_cell().get(self.settings(), self.store()).await?;
        let mut report = SecretsReport {
            fingerprint: kek.fingerprint().to_owned(),
            opened: 0,
            failed: Vec::new(),
        };
        let mut pages = SealedPages::new(VERIFY_BATCH);
        while let Some(values) = pages.next(self.store()).await? {
            for value in values {
                let sealed = Sealed::from_stored(value.sealed);
                if opens(&kek, &sealed, &context_of(&value.slot)?) {
                    report.opened += 1;
                } else {
                    report.failed.push(describe(&value.slot));
                }
            }
        }
        Ok(report)
    }

    /// Refuses while a `keyward-server` holds a live lease on this database.
    pub(crate) async fn refuse_beside_live_servers(&self) -> Result<()> {
        let mut live = self.store().live_server_instances(self.now()).await?;
        live.retain(|instance| !crate::instances::gone_from_this_host(instance));
        if live.is_empty() {
            return Ok(());
        }
        let list = live
            .iter()
            .map(|s| format!("{} pid {} (lease until {})", s.host, s.pid, s.expires_at))
            .collect::<Vec<_>>()
            .join(", ");
        Err(Error::ServersRunning {
            count: live.len(),
            list,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Re-seal.
    Go,
    /// The database is under the new key already.
    AlreadyDone,
}

/// The key check as stored; sealed with `old` first when nothing was ever checked.
async fn stored_check(old: &Kek, store: &Store) -> Result<Sealed> {
    if store.setting(CHECK_KEY).await?.is_none() {
        crate::secrets::check(old, store).await?;
    }
    let stored = store
        .setting(CHECK_KEY)
        .await?
        .ok_or_else(|| Error::Internal {
            source: "the key check vanished".into(),
        })?;
    Ok(Sealed::from_stored(stored))
}

#[derive(Clone, Copy)]
struct KeyPair<'a> {
    old: &'a Kek,
    new: &'a Kek,
}

/// One pass over every sealed value: what opens with the old key is re-sealed with the new.
/// Returns how many values it re-sealed and how many were under the new key already.
async fn reseal_pass(
    store: &Store,
    keys: KeyPair<'_>,
    batch_size: NonZeroU64,
    progress: &mut (dyn FnMut(KekRotationProgress) + Send),
) -> Result<(u64, u64)> {
    let of = store.count_sealed_values(&[PEPPER_KEY]).await?;
    let (mut done, mut resealed, mut already_new) = (0, 0, 0);
    let mut pages = SealedPages::new(batch_size);
    while let Some(values) = pages.next(store).await? {
        let mut reseals = Vec::new();
        for value in &values {
            let context = context_of(&value.slot)?;
            let sealed = Sealed::from_stored(value.sealed.clone());
            if opens(keys.new, &sealed, &context) {
                already_new += 1;
                continue;
            }
            let plain = keys.old.open(&sealed, &context).map_err(|_| {
                Error::Config(format!(
                    "{} opens with neither the old key ({}) nor the new one ({}); the rotation \
                     stopped there: the values before it are re-sealed, the others untouched",
                    describe(&value.slot),
                    keys.old.fingerprint(),
                    keys.new.fingerprint()
                ))
            })?;
            let sealed_new = keys
                .new
                .seal(plain.expose(), &context, &SystemRandom::new())
                .map_err(internal)?;
            reseals.push(Reseal {
                slot: value.slot.clone(),
                from: value.sealed.clone(),
                to: sealed_new.as_str().to_owned(),
            });
        }
        if !reseals.is_empty() {
            resealed += store.reseal(&reseals, &[], &[]).await? as u64;
        }
        done += values.len() as u64;
        progress(KekRotationProgress {
            done,
            of: of.max(done),
        });
    }
    Ok((resealed, already_new))
}

/// Every sealed value except the key check, page by page: the accounts' passwords, the
/// activation codes of queued mail, then the sealed settings.
struct SealedPages {
    limit: NonZeroU64,
    stage: Stage,
}

enum Stage {
    Passwords(Option<(String, uuid::Uuid)>),
    Codes(Option<uuid::Uuid>),
    Settings,
    Done,
}

impl SealedPages {
    fn new(limit: NonZeroU64) -> Self {
        Self {
            limit,
            stage: Stage::Passwords(None),
        }
    }

    /// The next non-empty page, or `None` at the end.
    async fn next(&mut self, store: &Store) -> Result<Option<Vec<SealedValue>>> {
        let limit = self.limit.get();
        loop {
            let values = match &self.stage {
                Stage::Passwords(after) => {
                    let page = store.sealed_passwords(after.as_ref(), limit).await?;
                    self.stage = match page.next {
                        Some(next) => Stage::Passwords(Some(next)),
                        None => Stage::Codes(None),
                    };
                    page.values
                }
                Stage::Codes(after) => {
                    let page = store.sealed_activation_codes(*after, limit).await?;
                    self.stage = match page.last() {
                        Some((id, _)) if page.len() as u64 == limit => Stage::Codes(Some(*id)),
                        _ => Stage::Settings,
                    };
                    page.into_iter().map(|(_, value)| value).collect()
                }
                Stage::Settings => {
                    self.stage = Stage::Done;
                    store
                        .setting(PEPPER_KEY)
                        .await?
                        .map(|sealed| SealedValue {
                            slot: SealedSlot::Setting {
                                key: PEPPER_KEY.into(),
                            },
                            sealed,
                        })
                        .into_iter()
                        .collect()
                }
                Stage::Done => return Ok(None),
            };
            if !values.is_empty() {
                return Ok(Some(values));
            }
        }
    }
}

/// Stores the pepper derived from the old key, sealed with it, unless one is stored already.
async fn store_pepper_sealed(old: &Kek, store: &Store) -> Result<()> {
    if store.setting(PEPPER_KEY).await?.is_some() {
        return Ok(());
    }
    let pepper = derived_pepper(old)?;
    let sealed = old
        .seal(
            pepper.as_ref(),
            &setting_context(PEPPER_KEY)?,
            &SystemRandom::new(),
        )
        .map_err(internal)?;
    store
        .setting_insert_if_absent(PEPPER_KEY, sealed.as_str())
        .await?;
    Ok(())
}

fn read_new_key(path: &Path) -> Result<Kek> {
    let contents = std::fs::read_to_string(path).map_err(|e| {
        Error::InvalidInput(format!(
            "cannot read the new key file {}: {e}",
            path.display()
        ))
    })?;
    Kek::from_key_file_contents(&contents)
        .map_err(|e| Error::InvalidInput(format!("the new key file {}: {e}", path.display())))
}

fn opens(kek: &Kek, sealed: &Sealed, context: &SealContext) -> bool {
    kek.open(sealed, context).is_ok()
}

/// The sealing context of the value in `slot`.
fn context_of(slot: &SealedSlot) -> Result<SealContext> {
    match slot {
        SealedSlot::CommittedPassword {
            directory,
            object_guid,
            version,
        }
        | SealedSlot::PendingPassword {
            directory,
            object_guid,
            version,
        } => password_context(directory, *object_guid, *version),
        SealedSlot::ActivationCode { message_id, serial } => {
            crate::mail::activation_code_context(*message_id, serial)
        }
        SealedSlot::Setting { key } => setting_context(key),
    }
}

/// Where a value is, for an administrator.
fn describe(slot: &SealedSlot) -> String {
    match slot {
        SealedSlot::CommittedPassword {
            directory,
            object_guid,
            version,
        } => format!("the password of {directory}/{object_guid} (version {version})"),
        SealedSlot::PendingPassword {
            directory,
            object_guid,
            version,
        } => format!("the pending password of {directory}/{object_guid} (version {version})"),
        SealedSlot::ActivationCode { message_id, serial } => {
            format!("the activation code of message {message_id} (key {serial})")
        }
        SealedSlot::Setting { key } => format!("the setting {key}"),
    }
}
