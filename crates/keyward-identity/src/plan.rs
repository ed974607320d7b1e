//! The sync plan: what must change so that the stored state matches one directory's current
//! view, with a reason for each change.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use keyward_model::{
    DirectoryAccount, DirectoryName, DirectoryUser, Email, EmployeeId, EmployeeOrigin,
    EmployeeStatus,
};
use serde::{Deserialize, Serialize};

use crate::{
    Account, AccountKey, Conflict, EmployeeRef, ExistingEmployee, MergeInput, Split, merge,
};

/// An employee as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEmployee {
    /// Id.
    pub id: EmployeeId,
    /// E-mail.
    pub email: Option<Email>,
    /// Display name.
    pub display_name: String,
    /// Status.
    pub status: EmployeeStatus,
    /// Origin.
    pub origin: EmployeeOrigin,
}

/// An account as stored (the model's [`DirectoryAccount`]).
pub type StoredAccount = DirectoryAccount;

/// A user of the run's directory as read now, with its rotation-group membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// The user.
    pub user: DirectoryUser,
    /// Transitive member of the rotation group.
    pub in_rotation_group: bool,
}

/// Everything the plan needs.
#[derive(Debug, Clone)]
pub struct PlanInput {
    /// The directory being synchronized.
    pub directory: DirectoryName,
    /// Its complete current view: every user in scope now.
    pub observed: Vec<Observed>,
    /// Every stored account of every directory, missing ones included.
    pub stored_accounts: Vec<StoredAccount>,
    /// Every stored employee.
    pub stored_employees: Vec<StoredEmployee>,
    /// Priority of each directory (absent: 0).
    pub priorities: BTreeMap<DirectoryName, i32>,
    /// The time of the run.
    pub now: DateTime<Utc>,
    /// How long a missing account is kept before removal.
    pub grace: Duration,
}

/// A change to an employee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EmployeeChange {
    /// A new employee.
    Create {
        /// Its canonical key (`EmployeeRef::New`).
        employee: EmployeeRef,
        /// E-mail.
        email: Option<Email>,
        /// Display name.
        display_name: String,
        /// Status.
        status: EmployeeStatus,
    },
    /// Fields of an existing employee change.
    Update {
        /// Which.
        id: EmployeeId,
        /// New e-mail.
        email: Option<Email>,
        /// New display name.
        display_name: String,
        /// New status.
        status: EmployeeStatus,
        /// What changed, e.g. `display_name`, `status`.
        reasons: Vec<String>,
    },
    /// An employee created by hand gets its first directory account (audited).
    Link {
        /// Which.
        id: EmployeeId,
        /// The account linked.
        account: AccountKey,
    },
}

/// A change to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountChange {
    /// A new account in scope.
    Create {
        /// The account (its `employee_id` is a placeholder until `employee` is resolved).
        account: DirectoryAccount,
        /// Its employee.
        employee: EmployeeRef,
    },
    /// A stored account changed in the directory, came back, or moves to another employee.
    Update {
        /// The account as it is now.
        account: DirectoryAccount,
        /// Its employee.
        employee: EmployeeRef,
        /// What changed.
        reasons: Vec<String>,
    },
    /// The account left scope: it is marked missing now.
    MarkMissing {
        /// Which.
        key: AccountKey,
        /// The account's DN, for reports.
        dn: String,
    },
    /// The account has been missing longer than the grace period.
    Remove {
        /// Which.
        key: AccountKey,
        /// The account's DN, for reports.
        dn: String,
    },
}

/// The plan of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Employee changes.
    pub employees: Vec<EmployeeChange>,
    /// Account changes.
    pub accounts: Vec<AccountChange>,
    /// Accounts of the run's directory that need nothing.
    pub unchanged: usize,
    /// Same-directory e-mail conflicts (of any directory; those of the run's directory are held).
    pub conflicts: Vec<Conflict>,
    /// Accounts of the run's directory without a usable e-mail.
    pub not_mergeable: Vec<AccountKey>,
    /// Accounts that leave their employee for the employee of their new e-mail (of any
    /// directory). Each moved account is also an [`AccountChange::Update`] with the reason
    /// `employee`; a split to a new employee comes with its [`EmployeeChange::Create`]. See
    /// [`Split`] for what must happen to the account's key and password state.
    pub splits: Vec<Split>,
}

impl Plan {
    /// True when the run would change nothing.
    pub fn is_empty(&self) -> bool {
        self.employees.is_empty() && self.accounts.is_empty()
    }
}

fn key_of(directory: &DirectoryName, guid: uuid::Uuid) -> AccountKey {
    AccountKey {
        directory: directory.clone(),
        object_guid: guid,
    }
}

/// The display name the plan gives an account: displayName, else given name and surname, else
/// sAMAccountName.
pub fn best_name(user: &DirectoryUser) -> Option<String> {
    user.display_name.clone().or_else(|| {
        match (&user.given_name, &user.surname) {
            (Some(g), Some(s)) => Some(format!("{g} {s}")),
            (Some(g), None) => Some(g.clone()),
            (None, Some(s)) => Some(s.clone()),
            (None, None) => None,
        }
        .or_else(|| user.sam_account_name.clone())
    })
}

fn account_from(
    directory: &DirectoryName,
    o: &Observed,
    placeholder: EmployeeId,
    now: DateTime<Utc>,
) -> DirectoryAccount {
    DirectoryAccount {
        directory: directory.clone(),
        object_guid: o.user.object_guid,
        employee_id: placeholder,
        dn: o.user.dn.clone(),
        sam_account_name: o.user.sam_account_name.clone(),
        user_principal_name: o.user.user_principal_name.clone(),
        mail: o.user.mail.as_deref().and_then(|m| Email::parse(m).ok()),
        display_name: best_name(&o.user),
        enabled: o.user.enabled,
        in_rotation_group: o.in_rotation_group,
        usn_changed: o.user.usn_changed,
        last_seen_at: now,
        missing_since: None,
    }
}

/// What changed between a stored account and the directory's current one.
fn differences(stored: &DirectoryAccount, now: &DirectoryAccount) -> Vec<String> {
    let mut reasons = Vec::new();
    let mut check = |name: &str, changed: bool| {
        if changed {
            reasons.push(name.to_owned());
        }
    };
    check("dn", stored.dn != now.dn);
    check(
        "sam_account_name",
        stored.sam_account_name != now.sam_account_name,
    );
    check(
        "user_principal_name",
        stored.user_principal_name != now.user_principal_name,
    );
    check("mail", stored.mail != now.mail);
    check("display_name", stored.display_name != now.display_name);
    check("enabled", stored.enabled != now.enabled);
    check(
        "in_rotation_group",
        stored.in_rotation_group != now.in_rotation_group,
    );
    check("returned", stored.missing_since.is_some());
    reasons
}

/// Plans a run of `input.directory`. Pure.
#[allow(clippy::too_many_lines)] // One pass per concern, in order: merge, accounts, employees.
pub fn plan(input: &PlanInput) -> Plan {
    let dir = &input.directory;
    let placeholder = EmployeeId::from_uuid(uuid::Uuid::nil());
    let observed: BTreeMap<AccountKey, DirectoryAccount> = input
        .observed
        .iter()
        .map(|o| {
            (
                key_of(dir, o.user.object_guid),
                account_from(dir, o, placeholder, input.now),
            )
        })
        .collect();
    let stored: BTreeMap<AccountKey, &DirectoryAccount> = input
        .stored_accounts
        .iter()
        .map(|a| (key_of(&a.directory, a.object_guid), a))
        .collect();
    let priority = |d: &DirectoryName| input.priorities.get(d).copied().unwrap_or(0);

    // The complete view: this directory as observed, other directories as stored. Missing
    // accounts keep their employee but count as disabled; those past the grace period are gone.
    let expired = |a: &DirectoryAccount| {
        a.missing_since
            .is_some_and(|since| input.now - since > input.grace)
    };
    let mut merge_accounts = Vec::new();
    for (key, account) in &observed {
        merge_accounts.push(Account {
            key: key.clone(),
            priority: priority(dir),
            mail: account.mail.as_ref().map(|m| m.as_str().to_owned()),
            display_name: account.display_name.clone(),
            enabled: account.enabled,
            in_scope: true,
            linked_to: stored.get(key).map(|s| s.employee_id),
        });
    }
    for (key, account) in &stored {
        let ours = &key.directory == dir;
        if (ours && observed.contains_key(key)) || expired(account) {
            continue;
        }
        merge_accounts.push(Account {
            key: key.clone(),
            priority: priority(&key.directory),
            mail: account.mail.as_ref().map(|m| m.as_str().to_owned()),
            display_name: account.display_name.clone(),
            enabled: account.enabled,
            // A stored account of this directory that is not observed now is leaving scope.
            in_scope: account.missing_since.is_none() && !ours,
            linked_to: Some(account.employee_id),
        });
    }
    let existing: Vec<ExistingEmployee> = input
        .stored_employees
        .iter()
        .map(|e| ExistingEmployee {
            id: e.id,
            email: e.email.clone(),
        })
        .collect();
    let merged = merge(&MergeInput {
        accounts: merge_accounts,
        employees: existing,
    });
    let owner: BTreeMap<&AccountKey, &EmployeeRef> = merged
        .employees
        .iter()
        .flat_map(|e| e.accounts.iter().map(move |k| (k, &e.employee)))
        .collect();
    let held: BTreeSet<&AccountKey> = merged
        .conflicts
        .iter()
        .flat_map(|c| c.accounts.iter())
        .collect();

    let mut plan = Plan {
        conflicts: merged.conflicts.clone(),
        not_mergeable: merged
            .not_mergeable
            .iter()
            .filter(|k| &k.directory == dir)
            .cloned()
            .collect(),
        splits: merged.splits.clone(),
        ..Plan::default()
    };

    // Accounts of this directory.
    for (key, now) in &observed {
        if held.contains(key) {
            continue;
        }
        let Some(employee) = owner.get(key) else {
            continue;
        };
        match stored.get(key) {
            None => plan.accounts.push(AccountChange::Create {
                account: now.clone(),
                employee: (*employee).clone(),
            }),
            Some(before) => {
                let mut reasons = differences(before, now);
                if **employee != EmployeeRef::Existing(before.employee_id) {
                    reasons.push("employee".into());
                }
                if reasons.is_empty() {
                    plan.unchanged += 1;
                } else {
                    plan.accounts.push(AccountChange::Update {
                        account: now.clone(),
                        employee: (*employee).clone(),
                        reasons,
                    });
                }
            }
        }
    }
    for (key, before) in &stored {
        if &key.directory == dir && !observed.contains_key(key) {
            if expired(before) {
                plan.accounts.push(AccountChange::Remove {
                    key: key.clone(),
                    dn: before.dn.clone(),
                });
            } else if before.missing_since.is_none() {
                plan.accounts.push(AccountChange::MarkMissing {
                    key: key.clone(),
                    dn: before.dn.clone(),
                });
            }
        } else if &key.directory != dir
            && let Some(employee) = owner.get(key)
            && **employee != EmployeeRef::Existing(before.employee_id)
        {
            // Another directory's account moves to the employee its e-mail now converges on.
            plan.accounts.push(AccountChange::Update {
                account: (*before).clone(),
                employee: (*employee).clone(),
                reasons: vec!["employee".into()],
            });
        }
    }

    // Employees.
    let stored_employees: BTreeMap<EmployeeId, &StoredEmployee> =
        input.stored_employees.iter().map(|e| (e.id, e)).collect();
    let linked_before: BTreeSet<EmployeeId> = input
        .stored_accounts
        .iter()
        .map(|a| a.employee_id)
        .collect();
    for e in &merged.employees {
        let touches_run = e.accounts.iter().any(|k| &k.directory == dir);
        let display_name = e
            .display_name
            .clone()
            .or_else(|| e.email.as_ref().map(|m| m.as_str().to_owned()))
            .unwrap_or_else(|| {
                e.accounts
                    .first()
                    .map_or_else(|| "unknown".into(), ToString::to_string)
            });
        match &e.employee {
            // Also when none of its accounts is of this run's directory: accounts of another
            // directory that split off to a new employee.
            EmployeeRef::New(_) => plan.employees.push(EmployeeChange::Create {
                employee: e.employee.clone(),
                email: e.email.clone(),
                display_name,
                status: e.status,
            }),
            EmployeeRef::Existing(id) => {
                let Some(before) = stored_employees.get(id) else {
                    continue;
                };
                if before.origin == EmployeeOrigin::Manual
                    && !linked_before.contains(id)
                    && touches_run
                    && let Some(first) = e.accounts.iter().find(|k| &k.directory == dir)
                {
                    plan.employees.push(EmployeeChange::Link {
                        id: *id,
                        account: first.clone(),
                    });
                }
                // A directory employee's e-mail is its accounts' (none when its account has no
                // usable mail); one created by hand keeps its own when its accounts have none.
                let email = match before.origin {
                    EmployeeOrigin::Directory => e.email.clone(),
                    EmployeeOrigin::Manual => e.email.clone().or_else(|| before.email.clone()),
                };
                let mut reasons = Vec::new();
                if before.email != email {
                    reasons.push("email".to_owned());
                }
                if before.display_name != display_name {
                    reasons.push("display_name".to_owned());
                }
                if before.status != e.status {
                    reasons.push("status".to_owned());
                }
                if !reasons.is_empty() {
                    plan.employees.push(EmployeeChange::Update {
                        id: *id,
                        email,
                        display_name,
                        status: e.status,
                        reasons,
                    });
                }
            }
        }
    }
    plan
}
