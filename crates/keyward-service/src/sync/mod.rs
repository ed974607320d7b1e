//! Directory sync runs, as a pipeline of named stages:
//!
//! 1. [`mode`]: full or incremental, from the cursor and the domain controller;
//! 2. [`read`]: the directory (everything, or what changed and what that implies), with the
//!    stored accounts' narrow index read alongside;
//! 3. [`batches`]: the run cut into batches of whole merge components
//!    (`keyward_identity::PartitionBuilder`), so memory follows the batch size, not the
//!    directory;
//! 4. hold removals: too many accounts leaving scope wait for an administrator;
//! 5. per batch: plan (`keyward_identity::plan`), then [`write`] builds the rows;
//! 6. apply: one transaction per batch, which first checks that the run still holds its lease;
//!    the cursor moves with the last batch only.
//!
//! Safety rules (docs/product.md §1):
//! - any search error fails the run before anything is written, so it removes nothing;
//! - an entry that cannot be decoded is skipped with its reason (logged, and listed in the
//!   report's `skipped`) and the run goes on; the stored account it belongs to (by objectGUID,
//!   else by DN) is planned as in scope and unchanged, so a broken entry never marks its account
//!   missing or removes it;
//! - accounts that leave scope are marked missing, and removed after `sync.grace_days`;
//! - a run that would mark too many accounts missing holds them for an administrator;
//! - one run per directory at a time, through a lease in the database that expires, so a
//!   crashed holder cannot keep it; a run that lost its lease writes nothing more;
//! - a run that stops between batches leaves whole components written and the cursor where it
//!   was: the next run reads the same changes again and plans only what is still to do.

mod batches;
mod mode;
mod read;
mod report;
mod seen;
mod write;

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use keyward_directory::{DirectoryConfig, DomainInfo};
use keyward_identity::{AccountKey, plan};
use keyward_model::DirectoryName;
use keyward_store::{LeaseHold, Store, SyncCursor, SyncRunRecord, SyncWrite};
use uuid::Uuid;

pub use mode::Mode;
pub use report::{ConflictReport, Outcome, Phases, RunMode, RunStatus, Skipped, SyncReport};

use self::batches::{BatchInputs, InScope};
use self::mode::ModeInputs;
use self::report::{millis_since, summarize};
use self::write::{WriteContext, detach_split_accounts, write_of};
use crate::{Actor, Clock, Directories, Error, Result, Settings};

/// How long a run's lease lasts before another process may take over. The run renews it every
/// [`LEASE_RENEW`] while it reads, plans and writes (and with each write), so a process that
/// dies holds the directory's syncs back for at most this long.
const LEASE_SECONDS: i64 = 60;
/// How often a run renews its lease between writes.
const LEASE_RENEW: std::time::Duration = std::time::Duration::from_secs(20);

/// What the caller asks for.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Read everything even when an incremental run is possible.
    pub full: bool,
    /// Plan only; write nothing but the run record.
    pub dry_run: bool,
    /// Apply the removals that this earlier run held.
    pub confirm_removals_of: Option<Uuid>,
}

/// A progress callback: called as a run goes through its phases.
pub type Progress<'p> = &'p (dyn Fn(SyncProgress) + Send + Sync);

/// Where a sync run is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncProgress {
    /// Reading the directory: this many users so far.
    Reading {
        /// Users read.
        users: u64,
    },
    /// Planning and writing batches of whole merge components: `done` of `of` are finished.
    Writing {
        /// Batches finished.
        done: usize,
        /// Batches in all.
        of: usize,
    },
}

/// Sync operations.
#[derive(Clone, Copy)]
pub struct SyncRuns<'a> {
    store: &'a Store,
    settings: &'a Settings,
    clock: &'a dyn Clock,
}

impl std::fmt::Debug for SyncRuns<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncRuns").finish_non_exhaustive()
    }
}

/// One run under way: what it is for and who holds its lease.
struct Job<'j> {
    config: &'j DirectoryConfig,
    name: DirectoryName,
    options: &'j SyncOptions,
    /// The run confirms removals an earlier run held.
    confirming: bool,
    actor: &'j Actor,
    progress: Progress<'j>,
    holder: String,
}

/// One batch, planned.
struct Planned {
    plan: keyward_identity::Plan,
    /// The batch's stored employees and accounts the plan was made from.
    employees: Vec<keyward_model::Employee>,
    stored: Vec<keyward_model::DirectoryAccount>,
    /// Detachments of the accounts that split off their employee.
    passwords: Vec<keyward_store::PasswordWrite>,
    millis: u64,
}

/// What the read stage hands on.
struct Reading {
    seen: seen::SeenUsers,
    scope: InScope,
    rotation: batches::Rotation,
    index: batches::Index,
    now: DateTime<Utc>,
    grace: Duration,
    /// The cursor this run leaves when it completes.
    cursor_after: Option<SyncCursor>,
    /// The stored accounts whose entry was skipped: planned as in scope, as stored.
    kept: HashSet<Uuid>,
}

impl<'a> SyncRuns<'a> {
    pub(crate) fn new(store: &'a Store, settings: &'a Settings, clock: &'a dyn Clock) -> Self {
        Self {
            store,
            settings,
            clock,
        }
    }

    /// Runs one directory. Returns the report of a run that succeeded; a failed run is recorded
    /// (with its error) and returned as the error.
    pub async fn run(
        &self,
        directory: &str,
        options: &SyncOptions,
        actor: &Actor,
        progress: Progress<'_>,
    ) -> Result<SyncReport> {
        let config = Directories::new(self.settings).config(directory)?;
        let name = DirectoryName::parse(&config.name)?;
        let confirming = match options.confirm_removals_of {
            Some(held_run) => {
                self.check_held_run(held_run, &config.name).await?;
                true
            }
            None => false,
        };
        let job = Job {
            config,
            name,
            options,
            confirming,
            actor,
            progress,
            holder: format!("{}:{}", std::process::id(), Uuid::new_v4()),
        };
        let now = self.clock.now();
        if !self
            .store
            .acquire_lease(
                &job.name,
                &job.holder,
                now,
                now + Duration::seconds(LEASE_SECONDS),
            )
            .await?
        {
            return Err(Error::LeaseBusy {
                directory: config.name.clone(),
            });
        }
        // Holding the lease, no other run of this directory can be going on: one still marked
        // running was stopped by a crash (its lease expired), and is closed as such.
        let closed = self
            .store
            .close_interrupted_runs(
                &job.name,
                now,
                "interrupted: the process running it stopped before it finished (its lease expired)",
            )
            .await?;
        if closed > 0 {
            tracing::warn!(directory = %config.name, runs = closed, "closed sync runs a stopped process left running");
        }
        let result = {
            let run = self.run_recorded(&job);
            tokio::pin!(run);
            tokio::select! {
                result = &mut run => result,
                never = self.keep_lease(&job) => match never {},
            }
        };
        self.store.release_lease(&job.name, &job.holder).await?;
        result
    }

    /// The run a confirmation names must be of this directory and have held removals.
    async fn check_held_run(&self, held_run: Uuid, directory: &str) -> Result<()> {
        let run = self
            .store
            .run(held_run)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "sync run",
                key: held_run.to_string(),
            })?;
        if run.directory != directory || run.report["held"].as_u64().unwrap_or(0) == 0 {
            return Err(Error::InvalidInput(format!(
                "run {held_run} of {} held no removals of {directory}",
                run.directory
            )));
        }
        Ok(())
    }

    /// Runs every configured directory in turn; returns one report (or error) per directory.
    pub async fn run_all(
        &self,
        options: &SyncOptions,
        actor: &Actor,
        progress: Progress<'_>,
    ) -> Vec<(String, Result<SyncReport>)> {
        let mut out = Vec::new();
        for d in &self.settings.directories {
            out.push((
                d.name.clone(),
                self.run(&d.name, options, actor, progress).await,
            ));
        }
        out
    }

    /// The newest runs first.
    pub async fn runs(&self, limit: u64) -> Result<Vec<SyncRunRecord>> {
        Ok(self.store.list_runs(limit).await?)
    }

    /// One run.
    pub async fn show(&self, id: &str) -> Result<SyncRunRecord> {
        let id = Uuid::parse_str(id.trim())
            .map_err(|_| Error::InvalidInput(format!("{id:?} is not a run id (a UUID)")))?;
        self.store.run(id).await?.ok_or_else(|| Error::NotFound {
            what: "sync run",
            key: id.to_string(),
        })
    }

    /// Records the run as running, runs it, and records how it ended.
    async fn run_recorded(&self, job: &Job<'_>) -> Result<SyncReport> {
        let mut report = SyncReport::starting(
            Uuid::now_v7(),
            &job.config.name,
            job.options.dry_run,
            self.clock.now(),
        );
        self.save(&report).await?;
        let outcome = self.execute(job, &mut report).await;
        report.finished_at = self.clock.now();
        match outcome {
            Ok(()) => {
                report.status = RunStatus::Succeeded;
                self.save(&report).await?;
                Ok(report)
            }
            Err(e) => {
                report.status = RunStatus::Failed;
                report.error = Some(e.to_string());
                self.save(&report).await?;
                Err(e)
            }
        }
    }

    async fn save(&self, report: &SyncReport) -> Result<()> {
        let record = SyncRunRecord {
            id: report.run_id,
            directory: report.directory.clone(),
            mode: report.mode.as_str().to_owned(),
            dry_run: report.dry_run,
            status: report.status.as_str().to_owned(),
            started_at: report.started_at,
            finished_at: (report.status != RunStatus::Running).then_some(report.finished_at),
            report: serde_json::to_value(report).map_err(|e| Error::Internal {
                source: Box::new(e),
            })?,
            error: report.error.clone(),
        };
        Ok(self.store.save_run(&record).await?)
    }

    /// The pipeline: decide the mode and read, hold removals, then plan, build and apply batch
    /// by batch.
    async fn execute(&self, job: &Job<'_>, report: &mut SyncReport) -> Result<()> {
        let Some(reading) = self.read_stage(job, report).await? else {
            return Ok(());
        };
        let held = self.hold_removals(job, &reading, report);
        self.plan_and_apply(job, reading, &held, report).await
    }

    /// Decides the mode and reads the directory and the stored index. `None` when an
    /// incremental run found nothing to do (then it has already moved the cursor).
    async fn read_stage(&self, job: &Job<'_>, report: &mut SyncReport) -> Result<Option<Reading>> {
        let phase = Instant::now();
        let client = Directories::new(self.settings).client(&job.config.name)?;
        let mut session = client.connect().await?;
        let info = session.domain_info(job.config).await?;
        let cursor = self.store.sync_cursor(&job.name).await?;
        let mode = mode::decide(&ModeInputs {
            full_requested: job.options.full,
            confirming_removals: job.confirming,
            in_chain: info.uses_in_chain(job.config.membership),
            cursor: cursor.as_ref(),
            info: &info,
            now: self.clock.now(),
        });
        report.mode = mode.run_mode();
        if let Mode::Full { reason } = &mode {
            report.full_reason = Some(reason.clone());
        }
        let now = self.clock.now();
        let grace = Duration::days(i64::from(self.settings.sync.grace_days));
        let cursor_after = cursor_of(&job.name, &info, now);
        let groups = read::groups(&mut session, job.config, &info).await?;
        let (mut seen, scope, rotation, index) = match mode {
            Mode::Full { .. } => {
                let ((seen, rotation), index) = tokio::try_join!(
                    read::full(&mut session, &info, &groups, job.progress),
                    batches::load_index(self.store, &job.name),
                )?;
                (seen, InScope::Read, rotation, index)
            }
            Mode::Incremental { since } => {
                let changes =
                    read::changes(&mut session, &info, &groups, since, job.progress).await?;
                if changes.nothing()
                    && !self
                        .store
                        .any_account_missing_since_before(&job.name, now - grace)
                        .await?
                {
                    // Nothing read, no group changed, nothing to expire: the plan is empty by
                    // construction, so no stored account is loaded; only the cursor moves.
                    session.close().await;
                    report.phases_ms.read = millis_since(phase);
                    self.record_unchanged(job, cursor_after, report).await?;
                    return Ok(None);
                }
                let index = batches::load_index(self.store, &job.name).await?;
                let (seen, scope, rotation) = read::complete_incremental(
                    &mut session,
                    &info,
                    &groups,
                    changes,
                    &index.ours,
                    job.progress,
                )
                .await?;
                (seen, scope, rotation, index)
            }
        };
        session.close().await;
        // Still ours? A run that lost its lease stops before planning.
        if !self
            .store
            .renew_lease(&job.name, &job.holder, self.lease_expiry())
            .await?
        {
            return Err(lease_lost(&job.name));
        }
        report.read = seen.read;
        report.skipped = std::mem::take(&mut seen.skipped);
        let kept = self.kept_accounts(&job.name, &report.skipped).await?;
        report.phases_ms.read = millis_since(phase);
        Ok(Some(Reading {
            seen,
            scope,
            rotation,
            index,
            now,
            grace,
            cursor_after,
            kept,
        }))
    }

    /// Logs each skipped entry and finds the stored accounts they belong to: by objectGUID when
    /// it could be read, else by DN.
    async fn kept_accounts(
        &self,
        directory: &DirectoryName,
        skipped: &[Skipped],
    ) -> Result<HashSet<Uuid>> {
        let mut kept = HashSet::new();
        let mut dns = Vec::new();
        for s in skipped {
            tracing::warn!(
                directory = %directory,
                dn = %s.dn,
                object_guid = ?s.object_guid,
                reason = %s.reason,
                "entry skipped: its account, if keyward has one, stays as stored"
            );
            match s.object_guid {
                Some(guid) => {
                    kept.insert(guid);
                }
                None => dns.push(s.dn.clone()),
            }
        }
        if !dns.is_empty() {
            kept.extend(self.store.account_guids_with_dns(directory, &dns).await?);
        }
        Ok(kept)
    }

    /// The accounts leaving scope whose removal waits for an administrator (none when under
    /// the threshold or confirmed), reported.
    fn hold_removals(
        &self,
        job: &Job<'_>,
        reading: &Reading,
        report: &mut SyncReport,
    ) -> HashSet<Uuid> {
        let leaving =
            batches::leaving(&reading.index, &reading.seen, &reading.scope, &reading.kept);
        let limits = &self.settings.sync;
        if !batches::must_hold(
            leaving.len(),
            reading.index.present(),
            limits.max_removals,
            limits.max_removal_percent,
            job.confirming,
        ) {
            return HashSet::new();
        }
        report.held = leaving.len() as u64;
        report.held_accounts = leaving
            .iter()
            .map(|g| {
                AccountKey {
                    directory: job.name.clone(),
                    object_guid: *g,
                }
                .to_string()
            })
            .collect();
        leaving.into_iter().collect()
    }

    /// Cuts the run into batches of whole components; plans each, and (unless a dry run)
    /// builds and applies its write. The cursor moves with the last batch.
    async fn plan_and_apply(
        &self,
        job: &Job<'_>,
        reading: Reading,
        held: &HashSet<Uuid>,
        report: &mut SyncReport,
    ) -> Result<()> {
        let Reading {
            mut seen,
            scope,
            rotation,
            mut index,
            now,
            grace,
            cursor_after,
            kept,
        } = reading;
        batches::place(&mut seen, &mut index);
        let partition = index
            .builder
            .finish(self.settings.sync.batch_accounts as usize);
        drop(index.ours);
        let mut users_of: Vec<Vec<usize>> = vec![Vec::new(); partition.batches().len()];
        for (i, node) in std::mem::take(&mut seen.nodes).into_iter().enumerate() {
            if let Some(users) = users_of.get_mut(partition.batch_of(node)) {
                users.push(i);
            }
        }
        let priorities: BTreeMap<DirectoryName, i32> = self
            .settings
            .directories
            .iter()
            .filter_map(|d| DirectoryName::parse(&d.name).ok().map(|n| (n, d.priority)))
            .collect();
        let inputs = BatchInputs {
            directory: &job.name,
            seen: &seen,
            scope: &scope,
            rotation: &rotation,
            held,
            kept: &kept,
            priorities: &priorities,
            now,
            grace,
        };
        let write_ctx = WriteContext {
            directory: &job.name,
            actor: job.actor,
            now,
            run_id: report.run_id,
            invitations: job
                .config
                .invite_new_employees
                .then(|| Duration::hours(i64::from(self.settings.mail.invitation_ttl_hours))),
        };
        // The cursor stays where it was while removals are held: the accounts whose leaving was
        // held left through a change the next incremental run must see again (a group's
        // membership is re-read only when the group changed since the cursor), so they are
        // held again, not forgotten, until a run confirms them.
        let final_cursor = if held.is_empty() { cursor_after } else { None };
        // Each batch is read from the store and planned while the previous batch's write is
        // applied (their components are disjoint, so neither sees the other's rows).
        let mut pending: Option<SyncWrite> = None;
        let of = partition.batches().len();
        for (b, batch) in partition.batches().iter().enumerate() {
            (job.progress)(SyncProgress::Writing { done: b, of });
            let previous = pending.take();
            let (applied, planned) = tokio::join!(
                self.apply_timed(job, previous),
                self.plan_batch(job, &inputs, &batch.employees, &users_of[b], now),
            );
            report.phases_ms.write += applied?;
            let planned = planned?;
            report.phases_ms.plan += planned.millis;
            summarize(&planned.plan, report);
            if job.options.dry_run || planned.plan.is_empty() {
                continue;
            }
            let phase = Instant::now();
            let mut write = write_of(
                planned.plan,
                &planned.employees,
                &planned.stored,
                &write_ctx,
            );
            write.passwords = planned.passwords;
            report.phases_ms.write += millis_since(phase);
            pending = Some(write);
        }
        if !job.options.dry_run {
            let mut last = pending.take().unwrap_or_default();
            last.cursor = final_cursor;
            report.phases_ms.write += self.apply_timed(job, Some(last)).await?;
        }
        (job.progress)(SyncProgress::Writing { done: of, of });
        Ok(())
    }

    /// Reads one batch's stored state and plans it; for a real run, also the password writes
    /// of the accounts that split off their employee.
    async fn plan_batch(
        &self,
        job: &Job<'_>,
        inputs: &BatchInputs<'_>,
        employees: &[keyward_model::EmployeeId],
        users: &[usize],
        now: DateTime<Utc>,
    ) -> Result<Planned> {
        let phase = Instant::now();
        let state = self.store.sync_batch_state(employees).await?;
        let (input, employees) = inputs.plan_input(users, state);
        let the_plan = plan(&input);
        let passwords = if job.options.dry_run {
            Vec::new()
        } else {
            detach_split_accounts(self.store, &the_plan, job.actor, now).await?
        };
        Ok(Planned {
            plan: the_plan,
            employees,
            stored: input.stored_accounts,
            passwords,
            millis: millis_since(phase),
        })
    }

    /// Applies a write (if any); returns the milliseconds it took.
    async fn apply_timed(&self, job: &Job<'_>, write: Option<SyncWrite>) -> Result<u64> {
        let Some(write) = write else {
            return Ok(0);
        };
        let phase = Instant::now();
        self.apply(job, write).await?;
        Ok(millis_since(phase))
    }

    /// Applies one write in one transaction, which first checks and extends the run's lease.
    async fn apply(&self, job: &Job<'_>, mut write: SyncWrite) -> Result<()> {
        write.lease = Some(LeaseHold {
            directory: job.name.clone(),
            holder: job.holder.clone(),
            until: self.lease_expiry(),
        });
        Ok(self.store.apply_sync(&write).await?)
    }

    /// Renews the run's lease every [`LEASE_RENEW`], so a long read keeps it; never returns
    /// (the run is what ends). A lease found lost is logged once; the run's next write, which
    /// checks the lease in its transaction, then stops it.
    async fn keep_lease(&self, job: &Job<'_>) -> std::convert::Infallible {
        let mut warned = false;
        loop {
            tokio::time::sleep(LEASE_RENEW).await;
            match self
                .store
                .renew_lease(&job.name, &job.holder, self.lease_expiry())
                .await
            {
                Ok(held) => {
                    if !held && !warned {
                        warned = true;
                        tracing::warn!(directory = %job.name, "this sync run lost its lease; it stops at its next write");
                    }
                }
                Err(e) => {
                    tracing::warn!(directory = %job.name, error = %e, "cannot renew the sync lease");
                }
            }
        }
    }

    fn lease_expiry(&self) -> DateTime<Utc> {
        self.clock.now() + Duration::seconds(LEASE_SECONDS)
    }

    /// Finishes an incremental run in which nothing was read, no group changed and no grace
    /// period ran out: only the cursor moves.
    async fn record_unchanged(
        &self,
        job: &Job<'_>,
        cursor: Option<SyncCursor>,
        report: &mut SyncReport,
    ) -> Result<()> {
        report.unchanged = self.store.count_accounts_in_scope(&job.name).await?;
        if job.options.dry_run {
            if !self
                .store
                .renew_lease(&job.name, &job.holder, self.lease_expiry())
                .await?
            {
                return Err(lease_lost(&job.name));
            }
            return Ok(());
        }
        self.apply(
            job,
            SyncWrite {
                cursor,
                ..SyncWrite::default()
            },
        )
        .await
    }
}

/// The cursor a run leaves: this domain controller and the USN read before the search.
fn cursor_of(name: &DirectoryName, info: &DomainInfo, now: DateTime<Utc>) -> Option<SyncCursor> {
    info.invocation_id.map(|inv| SyncCursor {
        directory: name.clone(),
        invocation_id: inv.to_string(),
        dc_host: info.root.dns_host_name.clone().unwrap_or_default(),
        highest_usn: info.root.highest_committed_usn.unwrap_or(0),
        updated_at: now,
    })
}

fn lease_lost(name: &DirectoryName) -> Error {
    Error::ConcurrentChange(format!(
        "the lease of {name} expired during the run; nothing more was written"
    ))
}
