//! The merge: accounts of several directories into employees by e-mail.

use std::collections::{BTreeMap, BTreeSet};

use keyward_model::{DirectoryName, Email, EmployeeId, EmployeeStatus};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The identity of a directory account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountKey {
    /// Directory name.
    pub directory: DirectoryName,
    /// objectGUID.
    pub object_guid: Uuid,
}

impl std::fmt::Display for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.directory, self.object_guid)
    }
}

/// One account of a directory, as the merge sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Identity.
    pub key: AccountKey,
    /// The directory's priority (higher wins profile fields).
    pub priority: i32,
    /// The mail attribute as stored in the directory.
    pub mail: Option<String>,
    /// The best display name the directory offers (displayName, else given name and surname,
    /// else sAMAccountName).
    pub display_name: Option<String>,
    /// Not disabled in the directory.
    pub enabled: bool,
    /// In scope of its directory. `false` for an account that left scope (marked missing, still
    /// within the grace period): it stays with the employee it is linked to and counts as
    /// disabled, and takes no part in e-mail groups, conflicts, splits or profile fields.
    pub in_scope: bool,
    /// The employee this account is linked to now, if stored.
    pub linked_to: Option<EmployeeId>,
}

impl Account {
    /// A minimal account in scope, for examples and tests.
    pub fn for_test(directory: DirectoryName, guid: Uuid, mail: Option<&str>) -> Self {
        Self {
            key: AccountKey {
                directory,
                object_guid: guid,
            },
            priority: 0,
            mail: mail.map(str::to_owned),
            display_name: None,
            enabled: true,
            in_scope: true,
            linked_to: None,
        }
    }

    fn email(&self) -> Option<Email> {
        self.mail.as_deref().and_then(|m| Email::parse(m).ok())
    }

    /// The merge's order of accounts: higher directory priority first, then the smaller key.
    /// Total and independent of input order.
    fn rank(&self) -> (std::cmp::Reverse<i32>, &AccountKey) {
        (std::cmp::Reverse(self.priority), &self.key)
    }
}

/// An employee that exists before the merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingEmployee {
    /// Its id.
    pub id: EmployeeId,
    /// Its e-mail.
    pub email: Option<Email>,
}

/// Everything the merge needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeInput {
    /// Every account of every directory: those in scope, and those that left scope but are
    /// still stored (`in_scope: false`).
    pub accounts: Vec<Account>,
    /// Every employee that exists (created by sync or by hand).
    pub employees: Vec<ExistingEmployee>,
}

/// Which employee: one that exists, or a new one named canonically.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EmployeeRef {
    /// An existing employee.
    Existing(EmployeeId),
    /// A new employee, named by its e-mail or, without one, by its only account.
    New(String),
}

/// One employee of the merge result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedEmployee {
    /// Which employee.
    pub employee: EmployeeRef,
    /// Its e-mail; `None` for a not-mergeable account. An employee left with only accounts out
    /// of scope keeps its stored e-mail.
    pub email: Option<Email>,
    /// Display name from the highest-priority account in scope that has one (accounts out of
    /// scope only when there is no account in scope).
    pub display_name: Option<String>,
    /// Disabled when no account in scope is enabled.
    pub status: EmployeeStatus,
    /// Its accounts (out of scope ones included), sorted.
    pub accounts: Vec<AccountKey>,
    /// Existing employees absorbed here (their e-mail converged): each kept no group and has no
    /// account out of scope, and its highest-ranked account is here. Its accounts in other
    /// groups, if any, are reported as splits.
    pub absorbed: Vec<EmployeeId>,
}

/// Accounts that cannot be merged because their directory has the same e-mail twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The shared e-mail.
    pub email: Email,
    /// The accounts, sorted.
    pub accounts: Vec<AccountKey>,
}

/// Accounts that leave an existing employee which stays (with its other accounts) or is
/// absorbed elsewhere: their e-mail is no longer the e-mail of the group that keeps the
/// employee, so they become (or join) the employee of their new e-mail.
///
/// What must happen to a split-off account besides its new employee (for the service to carry
/// out, in the same transaction as the move, with an `employee.split` audit record):
/// - it is removed from the hardware key it was on (the key belongs to `from`; the account's
///   person may no longer be `from`'s person), and the key keeps `from`'s other accounts;
/// - its password rotation in flight, if any, is cancelled (the candidate was meant for
///   `from`'s key), and the account's password state stays with the account: it is never
///   handed to the key of `to` without a new rotation started for `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// The employee the accounts leave.
    pub from: EmployeeId,
    /// The accounts that leave, sorted.
    pub accounts: Vec<AccountKey>,
    /// The employee they go to (a new one is named as in [`MergedEmployee::employee`]).
    pub to: EmployeeRef,
    /// Why, e.g. `mail changed from a@example.com to b@example.com in corp2`.
    pub reason: String,
}

/// The merge result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeResult {
    /// Employees, sorted by their ref.
    pub employees: Vec<MergedEmployee>,
    /// Same-directory e-mail conflicts, sorted by e-mail.
    pub conflicts: Vec<Conflict>,
    /// Accounts in scope without a usable e-mail (each is its own employee), sorted.
    pub not_mergeable: Vec<AccountKey>,
    /// Accounts that leave their existing employee, sorted by `from`, then `to`.
    pub splits: Vec<Split>,
}

/// One would-be employee: the accounts in scope that share an e-mail (or one account without).
struct Group<'a> {
    email: Option<Email>,
    /// Name of a new employee for it.
    new_name: String,
    /// Sorted by [`Account::rank`].
    accounts: Vec<&'a Account>,
}

/// Merges accounts into employees. Pure: order-independent and idempotent.
///
/// Which group keeps an existing employee id (each id goes to at most one group):
/// 1. the group whose e-mail is the employee's stored e-mail keeps it (two stored employees with
///    that e-mail: the one linked to the group's highest-ranked account, else the smaller id);
/// 2. then, linked accounts in rank order (higher directory priority first, then the smaller
///    account key): each gives its employee to its group, unless that employee or that group is
///    already taken; so an employee goes to the group of its highest-ranked account that is
///    still free;
/// 3. an employee that got no group stays with its accounts out of scope if it has any (alone,
///    disabled); otherwise the group of its highest-ranked account absorbs it;
/// 4. a group still without an employee gets a new one.
///
/// Every account in a group other than the one that keeps or absorbs its linked employee is
/// reported in a [`Split`]. Accounts out of scope stay with the employee they are linked to.
pub fn merge(input: &MergeInput) -> MergeResult {
    // Deduplicate and order the input so nothing downstream depends on input order.
    let mut accounts: BTreeMap<AccountKey, &Account> = BTreeMap::new();
    for account in &input.accounts {
        accounts.insert(account.key.clone(), account);
    }
    let stored_email: BTreeMap<EmployeeId, Option<&Email>> = input
        .employees
        .iter()
        .map(|e| (e.id, e.email.as_ref()))
        .collect();

    let mut result = MergeResult::default();
    let (groups, away) = groups_of(&accounts, &mut result);
    let keeper = keepers(&groups, &stored_email);

    // Rule 3: employees that got no group.
    let mut away_of: BTreeMap<EmployeeId, Vec<&Account>> = BTreeMap::new();
    let mut unlinked_away = Vec::new();
    for account in away {
        match account.linked_to {
            Some(id) => away_of.entry(id).or_default().push(account),
            None => unlinked_away.push(account),
        }
    }
    let absorbed_by = absorbers(&groups, &keeper, &away_of);

    // Rule 4, and the employees.
    let refs: Vec<EmployeeRef> = groups
        .iter()
        .zip(&keeper)
        .map(|(group, id)| {
            id.map_or_else(
                || EmployeeRef::New(group.new_name.clone()),
                EmployeeRef::Existing,
            )
        })
        .collect();
    let mut moves: BTreeMap<(EmployeeId, EmployeeRef), Vec<&Account>> = BTreeMap::new();
    for (g, group) in groups.iter().enumerate() {
        let absorbed: Vec<EmployeeId> = absorbed_by
            .iter()
            .filter(|(_, into)| **into == g)
            .map(|(id, _)| *id)
            .collect();
        for account in &group.accounts {
            if let Some(id) = account.linked_to
                && keeper[g] != Some(id)
                && !absorbed.contains(&id)
            {
                moves
                    .entry((id, refs[g].clone()))
                    .or_default()
                    .push(account);
            }
        }
        let mut members = group.accounts.clone();
        if let Some(id) = keeper[g] {
            members.extend(away_of.remove(&id).unwrap_or_default());
        }
        result.employees.push(employee_of(
            refs[g].clone(),
            group.email.clone(),
            &members,
            absorbed,
        ));
    }
    for (id, rest) in away_of {
        let email = stored_email.get(&id).copied().flatten().cloned();
        result.employees.push(employee_of(
            EmployeeRef::Existing(id),
            email,
            &rest,
            Vec::new(),
        ));
    }
    for account in unlinked_away {
        result.employees.push(employee_of(
            EmployeeRef::New(format!("account:{}", account.key)),
            None,
            &[account],
            Vec::new(),
        ));
    }
    result.splits = splits_of(moves, &groups, &refs, &stored_email);

    result.employees.sort_by(|a, b| a.employee.cmp(&b.employee));
    result.conflicts.sort_by(|a, b| a.email.cmp(&b.email));
    result
}

/// The groups of accounts in scope (e-mail groups without their conflicts, in e-mail order,
/// then one per account without a usable e-mail, in key order), and the accounts out of scope.
/// Records conflicts and not-mergeable accounts in `result`.
fn groups_of<'a>(
    accounts: &BTreeMap<AccountKey, &'a Account>,
    result: &mut MergeResult,
) -> (Vec<Group<'a>>, Vec<&'a Account>) {
    // E-mail -> directory -> accounts.
    let mut by_email: BTreeMap<Email, BTreeMap<DirectoryName, Vec<&Account>>> = BTreeMap::new();
    let mut loose: Vec<&Account> = Vec::new();
    let mut away: Vec<&Account> = Vec::new();
    for account in accounts.values() {
        if !account.in_scope {
            away.push(account);
            continue;
        }
        match account.email() {
            Some(email) => by_email
                .entry(email)
                .or_default()
                .entry(account.key.directory.clone())
                .or_default()
                .push(account),
            None => loose.push(account),
        }
    }
    let mut groups = Vec::new();
    for (email, per_directory) in by_email {
        let mut mergeable: Vec<&Account> = Vec::new();
        for (_, same) in per_directory {
            if same.len() > 1 {
                result.conflicts.push(Conflict {
                    email: email.clone(),
                    accounts: same.iter().map(|a| a.key.clone()).collect(),
                });
            } else {
                mergeable.extend(same);
            }
        }
        if mergeable.is_empty() {
            continue;
        }
        mergeable.sort_by(|a, b| a.rank().cmp(&b.rank()));
        groups.push(Group {
            new_name: format!("email:{email}"),
            email: Some(email),
            accounts: mergeable,
        });
    }
    for account in loose {
        result.not_mergeable.push(account.key.clone());
        groups.push(Group {
            email: None,
            new_name: format!("account:{}", account.key),
            accounts: vec![account],
        });
    }
    (groups, away)
}

/// Rules 1 and 2: which existing employee each group keeps.
fn keepers(
    groups: &[Group<'_>],
    stored_email: &BTreeMap<EmployeeId, Option<&Email>>,
) -> Vec<Option<EmployeeId>> {
    let mut keeper: Vec<Option<EmployeeId>> = vec![None; groups.len()];
    let mut taken: BTreeSet<EmployeeId> = BTreeSet::new();
    let mut by_email: BTreeMap<&Email, Vec<EmployeeId>> = BTreeMap::new();
    for (id, email) in stored_email {
        if let Some(email) = email {
            by_email.entry(email).or_default().push(*id);
        }
    }
    // Rule 1: by stored e-mail. Groups have distinct e-mails, so no id is claimed twice.
    for (g, group) in groups.iter().enumerate() {
        let Some(candidates) = group.email.as_ref().and_then(|e| by_email.get(e)) else {
            continue;
        };
        let chosen = group
            .accounts
            .iter()
            .find_map(|a| a.linked_to.filter(|id| candidates.contains(id)))
            .or_else(|| candidates.iter().min().copied());
        if let Some(id) = chosen {
            keeper[g] = Some(id);
            taken.insert(id);
        }
    }
    // Rule 2: linked accounts in rank order.
    let mut linked: Vec<(&Account, usize)> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, group)| group.accounts.iter().map(move |a| (*a, g)))
        .filter(|(a, _)| a.linked_to.is_some())
        .collect();
    linked.sort_by(|(a, _), (b, _)| a.rank().cmp(&b.rank()));
    for (account, g) in linked {
        if let Some(id) = account.linked_to
            && keeper[g].is_none()
            && taken.insert(id)
        {
            keeper[g] = Some(id);
        }
    }
    keeper
}

/// Rule 3: the group that absorbs each employee that got no group and has no account out of
/// scope: the group of its highest-ranked account.
fn absorbers(
    groups: &[Group<'_>],
    keeper: &[Option<EmployeeId>],
    away_of: &BTreeMap<EmployeeId, Vec<&Account>>,
) -> BTreeMap<EmployeeId, usize> {
    let kept: BTreeSet<EmployeeId> = keeper.iter().flatten().copied().collect();
    let mut best: BTreeMap<EmployeeId, (&Account, usize)> = BTreeMap::new();
    for (g, group) in groups.iter().enumerate() {
        for account in &group.accounts {
            if let Some(id) = account.linked_to
                && !kept.contains(&id)
                && !away_of.contains_key(&id)
            {
                let entry = best.entry(id).or_insert((account, g));
                if account.rank() < entry.0.rank() {
                    *entry = (account, g);
                }
            }
        }
    }
    best.into_iter().map(|(id, (_, g))| (id, g)).collect()
}

/// The splits, one per (employee left, employee joined), sorted.
fn splits_of(
    moves: BTreeMap<(EmployeeId, EmployeeRef), Vec<&Account>>,
    groups: &[Group<'_>],
    refs: &[EmployeeRef],
    stored_email: &BTreeMap<EmployeeId, Option<&Email>>,
) -> Vec<Split> {
    moves
        .into_iter()
        .map(|((from, to), moved)| {
            let to_email = groups
                .iter()
                .zip(refs)
                .find(|(_, r)| **r == to)
                .and_then(|(g, _)| g.email.as_ref());
            let reason = split_reason(stored_email.get(&from).copied().flatten(), to_email, &moved);
            let mut accounts: Vec<AccountKey> = moved.iter().map(|a| a.key.clone()).collect();
            accounts.sort();
            Split {
                from,
                accounts,
                to,
                reason,
            }
        })
        .collect()
}

fn split_reason(from: Option<&Email>, to: Option<&Email>, moved: &[&Account]) -> String {
    let directories: BTreeSet<&str> = moved.iter().map(|a| a.key.directory.as_str()).collect();
    let directories = directories.into_iter().collect::<Vec<_>>().join(", ");
    match (from, to) {
        (Some(from), Some(to)) if from == to => {
            format!("{to} is kept by another employee ({directories})")
        }
        (Some(from), Some(to)) => format!("mail changed from {from} to {to} in {directories}"),
        (Some(from), None) => format!("mail {from} removed or not usable in {directories}"),
        (None, Some(to)) => format!("mail set to {to} in {directories}"),
        (None, None) => format!("no usable mail in {directories}: an employee of its own"),
    }
}

fn employee_of(
    employee: EmployeeRef,
    email: Option<Email>,
    accounts: &[&Account],
    absorbed: Vec<EmployeeId>,
) -> MergedEmployee {
    // In scope first, then highest priority; ties by key, which is total and order-independent.
    let mut ranked: Vec<&&Account> = accounts.iter().collect();
    ranked.sort_by(|a, b| (!a.in_scope, a.rank()).cmp(&(!b.in_scope, b.rank())));
    let display_name = ranked
        .iter()
        .find_map(|a| a.display_name.clone().filter(|n| !n.trim().is_empty()));
    let status = if accounts.iter().any(|a| a.enabled && a.in_scope) {
        EmployeeStatus::Active
    } else {
        EmployeeStatus::Disabled
    };
    let mut keys: Vec<AccountKey> = accounts.iter().map(|a| a.key.clone()).collect();
    keys.sort();
    MergedEmployee {
        employee,
        email,
        display_name,
        status,
        accounts: keys,
        absorbed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dir(n: &str) -> DirectoryName {
        DirectoryName::parse(n).unwrap()
    }

    fn acct(d: &str, g: u128, mail: Option<&str>) -> Account {
        Account::for_test(dir(d), Uuid::from_u128(g), mail)
    }

    #[test]
    fn same_email_across_directories_is_one_employee() {
        let r = merge(&MergeInput {
            accounts: vec![
                acct("corp1", 1, Some("alice@shared.example.com")),
                acct("corp2", 2, Some("Alice@Shared.Example.com ")),
            ],
            employees: vec![],
        });
        assert_eq!(r.employees.len(), 1);
        assert_eq!(
            r.employees[0].employee,
            EmployeeRef::New("email:alice@shared.example.com".into())
        );
        assert_eq!(r.employees[0].accounts.len(), 2);
        assert!(r.conflicts.is_empty());
    }

    #[test]
    fn same_email_twice_in_one_directory_is_a_conflict() {
        let r = merge(&MergeInput {
            accounts: vec![
                acct("corp1", 1, Some("dup@corp1.example.com")),
                acct("corp1", 2, Some("dup@corp1.example.com")),
                acct("corp2", 3, Some("dup@corp1.example.com")),
            ],
            employees: vec![],
        });
        assert_eq!(r.conflicts.len(), 1);
        assert_eq!(r.conflicts[0].accounts.len(), 2);
        assert_eq!(
            r.employees.len(),
            1,
            "the other directory's account still merges"
        );
        assert_eq!(
            r.employees[0].accounts,
            vec![AccountKey {
                directory: dir("corp2"),
                object_guid: Uuid::from_u128(3)
            }]
        );
    }

    #[test]
    fn no_email_is_its_own_employee_and_reported() {
        let r = merge(&MergeInput {
            accounts: vec![
                acct("corp1", 1, None),
                acct("corp1", 2, Some("not an address")),
            ],
            employees: vec![],
        });
        assert_eq!(r.not_mergeable.len(), 2);
        assert_eq!(r.employees.len(), 2);
        assert!(r.employees.iter().all(|e| e.email.is_none()));
    }

    #[test]
    fn priority_decides_the_display_name_and_any_enabled_account_keeps_it_active() {
        let mut a = acct("corp1", 1, Some("x@example.com"));
        a.display_name = Some("From Corp1".into());
        a.priority = 1;
        a.enabled = false;
        let mut b = acct("corp2", 2, Some("x@example.com"));
        b.display_name = Some("From Corp2".into());
        b.priority = 5;
        let r = merge(&MergeInput {
            accounts: vec![a.clone(), b.clone()],
            employees: vec![],
        });
        assert_eq!(r.employees[0].display_name.as_deref(), Some("From Corp2"));
        assert_eq!(r.employees[0].status, EmployeeStatus::Active);
        b.enabled = false;
        let r = merge(&MergeInput {
            accounts: vec![a, b],
            employees: vec![],
        });
        assert_eq!(r.employees[0].status, EmployeeStatus::Disabled);
    }

    #[test]
    fn an_existing_employee_with_the_email_is_linked_and_converging_employees_are_absorbed() {
        let manual = EmployeeId::from_uuid(Uuid::from_u128(100));
        let other = EmployeeId::from_uuid(Uuid::from_u128(200));
        let mut a = acct("corp1", 1, Some("grace@example.com"));
        a.linked_to = Some(other);
        let r = merge(&MergeInput {
            accounts: vec![a],
            employees: vec![ExistingEmployee {
                id: manual,
                email: Some(Email::parse("grace@example.com").unwrap()),
            }],
        });
        assert_eq!(r.employees[0].employee, EmployeeRef::Existing(manual));
        assert_eq!(r.employees[0].absorbed, vec![other]);
    }

    /// One account of a split case: (directory, guid, mail, priority, in scope, linked to).
    type Row = (
        &'static str,
        u128,
        Option<&'static str>,
        i32,
        bool,
        Option<u128>,
    );

    fn id(n: u128) -> EmployeeId {
        EmployeeId::from_uuid(Uuid::from_u128(n))
    }

    fn key(d: &str, g: u128) -> AccountKey {
        AccountKey {
            directory: dir(d),
            object_guid: Uuid::from_u128(g),
        }
    }

    fn new_ref(email: &str) -> EmployeeRef {
        EmployeeRef::New(format!("email:{email}"))
    }

    /// An expected split: (from, accounts as (directory, guid), to, reason).
    type SplitRow = (u128, Vec<(&'static str, u128)>, EmployeeRef, &'static str);

    struct Case {
        name: &'static str,
        accounts: Vec<Row>,
        /// Stored employees: (id, e-mail).
        employees: Vec<(u128, Option<&'static str>)>,
        /// Who holds each account afterwards.
        holders: Vec<((&'static str, u128), EmployeeRef)>,
        /// (from, accounts, to, reason).
        splits: Vec<SplitRow>,
        /// (absorbing employee, absorbed ids).
        absorbed: Vec<(EmployeeRef, Vec<u128>)>,
    }

    #[test]
    #[allow(clippy::too_many_lines)] // One table.
    fn an_employee_id_goes_to_one_group_and_the_others_split_off() {
        let x = || EmployeeRef::Existing(id(1));
        let y = || EmployeeRef::Existing(id(2));
        let cases = vec![
            Case {
                name: "mail changed in one directory: the group of the stored e-mail keeps it",
                accounts: vec![
                    ("corp1", 1, Some("a@x.com"), 0, true, Some(1)),
                    ("corp2", 2, Some("b@x.com"), 0, true, Some(1)),
                ],
                employees: vec![(1, Some("a@x.com"))],
                holders: vec![(("corp1", 1), x()), (("corp2", 2), new_ref("b@x.com"))],
                splits: vec![(
                    1,
                    vec![("corp2", 2)],
                    new_ref("b@x.com"),
                    "mail changed from a@x.com to b@x.com in corp2",
                )],
                absorbed: vec![],
            },
            Case {
                name: "the account that leaves joins the employee of its new e-mail",
                accounts: vec![
                    ("corp1", 1, Some("a@x.com"), 0, true, Some(1)),
                    ("corp2", 2, Some("b@x.com"), 0, true, Some(1)),
                    ("corp3", 3, Some("b@x.com"), 0, true, Some(2)),
                ],
                employees: vec![(1, Some("a@x.com")), (2, Some("b@x.com"))],
                holders: vec![
                    (("corp1", 1), x()),
                    (("corp2", 2), y()),
                    (("corp3", 3), y()),
                ],
                splits: vec![(
                    1,
                    vec![("corp2", 2)],
                    y(),
                    "mail changed from a@x.com to b@x.com in corp2",
                )],
                absorbed: vec![],
            },
            Case {
                name: "no group has the stored e-mail: the higher priority keeps it",
                accounts: vec![
                    ("corp1", 1, Some("c@x.com"), 1, true, Some(1)),
                    ("corp2", 2, Some("b@x.com"), 5, true, Some(1)),
                ],
                employees: vec![(1, Some("a@x.com"))],
                holders: vec![(("corp1", 1), new_ref("c@x.com")), (("corp2", 2), x())],
                splits: vec![(
                    1,
                    vec![("corp1", 1)],
                    new_ref("c@x.com"),
                    "mail changed from a@x.com to c@x.com in corp1",
                )],
                absorbed: vec![],
            },
            Case {
                name: "no group has the stored e-mail, equal priority: the smaller key keeps it",
                accounts: vec![
                    ("corp1", 1, Some("c@x.com"), 0, true, Some(1)),
                    ("corp2", 2, Some("b@x.com"), 0, true, Some(1)),
                ],
                employees: vec![(1, Some("a@x.com"))],
                holders: vec![(("corp1", 1), x()), (("corp2", 2), new_ref("b@x.com"))],
                splits: vec![(
                    1,
                    vec![("corp2", 2)],
                    new_ref("b@x.com"),
                    "mail changed from a@x.com to b@x.com in corp2",
                )],
                absorbed: vec![],
            },
            Case {
                name: "converging e-mails absorb, they do not split",
                accounts: vec![
                    ("corp1", 1, Some("a@x.com"), 0, true, Some(1)),
                    ("corp2", 2, Some("a@x.com"), 0, true, Some(2)),
                ],
                employees: vec![(1, Some("a@x.com")), (2, Some("b@x.com"))],
                holders: vec![(("corp1", 1), x()), (("corp2", 2), x())],
                splits: vec![],
                absorbed: vec![(x(), vec![2])],
            },
            Case {
                name: "mail removed: the account becomes an employee of its own",
                accounts: vec![
                    ("corp1", 1, Some("a@x.com"), 0, true, Some(1)),
                    ("corp2", 2, None, 0, true, Some(1)),
                ],
                employees: vec![(1, Some("a@x.com"))],
                holders: vec![
                    (("corp1", 1), x()),
                    (
                        ("corp2", 2),
                        EmployeeRef::New(format!("account:{}", key("corp2", 2))),
                    ),
                ],
                splits: vec![(
                    1,
                    vec![("corp2", 2)],
                    EmployeeRef::New(format!("account:{}", key("corp2", 2))),
                    "mail a@x.com removed or not usable in corp2",
                )],
                absorbed: vec![],
            },
            Case {
                name: "an account out of scope stays and claims nothing",
                accounts: vec![
                    ("corp1", 1, Some("a@x.com"), 9, false, Some(1)),
                    ("corp2", 2, Some("b@x.com"), 0, true, Some(1)),
                ],
                employees: vec![(1, Some("a@x.com"))],
                holders: vec![(("corp1", 1), x()), (("corp2", 2), x())],
                splits: vec![],
                absorbed: vec![],
            },
            Case {
                name: "an employee whose group is taken stays with its accounts out of scope",
                accounts: vec![
                    ("corp1", 1, Some("a@x.com"), 0, false, Some(1)),
                    ("corp2", 2, Some("b@x.com"), 0, true, Some(1)),
                    ("corp3", 3, Some("b@x.com"), 0, true, Some(2)),
                ],
                employees: vec![(1, Some("a@x.com")), (2, Some("b@x.com"))],
                holders: vec![
                    (("corp1", 1), x()),
                    (("corp2", 2), y()),
                    (("corp3", 3), y()),
                ],
                splits: vec![(
                    1,
                    vec![("corp2", 2)],
                    y(),
                    "mail changed from a@x.com to b@x.com in corp2",
                )],
                absorbed: vec![],
            },
            Case {
                name: "an employee gets the best group still free, not one another keeps",
                accounts: vec![
                    ("corp1", 1, Some("b@x.com"), 5, true, Some(1)),
                    ("corp2", 2, Some("c@x.com"), 0, true, Some(1)),
                    ("corp3", 3, Some("b@x.com"), 0, true, Some(2)),
                ],
                employees: vec![(1, Some("a@x.com")), (2, Some("b@x.com"))],
                holders: vec![
                    (("corp1", 1), y()),
                    (("corp2", 2), x()),
                    (("corp3", 3), y()),
                ],
                splits: vec![(
                    1,
                    vec![("corp1", 1)],
                    y(),
                    "mail changed from a@x.com to b@x.com in corp1",
                )],
                absorbed: vec![],
            },
        ];
        for case in cases {
            let accounts: Vec<Account> = case
                .accounts
                .iter()
                .map(|&(d, g, mail, priority, in_scope, linked)| Account {
                    priority,
                    in_scope,
                    linked_to: linked.map(id),
                    ..acct(d, g, mail)
                })
                .collect();
            let employees = case
                .employees
                .iter()
                .map(|&(n, mail)| ExistingEmployee {
                    id: id(n),
                    email: mail.map(|m| Email::parse(m).unwrap()),
                })
                .collect();
            let r = merge(&MergeInput {
                accounts,
                employees,
            });
            for ((d, g), expected) in &case.holders {
                let holder = r
                    .employees
                    .iter()
                    .find(|e| e.accounts.contains(&key(d, *g)))
                    .map(|e| &e.employee);
                assert_eq!(holder, Some(expected), "{}: holder of {d}/{g}", case.name);
            }
            let splits: Vec<Split> = case
                .splits
                .iter()
                .map(|(from, accounts, to, reason)| Split {
                    from: id(*from),
                    accounts: accounts.iter().map(|(d, g)| key(d, *g)).collect(),
                    to: to.clone(),
                    reason: (*reason).to_owned(),
                })
                .collect();
            assert_eq!(r.splits, splits, "{}", case.name);
            let absorbed: Vec<(EmployeeRef, Vec<EmployeeId>)> = r
                .employees
                .iter()
                .filter(|e| !e.absorbed.is_empty())
                .map(|e| (e.employee.clone(), e.absorbed.clone()))
                .collect();
            let expected: Vec<(EmployeeRef, Vec<EmployeeId>)> = case
                .absorbed
                .iter()
                .map(|(e, ids)| (e.clone(), ids.iter().map(|n| id(*n)).collect()))
                .collect();
            assert_eq!(absorbed, expected, "{}", case.name);
        }
    }

    fn any_account() -> impl Strategy<Value = Account> {
        (
            0..3usize,
            0..12u128,
            proptest::option::of(0..5usize),
            any::<bool>(),
            0..3i32,
            proptest::option::of(0..3u128),
            proptest::bool::weighted(0.8),
        )
            .prop_map(|(d, g, m, enabled, priority, linked, in_scope)| {
                let mails = [
                    "a@example.com",
                    " A@Example.com",
                    "b@example.com",
                    "c@example.com",
                    "bad",
                ];
                let mut a = acct(["corp1", "corp2", "corp3"][d], g, m.map(|i| mails[i]));
                a.enabled = enabled;
                a.priority = priority;
                a.display_name = Some(format!("name {g}"));
                a.linked_to = linked.map(|l| EmployeeId::from_uuid(Uuid::from_u128(1000 + l)));
                a.in_scope = in_scope;
                a
            })
    }

    /// Existing employees 1000..1003, some with a stored e-mail.
    fn any_employees() -> impl Strategy<Value = Vec<ExistingEmployee>> {
        proptest::collection::btree_map(0..3u128, proptest::option::of(0..3usize), 0..4).prop_map(
            |m| {
                m.into_iter()
                    .map(|(id, mail)| ExistingEmployee {
                        id: EmployeeId::from_uuid(Uuid::from_u128(1000 + id)),
                        email: mail.map(|i| {
                            Email::parse(["a@example.com", "b@example.com", "c@example.com"][i])
                                .unwrap()
                        }),
                    })
                    .collect()
            },
        )
    }

    /// Accounts as a directory would hold them: one record per (directory, objectGUID).
    fn consistent(accounts: Vec<Account>) -> Vec<Account> {
        let mut seen = BTreeMap::new();
        for a in accounts {
            seen.entry(a.key.clone()).or_insert(a);
        }
        seen.into_values().collect()
    }

    proptest! {
        #[test]
        fn order_does_not_matter(accounts in proptest::collection::vec(any_account(), 0..20), employees in any_employees(), seed in any::<u64>()) {
            let accounts = consistent(accounts);
            let mut shuffled = accounts.clone();
            let mut reversed = employees.clone();
            reversed.reverse();
            // A deterministic shuffle from the seed.
            let n = shuffled.len();
            for i in 0..n {
                let j = usize::try_from((seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i as u64)) % (n as u64)).unwrap();
                shuffled.swap(i, j);
            }
            let a = merge(&MergeInput { accounts, employees });
            let b = merge(&MergeInput { accounts: shuffled, employees: reversed });
            prop_assert_eq!(a, b);
        }

        #[test]
        fn every_account_lands_in_exactly_one_employee_or_one_conflict(accounts in proptest::collection::vec(any_account(), 0..20)) {
            let accounts = consistent(accounts);
            let r = merge(&MergeInput { accounts: accounts.clone(), employees: vec![] });
            for a in &accounts {
                let in_employees = r.employees.iter().filter(|e| e.accounts.contains(&a.key)).count();
                let in_conflicts = r.conflicts.iter().filter(|c| c.accounts.contains(&a.key)).count();
                prop_assert_eq!(in_employees + in_conflicts, 1, "{}", a.key);
            }
        }

        #[test]
        fn merging_again_changes_nothing(accounts in proptest::collection::vec(any_account(), 0..20)) {
            let accounts = consistent(accounts);
            let first = merge(&MergeInput { accounts: accounts.clone(), employees: vec![] });
            // Give new employees ids, link the accounts, and merge again.
            let mut ids = BTreeMap::new();
            let mut employees = Vec::new();
            for (i, e) in first.employees.iter().enumerate() {
                let id = match &e.employee {
                    EmployeeRef::Existing(id) => *id,
                    EmployeeRef::New(_) => EmployeeId::from_uuid(Uuid::from_u128(5000 + i as u128)),
                };
                for k in &e.accounts { ids.insert(k.clone(), id); }
                employees.push(ExistingEmployee { id, email: e.email.clone() });
            }
            let relinked: Vec<Account> = accounts.iter().map(|a| Account { linked_to: ids.get(&a.key).copied().or(a.linked_to), ..a.clone() }).collect();
            let second = merge(&MergeInput { accounts: relinked.clone(), employees: employees.clone() });
            let third = merge(&MergeInput { accounts: relinked, employees });
            prop_assert_eq!(&second, &third);
            prop_assert!(second.employees.iter().all(|e| matches!(e.employee, EmployeeRef::Existing(_))));
            prop_assert_eq!(second.employees.len(), first.employees.len());
        }

        #[test]
        fn email_matching_ignores_case_and_spaces(local in "[a-z]{1,8}", pad in " {0,2}") {
            let a = acct("corp1", 1, Some(&format!("{local}@example.com")));
            let b = acct("corp2", 2, Some(&format!("{pad}{}@EXAMPLE.com{pad}", local.to_uppercase())));
            let r = merge(&MergeInput { accounts: vec![a, b], employees: vec![] });
            prop_assert_eq!(r.employees.len(), 1);
        }
    }
}
