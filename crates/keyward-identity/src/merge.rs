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

/// One account in scope of a directory, as the merge sees it.
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
    /// The employee this account is linked to now, if stored.
    pub linked_to: Option<EmployeeId>,
}

impl Account {
    /// A minimal account, for examples and tests.
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
            linked_to: None,
        }
    }

    fn email(&self) -> Option<Email> {
        self.mail.as_deref().and_then(|m| Email::parse(m).ok())
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
    /// Every account in scope, of every directory.
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
    /// Its e-mail; `None` for a not-mergeable account.
    pub email: Option<Email>,
    /// Display name from the highest-priority account that has one.
    pub display_name: Option<String>,
    /// Disabled when every account is disabled.
    pub status: EmployeeStatus,
    /// Its accounts, sorted.
    pub accounts: Vec<AccountKey>,
    /// Existing employees whose accounts now belong here (their e-mail converged).
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

/// The merge result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeResult {
    /// Employees, sorted by their ref.
    pub employees: Vec<MergedEmployee>,
    /// Same-directory e-mail conflicts, sorted by e-mail.
    pub conflicts: Vec<Conflict>,
    /// Accounts without a usable e-mail (each is its own employee), sorted.
    pub not_mergeable: Vec<AccountKey>,
}

/// Merges accounts into employees. Pure: order-independent and idempotent.
pub fn merge(input: &MergeInput) -> MergeResult {
    // Deduplicate and order the input so nothing downstream depends on input order.
    let mut accounts: BTreeMap<AccountKey, &Account> = BTreeMap::new();
    for account in &input.accounts {
        accounts.insert(account.key.clone(), account);
    }
    let employees_by_email: BTreeMap<&Email, EmployeeId> = input
        .employees
        .iter()
        .filter_map(|e| e.email.as_ref().map(|m| (m, e.id)))
        .collect();

    // E-mail -> directory -> accounts.
    let mut by_email: BTreeMap<Email, BTreeMap<DirectoryName, Vec<&Account>>> = BTreeMap::new();
    let mut result = MergeResult::default();
    let mut loose: Vec<&Account> = Vec::new();
    for account in accounts.values() {
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
        let linked: BTreeSet<EmployeeId> = mergeable.iter().filter_map(|a| a.linked_to).collect();
        let owner = employees_by_email
            .get(&email)
            .copied()
            .or_else(|| linked.iter().next().copied());
        let employee = owner.map_or_else(
            || EmployeeRef::New(format!("email:{email}")),
            EmployeeRef::Existing,
        );
        let absorbed = linked.into_iter().filter(|id| Some(*id) != owner).collect();
        result
            .employees
            .push(employee_of(employee, Some(email), &mergeable, absorbed));
    }

    for account in loose {
        result.not_mergeable.push(account.key.clone());
        let employee = account.linked_to.map_or_else(
            || EmployeeRef::New(format!("account:{}", account.key)),
            EmployeeRef::Existing,
        );
        result
            .employees
            .push(employee_of(employee, None, &[account], Vec::new()));
    }

    result.employees.sort_by(|a, b| a.employee.cmp(&b.employee));
    result.conflicts.sort_by(|a, b| a.email.cmp(&b.email));
    result
}

fn employee_of(
    employee: EmployeeRef,
    email: Option<Email>,
    accounts: &[&Account],
    absorbed: Vec<EmployeeId>,
) -> MergedEmployee {
    // Highest priority first; ties by key, which is total and order-independent.
    let mut ranked: Vec<&&Account> = accounts.iter().collect();
    ranked.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.key.cmp(&b.key)));
    let display_name = ranked
        .iter()
        .find_map(|a| a.display_name.clone().filter(|n| !n.trim().is_empty()));
    let status = if accounts.iter().any(|a| a.enabled) {
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

    fn any_account() -> impl Strategy<Value = Account> {
        (
            0..3usize,
            0..12u128,
            proptest::option::of(0..5usize),
            any::<bool>(),
            0..3i32,
            proptest::option::of(0..3u128),
        )
            .prop_map(|(d, g, m, enabled, priority, linked)| {
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
                a
            })
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
        fn order_does_not_matter(accounts in proptest::collection::vec(any_account(), 0..20), seed in any::<u64>()) {
            let accounts = consistent(accounts);
            let mut shuffled = accounts.clone();
            // A deterministic shuffle from the seed.
            let n = shuffled.len();
            for i in 0..n {
                let j = usize::try_from((seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i as u64)) % (n as u64)).unwrap();
                shuffled.swap(i, j);
            }
            let a = merge(&MergeInput { accounts, employees: vec![] });
            let b = merge(&MergeInput { accounts: shuffled, employees: vec![] });
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
