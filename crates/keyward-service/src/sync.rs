//! Directory sync runs: read a directory (fully or what changed), plan against the stored state
//! with `keyward-identity`, and apply the plan in one transaction.
//!
//! Safety rules (docs/product.md §1):
//! - any search error fails the run before anything is written, so it removes nothing;
//! - an entry that cannot be decoded is skipped with its reason and the run goes on;
//! - accounts that leave scope are marked missing, and removed after `sync.grace_days`;
//! - a run that would mark too many accounts missing holds them for an administrator;
//! - one run per directory at a time, through a lease in the database that expires, so a
//!   crashed holder cannot keep it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use futures_util::{StreamExt, pin_mut};
use keyward_directory::{DirectoryConfig, DomainInfo, Read, Scoping, Session, UserQuery};
use keyward_identity::{
    AccountChange, AccountKey, EmployeeChange, EmployeeRef, Observed, Plan, PlanInput,
    StoredEmployee, plan,
};
use keyward_model::{
    DirectoryAccount, DirectoryName, DirectoryUser, DisplayName, Employee, EmployeeId,
    EmployeeOrigin, NewAuditRecord,
};
use keyward_store::{Store, SyncCursor, SyncRunRecord, SyncWrite};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::{Actor, Clock, Directories, Error, Result, Settings};

/// How long a run's lease lasts before another process may take over (renewed while reading).
const LEASE_SECONDS: i64 = 600;
/// Per-entry outcomes kept in a run's report; the counts are always complete.
const MAX_OUTCOMES: usize = 1000;
/// GUIDs per `(|(objectGUID=…)…)` filter when fetching new members of an incremental run.
const GUID_BATCH: usize = 50;

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

/// One entry that was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Its DN.
    pub dn: String,
    /// Why.
    pub reason: String,
}

/// A same-directory e-mail conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictReport {
    /// The shared e-mail.
    pub email: String,
    /// The accounts (`directory/objectGUID`).
    pub accounts: Vec<String>,
}

/// One planned or applied change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// `create`, `update`, `link`, `missing`, `remove`, `held`, `employee_create`, `employee_update`.
    pub change: String,
    /// The account (`directory/objectGUID`) or employee it is about.
    pub subject: String,
    /// The DN, when it is an account.
    pub dn: Option<String>,
    /// Why.
    pub reasons: Vec<String>,
}

/// The report of one run of one directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Run id.
    pub run_id: Uuid,
    /// Directory.
    pub directory: String,
    /// `full` or `incremental`.
    pub mode: String,
    /// Why a full run was done when an incremental one was asked for.
    pub full_reason: Option<String>,
    /// Planned only.
    pub dry_run: bool,
    /// `succeeded` or `failed`.
    pub status: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// Users read from the directory.
    pub read: u64,
    /// Accounts created.
    pub created: u64,
    /// Accounts updated.
    pub updated: u64,
    /// Employees created.
    pub employees_created: u64,
    /// Employees updated (name, e-mail, status).
    pub employees_updated: u64,
    /// Accounts linked to an existing employee of another origin (by hand) or moved to the
    /// employee their e-mail now converges on.
    pub merged: u64,
    /// Accounts split off their employee for the employee of their new e-mail (each with an
    /// outcome `split` naming the reason); such an account leaves the key it was on and its
    /// rotation in flight is cancelled.
    #[serde(default)]
    pub splits: u64,
    /// Accounts that need nothing.
    pub unchanged: u64,
    /// Accounts marked missing (left scope).
    pub missing: u64,
    /// Accounts removed after the grace period.
    pub removed: u64,
    /// Accounts that left scope but are held for confirmation (removal threshold).
    pub held: u64,
    /// Entries skipped, with reasons.
    pub skipped: Vec<Skipped>,
    /// Same-directory e-mail conflicts.
    pub conflicts: Vec<ConflictReport>,
    /// Accounts without a usable e-mail.
    pub not_mergeable: u64,
    /// Changes (at most 1000 listed).
    pub outcomes: Vec<Outcome>,
    /// Accounts whose removal is held (`directory/objectGUID`).
    pub held_accounts: Vec<String>,
    /// Why the run failed.
    pub error: Option<String>,
    /// Where the time went, in milliseconds.
    #[serde(default)]
    pub phases_ms: Phases,
}

/// Milliseconds a run spent in each phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phases {
    /// Reading the directory (and, for an incremental run, the stored accounts).
    pub read: u64,
    /// Merging and planning.
    pub plan: u64,
    /// Writing the plan in one transaction.
    pub write: u64,
}

fn millis_since(t: std::time::Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A progress callback: called with the number of users read so far.
pub type Progress<'p> = &'p (dyn Fn(u64) + Send + Sync);

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

/// What an incremental run read before deciding whether anything changed.
struct Changes {
    /// The cursor's USN.
    since: i64,
    /// Users changed since.
    changed: Read_,
    /// The highest uSNChanged in the sync group's tree.
    sync_tree: i64,
    /// The highest uSNChanged in the rotation group's tree.
    rotation_tree: i64,
    /// Users deleted since, or members changed since outside the base: some may have left
    /// scope without any group of the tree changing (see `Session::changed_outside_base`).
    outside: HashSet<Uuid>,
}

impl Changes {
    /// Nothing read, nothing skipped, no group changed, nobody deleted or moved out of the base.
    fn nothing(&self) -> bool {
        self.changed.read == 0
            && self.changed.skipped.is_empty()
            && self.sync_tree <= self.since
            && self.rotation_tree <= self.since
            && self.outside.is_empty()
    }
}

struct Read_ {
    observed: Vec<Observed>,
    skipped: Vec<Skipped>,
    read: u64,
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
        let directories = Directories::new(self.settings);
        let config = directories.config(directory)?;
        let name = DirectoryName::parse(&config.name)?;
        let mut bypass_threshold = false;
        if let Some(held_run) = options.confirm_removals_of {
            let run = self
                .store
                .run(held_run)
                .await?
                .ok_or_else(|| Error::NotFound {
                    what: "sync run",
                    key: held_run.to_string(),
                })?;
            if run.directory != config.name || run.report["held"].as_u64().unwrap_or(0) == 0 {
                return Err(Error::InvalidInput(format!(
                    "run {held_run} of {} held no removals of {}",
                    run.directory, config.name
                )));
            }
            bypass_threshold = true;
        }
        let holder = format!("{}:{}", std::process::id(), Uuid::new_v4());
        let now = self.clock.now();
        if !self
            .store
            .acquire_lease(&name, &holder, now, now + Duration::seconds(LEASE_SECONDS))
            .await?
        {
            return Err(Error::InvalidTransition(format!(
                "a sync of {} is already running (another process holds its lease); try again later",
                config.name
            )));
        }
        let run_id = Uuid::now_v7();
        let result = self
            .run_with_lease(
                config,
                &name,
                run_id,
                options,
                bypass_threshold,
                actor,
                progress,
                &holder,
            )
            .await;
        self.store.release_lease(&name, &holder).await?;
        result
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

    #[allow(clippy::too_many_arguments)]
    async fn run_with_lease(
        &self,
        config: &DirectoryConfig,
        name: &DirectoryName,
        run_id: Uuid,
        options: &SyncOptions,
        bypass_threshold: bool,
        actor: &Actor,
        progress: Progress<'_>,
        holder: &str,
    ) -> Result<SyncReport> {
        let started_at = self.clock.now();
        let mut report = SyncReport {
            run_id,
            directory: config.name.clone(),
            mode: "full".into(),
            full_reason: None,
            dry_run: options.dry_run,
            status: "running".into(),
            started_at,
            finished_at: started_at,
            read: 0,
            created: 0,
            updated: 0,
            employees_created: 0,
            employees_updated: 0,
            merged: 0,
            splits: 0,
            unchanged: 0,
            missing: 0,
            removed: 0,
            held: 0,
            skipped: Vec::new(),
            conflicts: Vec::new(),
            not_mergeable: 0,
            outcomes: Vec::new(),
            held_accounts: Vec::new(),
            error: None,
            phases_ms: Phases::default(),
        };
        self.save(&report).await?;
        let outcome = self
            .read_plan_apply(
                config,
                name,
                options,
                bypass_threshold,
                actor,
                progress,
                holder,
                &mut report,
            )
            .await;
        report.finished_at = self.clock.now();
        match outcome {
            Ok(()) => {
                report.status = "succeeded".into();
                self.save(&report).await?;
                Ok(report)
            }
            Err(e) => {
                report.status = "failed".into();
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
            mode: report.mode.clone(),
            dry_run: report.dry_run,
            status: report.status.clone(),
            started_at: report.started_at,
            finished_at: (report.status != "running").then_some(report.finished_at),
            report: serde_json::to_value(report).map_err(|e| Error::Internal {
                source: Box::new(e),
            })?,
            error: report.error.clone(),
        };
        Ok(self.store.save_run(&record).await?)
    }

    #[allow(clippy::too_many_arguments, clippy::too_many_lines)]
    async fn read_plan_apply(
        &self,
        config: &DirectoryConfig,
        name: &DirectoryName,
        options: &SyncOptions,
        bypass_threshold: bool,
        actor: &Actor,
        progress: Progress<'_>,
        holder: &str,
        report: &mut SyncReport,
    ) -> Result<()> {
        let phase = std::time::Instant::now();
        let client = Directories::new(self.settings).client(&config.name)?;
        let mut session = client.connect().await?;
        let info = session.domain_info(config).await?;
        let now = self.clock.now();
        let cursor = self.store.sync_cursor(name).await?;
        let in_chain = info.uses_in_chain(config.membership);
        let invocation = info
            .invocation_id
            .map(|u| u.to_string())
            .unwrap_or_default();
        let highest_usn = info.root.highest_committed_usn.unwrap_or(0);
        let full_reason = if options.full {
            Some("a full run was requested".to_owned())
        } else if bypass_threshold {
            Some("confirming held removals needs a complete read".to_owned())
        } else if !in_chain {
            Some("incremental runs need LDAP_MATCHING_RULE_IN_CHAIN (Active Directory)".to_owned())
        } else {
            match &cursor {
                None => Some("no previous run of this directory".to_owned()),
                Some(c) if c.invocation_id != invocation || invocation.is_empty() => Some(format!(
                    "the domain controller is not the one of the last run ({} then, {} now) or was restored",
                    c.dc_host,
                    info.root.dns_host_name.as_deref().unwrap_or("?")
                )),
                Some(c) if c.highest_usn > highest_usn => Some(
                    "the domain controller's USN is below the cursor (restored from backup)"
                        .to_owned(),
                ),
                Some(_) => None,
            }
        };
        let (sync_group, sync_scoping) = session.scoping(config, &info, &config.sync_group).await?;
        // The rotation group is read by walking its `member` values: it is usually small, and a
        // second LDAP_MATCHING_RULE_IN_CHAIN search over every user costs as much as the main read.
        let rotation_group = session
            .resolve_group(&info.base_dn, &config.rotation_group)
            .await?;
        // An incremental run reads what changed first: when nothing did, it needs no stored
        // account at all (two count queries instead of loading every account).
        let changes = if full_reason.is_some() {
            None
        } else {
            let since = cursor.as_ref().map_or(0, |c| c.highest_usn);
            // Before the read in scope, so that a user who changed in between is found in scope
            // by it rather than taken for one who left.
            let outside = session
                .changed_outside_base(&info, &sync_group, since)
                .await?;
            let mut query = Session::full_query(&info, sync_scoping.clone());
            query.changed_after_usn = Some(since);
            let changed = read_users(&mut session, query, progress).await?;
            let sync_tree = session.group_tree_usn(&info, &sync_group).await?;
            let rotation_tree = session.group_tree_usn(&info, &rotation_group).await?;
            Some(Changes {
                since,
                changed,
                sync_tree,
                rotation_tree,
                outside,
            })
        };
        let grace = Duration::days(i64::from(self.settings.sync.grace_days));
        if changes.as_ref().is_some_and(Changes::nothing)
            && !self
                .store
                .any_account_missing_since_before(name, now - grace)
                .await?
        {
            // Nothing read, no group changed, nothing to expire: the plan is empty by
            // construction, so skip loading accounts and employees; only the cursor moves.
            session.close().await;
            report.mode = "incremental".into();
            report.phases_ms.read = millis_since(phase);
            return self
                .record_unchanged(name, holder, &info, highest_usn, options, report, now)
                .await;
        }
        let stored_accounts = self.store.all_accounts().await?;
        let ours_present: HashMap<Uuid, &DirectoryAccount> = stored_accounts
            .iter()
            .filter(|a| &a.directory == name && a.missing_since.is_none())
            .map(|a| (a.object_guid, a))
            .collect();

        let read = if let Some(reason) = full_reason {
            report.mode = "full".into();
            report.full_reason = Some(reason);
            let rotation = session.walk_members(&info.base_dn, &rotation_group).await?;
            let mut read = read_users(
                &mut session,
                Session::full_query(&info, sync_scoping),
                progress,
            )
            .await?;
            for o in &mut read.observed {
                o.in_rotation_group = rotation.contains(&o.user.dn.to_ascii_lowercase());
            }
            read
        } else {
            report.mode = "incremental".into();
            let Some(Changes {
                since,
                mut changed,
                sync_tree,
                rotation_tree,
                outside,
            }) = changes
            else {
                return Err(Error::Internal {
                    source: "an incremental run without its change read".into(),
                });
            };
            // The changed users read in scope (by LDAP_MATCHING_RULE_IN_CHAIN: members all).
            let changed_ids: HashSet<Uuid> = changed
                .observed
                .iter()
                .map(|o| o.user.object_guid)
                .collect();
            let members: HashSet<Uuid> = if sync_tree > since {
                guids(&mut session, &info, sync_scoping.clone()).await?
            } else {
                // No group of the tree changed: the members are the stored ones, less those
                // deleted or moved out of the base since (neither changes a group), plus the
                // changed users read in scope (one that came back into the base is one).
                ours_present
                    .keys()
                    .chain(&changed_ids)
                    .filter(|g| changed_ids.contains(g) || !outside.contains(g))
                    .copied()
                    .collect()
            };
            // Members that are new to keyward but whose own entry did not change (added to the
            // group): fetch them by objectGUID.
            let new_ids: Vec<Uuid> = members
                .iter()
                .filter(|g| !ours_present.contains_key(g) && !changed_ids.contains(g))
                .copied()
                .collect();
            for batch in new_ids.chunks(GUID_BATCH) {
                let filter = format!(
                    "(|{})",
                    batch
                        .iter()
                        .map(|g| keyward_directory::decode::guid_filter(*g))
                        .collect::<String>()
                );
                let query = UserQuery {
                    extra_filter: Some(filter),
                    ..Session::full_query(&info, sync_scoping.clone())
                };
                let more = read_users(&mut session, query, progress).await?;
                changed.read += more.read;
                changed.skipped.extend(more.skipped);
                changed.observed.extend(more.observed);
            }
            // A user in scope that keyward does not hold in scope (new, or back in scope) has no
            // stored rotation flag to go by (a missing account's may be stale): then the
            // rotation group is walked too, as when it changed.
            let returning = changed.observed.iter().any(|o| {
                members.contains(&o.user.object_guid)
                    && !ours_present.contains_key(&o.user.object_guid)
            });
            let rotation: Option<HashSet<String>> = if rotation_tree > since || returning {
                Some(session.walk_members(&info.base_dn, &rotation_group).await?)
            } else {
                None
            };
            let mut observed: Vec<Observed> = Vec::new();
            for mut o in changed.observed {
                if members.contains(&o.user.object_guid) {
                    o.in_rotation_group = match &rotation {
                        Some(dns) => dns.contains(&o.user.dn.to_ascii_lowercase()),
                        None => ours_present
                            .get(&o.user.object_guid)
                            .is_some_and(|a| a.in_rotation_group),
                    };
                    observed.push(o);
                }
            }
            let seen: HashSet<Uuid> = observed.iter().map(|o| o.user.object_guid).collect();
            for (guid, stored) in &ours_present {
                if members.contains(guid) && !seen.contains(guid) {
                    let in_rotation = rotation.as_ref().map_or(stored.in_rotation_group, |dns| {
                        dns.contains(&stored.dn.to_ascii_lowercase())
                    });
                    observed.push(Observed {
                        user: user_from_stored(stored),
                        in_rotation_group: in_rotation,
                    });
                }
            }
            Read_ {
                observed,
                skipped: changed.skipped,
                read: changed.read,
            }
        };
        session.close().await;
        // Still ours? A run that lost its lease must not write.
        if !self
            .store
            .renew_lease(
                name,
                holder,
                self.clock.now() + Duration::seconds(LEASE_SECONDS),
            )
            .await?
        {
            return Err(Error::ConcurrentChange(format!(
                "the lease of {} expired during the run; nothing was written",
                config.name
            )));
        }
        report.read = read.read;
        report.skipped = read.skipped;
        report.phases_ms.read = millis_since(phase);
        let phase = std::time::Instant::now();
        let employees = self.store.all_employees().await?;
        let priorities: BTreeMap<DirectoryName, i32> = self
            .settings
            .directories
            .iter()
            .filter_map(|d| DirectoryName::parse(&d.name).ok().map(|n| (n, d.priority)))
            .collect();
        // The inputs (every user read) are dropped as soon as the plan exists, and the plan as
        // soon as the write is built: at 50,000 users each copy is tens of megabytes.
        let the_plan = {
            let plan_input = PlanInput {
                directory: name.clone(),
                observed: read.observed,
                stored_accounts: stored_accounts.clone(),
                stored_employees: employees
                    .iter()
                    .map(|e| StoredEmployee {
                        id: e.id,
                        email: e.email.clone(),
                        display_name: e.display_name.as_str().to_owned(),
                        status: e.status,
                        origin: e.origin,
                    })
                    .collect(),
                priorities,
                now,
                grace,
            };
            let mut the_plan = plan(&plan_input);
            if let Some(held) =
                self.removals_to_hold(&the_plan, ours_present.len(), bypass_threshold)
            {
                // Plan again as if the held accounts were still in scope, so that nothing that
                // follows from their leaving (their employee's status) happens either.
                let mut again = plan_input;
                for key in &held {
                    if let Some(stored) = ours_present.get(&key.object_guid) {
                        again.observed.push(Observed {
                            user: user_from_stored(stored),
                            in_rotation_group: stored.in_rotation_group,
                        });
                    }
                }
                the_plan = plan(&again);
                report.held = held.len() as u64;
                report.held_accounts = held.iter().map(ToString::to_string).collect();
            }
            the_plan
        };
        summarize(&the_plan, report);
        report.phases_ms.plan = millis_since(phase);
        if options.dry_run {
            return Ok(());
        }
        let phase = std::time::Instant::now();
        let split_off: Vec<AccountKey> = the_plan
            .splits
            .iter()
            .flat_map(|s| s.accounts.iter().cloned())
            .collect();
        let mut write = self.write_of(
            the_plan,
            &employees,
            name,
            actor,
            now,
            report.run_id,
            &info,
            highest_usn,
            &stored_accounts,
        );
        drop(employees);
        drop(ours_present);
        drop(stored_accounts);
        write.passwords = self.detach_split_accounts(&split_off, actor, now).await?;
        if report.held > 0 {
            // The cursor stays where it was: the accounts whose leaving was held left through a
            // change the next incremental run must see again (a group's membership is re-read
            // only when the group changed since the cursor), so they are held again, not
            // forgotten, until a run confirms them.
            write.cursor = None;
        }
        self.store.apply_sync(&write).await?;
        report.phases_ms.write = millis_since(phase);
        Ok(())
    }

    /// Finishes an incremental run in which nothing was read, no group changed and no grace
    /// period ran out: only the cursor moves.
    #[allow(clippy::too_many_arguments)]
    async fn record_unchanged(
        &self,
        name: &DirectoryName,
        holder: &str,
        info: &keyward_directory::DomainInfo,
        highest_usn: i64,
        options: &SyncOptions,
        report: &mut SyncReport,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        if !self
            .store
            .renew_lease(
                name,
                holder,
                self.clock.now() + Duration::seconds(LEASE_SECONDS),
            )
            .await?
        {
            return Err(Error::ConcurrentChange(format!(
                "the lease of {name} expired during the run; nothing was written"
            )));
        }
        report.unchanged = self.store.count_accounts_in_scope(name).await?;
        if !options.dry_run {
            let cursor = info.invocation_id.map(|inv| SyncCursor {
                directory: name.clone(),
                invocation_id: inv.to_string(),
                dc_host: info.root.dns_host_name.clone().unwrap_or_default(),
                highest_usn,
                updated_at: now,
            });
            self.store
                .apply_sync(&SyncWrite {
                    cursor,
                    ..SyncWrite::default()
                })
                .await?;
        }
        Ok(())
    }

    /// The accounts whose removal must wait for an administrator: all that leave scope in this
    /// run, when they are more than `sync.max_removals` or `sync.max_removal_percent`.
    fn removals_to_hold(
        &self,
        plan: &Plan,
        present: usize,
        bypass: bool,
    ) -> Option<Vec<keyward_identity::AccountKey>> {
        let leaving: Vec<keyward_identity::AccountKey> = plan
            .accounts
            .iter()
            .filter_map(|c| match c {
                AccountChange::MarkMissing { key, .. } => Some(key.clone()),
                _ => None,
            })
            .collect();
        let limits = &self.settings.sync;
        let too_many = leaving.len() > limits.max_removals as usize
            || (present > 0
                && leaving.len() * 100 > usize::from(limits.max_removal_percent) * present);
        (!leaving.is_empty() && too_many && !bypass).then_some(leaving)
    }

    /// The password writes of accounts split off their employee: each leaves the key it was on
    /// (that key belongs to the employee it left) and its rotation in flight is cancelled, so no
    /// candidate meant for the old key reaches anyone. An account with no key and nothing in
    /// flight needs nothing.
    async fn detach_split_accounts(
        &self,
        accounts: &[AccountKey],
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<keyward_store::PasswordWrite>> {
        let mut writes = Vec::new();
        for key in accounts {
            let Some(row) = self
                .store
                .account_password(key.directory.as_str(), key.object_guid)
                .await?
            else {
                continue;
            };
            if row.state.key_serial.is_none() && row.state.pending.is_none() {
                continue;
            }
            let detached = crate::passwords::state::detached(
                &row.state,
                "cancelled: the account split off its employee (its e-mail changed)",
            );
            writes.push(keyward_store::PasswordWrite {
                directory: row.directory.clone(),
                object_guid: row.object_guid,
                expected_row_version: Some(row.row_version),
                audit: vec![NewAuditRecord {
                    actor: actor.to_string(),
                    action: "password.detached_from_key".into(),
                    subject: crate::passwords::account_subject(&row.directory, row.object_guid),
                    detail: json!({
                        "key": row.state.key_serial,
                        "rotation_cancelled": row.state.pending.is_some() && detached.pending.is_none(),
                        "why": "split",
                    }),
                    at: now,
                }],
                state: detached,
                notify: None,
                now,
            });
        }
        Ok(writes)
    }

    #[allow(
        clippy::too_many_arguments,
        clippy::too_many_lines,
        clippy::unused_self
    )]
    fn write_of(
        &self,
        plan: Plan,
        employees: &[Employee],
        name: &DirectoryName,
        actor: &Actor,
        now: DateTime<Utc>,
        run_id: Uuid,
        info: &DomainInfo,
        highest_usn: i64,
        stored: &[DirectoryAccount],
    ) -> SyncWrite {
        let mut write = SyncWrite::default();
        let mut ids: HashMap<EmployeeRef, EmployeeId> = HashMap::new();
        let by_id: HashMap<EmployeeId, &Employee> = employees.iter().map(|e| (e.id, e)).collect();
        let audit = |action: &str, subject: String, detail: serde_json::Value| NewAuditRecord {
            actor: actor.to_string(),
            action: action.to_owned(),
            subject,
            detail,
            at: now,
        };
        for change in &plan.employees {
            match change {
                EmployeeChange::Create {
                    employee,
                    email,
                    display_name,
                    status,
                } => {
                    let id = EmployeeId::new_v7();
                    ids.insert(employee.clone(), id);
                    let display_name = DisplayName::parse(display_name)
                        .or_else(|_| DisplayName::parse(&id.to_string()))
                        .unwrap_or_else(|_| unreachable_name());
                    write.new_employees.push(Employee {
                        id,
                        email: email.clone(),
                        display_name,
                        status: *status,
                        origin: EmployeeOrigin::Directory,
                        created_at: now,
                        updated_at: now,
                    });
                    let invite = config_invites(self.settings, name)
                        && *status == keyward_model::EmployeeStatus::Active;
                    if let (true, Some(address)) = (invite, email.as_ref()) {
                        write.invitations.push(keyward_store::NewInvitation {
                            employee_id: id,
                            recipient: address.as_str().to_owned(),
                            expires_at: now
                                + Duration::hours(i64::from(
                                    self.settings.mail.invitation_ttl_hours,
                                )),
                        });
                    }
                    write.audits.push(audit("employee.created", format!("employee:{id}"), json!({ "origin": "directory", "directory": name.as_str(), "run": run_id, "email": email })));
                }
                EmployeeChange::Update {
                    id,
                    email,
                    display_name,
                    status,
                    reasons,
                } => {
                    if let Some(before) = by_id.get(id) {
                        let mut after = (*before).clone();
                        after.email.clone_from(email);
                        if let Ok(n) = DisplayName::parse(display_name) {
                            after.display_name = n;
                        }
                        after.status = *status;
                        after.updated_at = now;
                        write.updated_employees.push(after);
                        write.audits.push(audit("employee.updated", format!("employee:{id}"), json!({ "changed": reasons, "directory": name.as_str(), "run": run_id, "status": status })));
                    }
                }
                EmployeeChange::Link { id, account } => {
                    write.audits.push(audit(
                        "employee.linked",
                        format!("employee:{id}"),
                        json!({ "account": account.to_string(), "run": run_id }),
                    ));
                }
            }
        }
        let resolve = |r: &EmployeeRef, ids: &HashMap<EmployeeRef, EmployeeId>| match r {
            EmployeeRef::Existing(id) => Some(*id),
            EmployeeRef::New(_) => ids.get(r).copied(),
        };
        for split in &plan.splits {
            write.audits.push(audit(
                "employee.split",
                format!("employee:{}", split.from),
                json!({
                    "to": resolve(&split.to, &ids),
                    "accounts": split.accounts.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "reason": split.reason,
                    "directory": name.as_str(),
                    "run": run_id,
                }),
            ));
        }
        let stored_by_key: HashMap<(String, Uuid), &DirectoryAccount> = stored
            .iter()
            .map(|a| ((a.directory.as_str().to_owned(), a.object_guid), a))
            .collect();
        // The plan is consumed: its accounts move into the write instead of being copied.
        for change in plan.accounts {
            match change {
                AccountChange::Create { account, employee }
                | AccountChange::Update {
                    account, employee, ..
                } => {
                    let Some(id) = resolve(&employee, &ids) else {
                        continue;
                    };
                    let mut a = account;
                    a.employee_id = id;
                    // An account of another directory only moves; it keeps what was stored.
                    if &a.directory != name
                        && let Some(before) =
                            stored_by_key.get(&(a.directory.as_str().to_owned(), a.object_guid))
                    {
                        let mut kept = (*before).clone();
                        kept.employee_id = id;
                        a = kept;
                    }
                    write.upsert_accounts.push(a);
                }
                AccountChange::MarkMissing { key, dn } => {
                    write
                        .mark_missing
                        .push((key.directory.clone(), key.object_guid, now));
                    write.audits.push(audit(
                        "account.missing",
                        format!("account:{key}"),
                        json!({ "dn": dn, "run": run_id }),
                    ));
                }
                AccountChange::Remove { key, dn } => {
                    write
                        .remove_accounts
                        .push((key.directory.clone(), key.object_guid));
                    write.audits.push(audit(
                        "account.removed",
                        format!("account:{key}"),
                        json!({ "dn": dn, "run": run_id }),
                    ));
                }
            }
        }
        write.cursor = info.invocation_id.map(|inv| SyncCursor {
            directory: name.clone(),
            invocation_id: inv.to_string(),
            dc_host: info.root.dns_host_name.clone().unwrap_or_default(),
            highest_usn,
            updated_at: now,
        });
        write
    }
}

fn config_invites(settings: &Settings, name: &DirectoryName) -> bool {
    settings
        .directories
        .iter()
        .any(|d| d.name == name.as_str() && d.invite_new_employees)
}

fn unreachable_name() -> DisplayName {
    // "unknown" always parses; this exists only to avoid a panic path.
    DisplayName::parse("unknown").unwrap_or_else(|_| unreachable_name())
}

#[allow(clippy::too_many_lines)] // One counter and one outcome line per kind of change.
fn summarize(plan: &Plan, report: &mut SyncReport) {
    report.unchanged = plan.unchanged as u64;
    report.not_mergeable = plan.not_mergeable.len() as u64;
    report.conflicts = plan
        .conflicts
        .iter()
        .map(|c| ConflictReport {
            email: c.email.as_str().to_owned(),
            accounts: c.accounts.iter().map(ToString::to_string).collect(),
        })
        .collect();
    let push = |report: &mut SyncReport, outcome: Outcome| {
        if report.outcomes.len() < MAX_OUTCOMES {
            report.outcomes.push(outcome);
        }
    };
    for change in &plan.employees {
        match change {
            EmployeeChange::Create { employee, .. } => {
                report.employees_created += 1;
                let subject = match employee {
                    EmployeeRef::New(key) => key.clone(),
                    EmployeeRef::Existing(id) => id.to_string(),
                };
                push(
                    report,
                    Outcome {
                        change: "employee_create".into(),
                        subject,
                        dn: None,
                        reasons: vec![],
                    },
                );
            }
            EmployeeChange::Update { id, reasons, .. } => {
                report.employees_updated += 1;
                push(
                    report,
                    Outcome {
                        change: "employee_update".into(),
                        subject: id.to_string(),
                        dn: None,
                        reasons: reasons.clone(),
                    },
                );
            }
            EmployeeChange::Link { id, account } => {
                report.merged += 1;
                push(
                    report,
                    Outcome {
                        change: "link".into(),
                        subject: id.to_string(),
                        dn: None,
                        reasons: vec![format!("account {account}")],
                    },
                );
            }
        }
    }
    let split_off: HashSet<&AccountKey> = plan.splits.iter().flat_map(|s| &s.accounts).collect();
    for split in &plan.splits {
        report.splits += split.accounts.len() as u64;
        push(
            report,
            Outcome {
                change: "split".into(),
                subject: split.from.to_string(),
                dn: None,
                reasons: std::iter::once(split.reason.clone())
                    .chain(split.accounts.iter().map(|a| format!("account {a}")))
                    .collect(),
            },
        );
    }
    for change in &plan.accounts {
        match change {
            AccountChange::Create { account, .. } => {
                report.created += 1;
                push(
                    report,
                    Outcome {
                        change: "create".into(),
                        subject: format!("{}/{}", account.directory, account.object_guid),
                        dn: Some(account.dn.clone()),
                        reasons: vec![],
                    },
                );
            }
            AccountChange::Update {
                account, reasons, ..
            } => {
                let key = AccountKey {
                    directory: account.directory.clone(),
                    object_guid: account.object_guid,
                };
                if reasons.iter().any(|r| r == "employee") && !split_off.contains(&key) {
                    report.merged += 1;
                }
                report.updated += 1;
                push(
                    report,
                    Outcome {
                        change: "update".into(),
                        subject: format!("{}/{}", account.directory, account.object_guid),
                        dn: Some(account.dn.clone()),
                        reasons: reasons.clone(),
                    },
                );
            }
            AccountChange::MarkMissing { key, dn } => {
                report.missing += 1;
                push(
                    report,
                    Outcome {
                        change: "missing".into(),
                        subject: key.to_string(),
                        dn: Some(dn.clone()),
                        reasons: vec!["left scope".into()],
                    },
                );
            }
            AccountChange::Remove { key, dn } => {
                report.removed += 1;
                push(
                    report,
                    Outcome {
                        change: "remove".into(),
                        subject: key.to_string(),
                        dn: Some(dn.clone()),
                        reasons: vec!["missing longer than the grace period".into()],
                    },
                );
            }
        }
    }
}

/// Reads users; skipped entries are collected, any error fails the read.
async fn read_users(
    session: &mut Session,
    query: UserQuery,
    progress: Progress<'_>,
) -> Result<Read_> {
    let stream = session.users(query);
    pin_mut!(stream);
    let mut out = Read_ {
        observed: Vec::new(),
        skipped: Vec::new(),
        read: 0,
    };
    while let Some(item) = stream.next().await {
        match item? {
            Read::User(user) => {
                out.read += 1;
                if out.read.is_multiple_of(500) {
                    progress(out.read);
                }
                out.observed.push(Observed {
                    user: *user,
                    in_rotation_group: false,
                });
            }
            Read::Skipped(bad) => out.skipped.push(Skipped {
                dn: bad.dn,
                reason: bad.reason,
            }),
        }
    }
    progress(out.read);
    Ok(out)
}

/// The objectGUIDs of a group's users (two attributes per entry: cheap).
async fn guids(
    session: &mut Session,
    info: &DomainInfo,
    scoping: Scoping,
) -> Result<HashSet<Uuid>> {
    let query = UserQuery {
        attributes: vec!["objectGUID".into(), "uSNChanged".into()],
        ..Session::full_query(info, scoping)
    };
    let stream = session.users(query);
    pin_mut!(stream);
    let mut out = HashSet::new();
    while let Some(item) = stream.next().await {
        if let Read::User(user) = item? {
            out.insert(user.object_guid);
        }
    }
    Ok(out)
}

/// A stored account seen again unchanged, as the directory would show it.
fn user_from_stored(a: &DirectoryAccount) -> DirectoryUser {
    DirectoryUser {
        dn: a.dn.clone(),
        object_guid: a.object_guid,
        object_sid: None,
        sam_account_name: a.sam_account_name.clone(),
        user_principal_name: a.user_principal_name.clone(),
        mail: a.mail.as_ref().map(|m| m.as_str().to_owned()),
        given_name: None,
        surname: None,
        display_name: a.display_name.clone(),
        phone: None,
        company: None,
        department: None,
        title: None,
        enabled: a.enabled,
        locked_out: false,
        password_never_expires: false,
        when_changed: None,
        pwd_last_set: None,
        usn_changed: a.usn_changed,
    }
}
