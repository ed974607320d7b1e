//! The report of a run: counts, per-entry outcomes (at most [`MAX_OUTCOMES`]), what was held,
//! and where the time went. Built batch by batch with [`summarize`]; pure.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use keyward_identity::{AccountChange, AccountKey, EmployeeChange, EmployeeRef, Plan};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Per-entry outcomes kept in a run's report; the counts are always complete.
pub const MAX_OUTCOMES: usize = 1000;

/// How a run read the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    /// Every user in scope.
    Full,
    /// What changed since the last run's cursor.
    Incremental,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Reading, planning or writing now, or stopped by a crash: the next run of the directory
    /// closes it as `Failed` ("interrupted: …") when it takes the expired lease over.
    Running,
    /// Finished; everything planned was written (nothing, for a dry run).
    Succeeded,
    /// Stopped with the error in `error`; batches written before it stay written.
    Failed,
}

macro_rules! as_str {
    ($t:ty { $($v:ident => $s:literal),+ }) => {
        impl $t {
            /// The name reports and the database use.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }

            /// The value of a stored name; `None` for a name no keyward wrote.
            pub fn parse(name: &str) -> Option<Self> {
                match name { $($s => Some(Self::$v),)+ _ => None }
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

as_str!(RunMode { Full => "full", Incremental => "incremental" });
as_str!(RunStatus { Running => "running", Succeeded => "succeeded", Failed => "failed" });

/// One entry that was skipped: it could not be decoded (docs/product.md §1). It is neither
/// created nor updated; the stored account it belongs to (by its objectGUID when that could be
/// read, else by its DN) is planned as in scope and unchanged, so it is never marked missing or
/// removed because of the skip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Skipped {
    /// Its DN (at most 200 characters of it).
    pub dn: String,
    /// Why: names the attribute that could not be read.
    pub reason: String,
    /// Its objectGUID, when that could be read.
    #[serde(default)]
    pub object_guid: Option<Uuid>,
}

/// A same-directory e-mail conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConflictReport {
    /// The shared e-mail.
    pub email: String,
    /// The accounts (`directory/objectGUID`).
    pub accounts: Vec<String>,
}

/// One planned or applied change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyncReport {
    /// Run id.
    pub run_id: Uuid,
    /// Directory.
    pub directory: String,
    /// How the directory was read.
    pub mode: RunMode,
    /// Why a full run was done when an incremental one was asked for.
    pub full_reason: Option<String>,
    /// Planned only.
    pub dry_run: bool,
    /// Where the run is.
    pub status: RunStatus,
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

/// Milliseconds a run spent in each phase. A batch is planned while the previous one is written,
/// so `plan` and `write` overlap and may add up to more than the run took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Phases {
    /// Reading the directory (and, for an incremental run, the stored accounts).
    pub read: u64,
    /// Merging and planning.
    pub plan: u64,
    /// Writing the plan in one transaction.
    pub write: u64,
}

pub(super) fn millis_since(t: std::time::Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl SyncReport {
    /// The report of a run that starts now: counts at zero, status `running`.
    pub(super) fn starting(
        run_id: Uuid,
        directory: &str,
        dry_run: bool,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            run_id,
            directory: directory.to_owned(),
            mode: RunMode::Full,
            full_reason: None,
            dry_run,
            status: RunStatus::Running,
            started_at: at,
            finished_at: at,
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
        }
    }
}

/// Adds one (batch's) plan to the report: its counts, conflicts and outcomes.
#[allow(clippy::too_many_lines)] // One counter and one outcome line per kind of change.
pub(super) fn summarize(plan: &Plan, report: &mut SyncReport) {
    report.unchanged += plan.unchanged as u64;
    report.not_mergeable += plan.not_mergeable.len() as u64;
    report
        .conflicts
        .extend(plan.conflicts.iter().map(|c| ConflictReport {
            email: c.email.as_str().to_owned(),
            accounts: c.accounts.iter().map(ToString::to_string).collect(),
        }));
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

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_model::DirectoryName;

    fn missing(n: u128) -> AccountChange {
        AccountChange::MarkMissing {
            key: AccountKey {
                directory: DirectoryName::parse("corp").unwrap(),
                object_guid: Uuid::from_u128(n),
            },
            dn: format!("CN=u{n}"),
        }
    }

    /// Batch plans add up: counts are complete, outcomes stop at the cap.
    #[test]
    fn batches_add_up_and_outcomes_are_capped() {
        let mut report = SyncReport::starting(Uuid::nil(), "corp", false, DateTime::UNIX_EPOCH);
        let batch = |from: u128| Plan {
            accounts: (from..from + 600).map(missing).collect(),
            unchanged: 7,
            ..Plan::default()
        };
        summarize(&batch(0), &mut report);
        summarize(&batch(600), &mut report);
        assert_eq!(report.missing, 1200);
        assert_eq!(report.unchanged, 14);
        assert_eq!(report.outcomes.len(), MAX_OUTCOMES);
        assert_eq!(report.outcomes[0].change, "missing");
        assert_eq!(report.mode, RunMode::Full);
        assert_eq!(report.status, RunStatus::Running);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["mode"], "full");
        assert_eq!(json["status"], "running");
        assert_eq!(RunStatus::parse("succeeded"), Some(RunStatus::Succeeded));
        assert_eq!(RunMode::parse("partial"), None);
    }
}
