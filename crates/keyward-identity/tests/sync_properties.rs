//! Property tests of the merge and the plan over random directory histories.
//!
//! The test keeps a small model of two or three directories (users with a mail, a name, group
//! membership, nested membership, a place in or out of the base, enabled or not, deleted or not)
//! and an in-memory store that applies a [`Plan`] the way the service does. Then it checks:
//! - an employee id is the owner of at most one merged employee, never both an owner and absorbed;
//! - applying a plan and planning again plans nothing;
//! - after any history, the state built by incremental runs (one plan of the changed directory
//!   per change) equals the state a full run builds from an empty store.

// Helpers of a test file: a panic is a failed test. The directory model is a bag of flags.
#![allow(clippy::unwrap_used, clippy::struct_excessive_bools)]

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use keyward_identity::{
    Account, AccountChange, AccountKey, EmployeeChange, EmployeeRef, ExistingEmployee, MergeInput,
    Observed, PartitionBuilder, Plan, PlanInput, StoredEmployee, merge, plan,
};
use keyward_model::{
    DirectoryAccount, DirectoryName, DirectoryUser, Email, EmployeeId, EmployeeOrigin,
    EmployeeStatus,
};
use proptest::prelude::*;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The in-memory store.

/// The stored state: employees and accounts, as the service's database holds them.
#[derive(Debug, Clone, Default)]
struct Store {
    employees: BTreeMap<EmployeeId, StoredEmployee>,
    accounts: BTreeMap<AccountKey, DirectoryAccount>,
    /// New employees get ids 1, 2, 3… in the order the plans create them.
    next_id: u128,
}

impl Store {
    fn plan(
        &self,
        directory: &DirectoryName,
        observed: Vec<Observed>,
        priorities: &BTreeMap<DirectoryName, i32>,
        now: DateTime<Utc>,
    ) -> Plan {
        plan(&PlanInput {
            directory: directory.clone(),
            observed,
            stored_accounts: self.accounts.values().cloned().collect(),
            stored_employees: self.employees.values().cloned().collect(),
            priorities: priorities.clone(),
            now,
            grace: Duration::days(30),
        })
    }

    /// Applies a plan as `keyward-service`'s `write_of` does: employees first (new ones get the
    /// next id), then accounts; an account of another directory only moves to its employee.
    fn apply(&mut self, plan: &Plan, directory: &DirectoryName, now: DateTime<Utc>) {
        let mut ids: BTreeMap<EmployeeRef, EmployeeId> = BTreeMap::new();
        for change in &plan.employees {
            match change {
                EmployeeChange::Create {
                    employee,
                    email,
                    display_name,
                    status,
                } => {
                    self.next_id += 1;
                    let id = EmployeeId::from_uuid(Uuid::from_u128(self.next_id));
                    assert!(
                        ids.insert(employee.clone(), id).is_none(),
                        "{employee:?} created twice"
                    );
                    self.employees.insert(
                        id,
                        StoredEmployee {
                            id,
                            email: email.clone(),
                            display_name: display_name.clone(),
                            status: *status,
                            origin: EmployeeOrigin::Directory,
                        },
                    );
                }
                EmployeeChange::Update {
                    id,
                    email,
                    display_name,
                    status,
                    ..
                } => {
                    let e = self.employees.get_mut(id).expect("updated employee exists");
                    e.email.clone_from(email);
                    e.display_name.clone_from(display_name);
                    e.status = *status;
                }
                EmployeeChange::Link { .. } => {}
            }
        }
        let resolve = |r: &EmployeeRef| match r {
            EmployeeRef::Existing(id) => *id,
            EmployeeRef::New(_) => *ids.get(r).unwrap_or_else(|| panic!("{r:?} never created")),
        };
        for change in &plan.accounts {
            match change {
                AccountChange::Create { account, employee }
                | AccountChange::Update {
                    account, employee, ..
                } => {
                    let id = resolve(employee);
                    assert!(self.employees.contains_key(&id), "{id} does not exist");
                    let key = AccountKey {
                        directory: account.directory.clone(),
                        object_guid: account.object_guid,
                    };
                    let mut a = account.clone();
                    if &a.directory != directory
                        && let Some(before) = self.accounts.get(&key)
                    {
                        a = before.clone();
                    }
                    a.employee_id = id;
                    self.accounts.insert(key, a);
                }
                AccountChange::MarkMissing { key, .. } => {
                    if let Some(a) = self.accounts.get_mut(key) {
                        a.missing_since = Some(now);
                    }
                }
                AccountChange::Remove { key, .. } => {
                    self.accounts.remove(key);
                }
            }
        }
    }

    /// What a full run and incremental runs must agree on: the employees that have an account
    /// in scope, as (e-mail, accounts in scope, status), and each account in scope with the
    /// accounts of its employee. Ids are not compared (they depend on history); accounts out of
    /// scope are returned apart (a run from scratch never stores one).
    fn view(&self) -> View {
        let mut by_employee: BTreeMap<EmployeeId, BTreeSet<AccountKey>> = BTreeMap::new();
        let mut missing = BTreeSet::new();
        for (key, a) in &self.accounts {
            if a.missing_since.is_some() {
                missing.insert(key.clone());
            } else {
                by_employee
                    .entry(a.employee_id)
                    .or_default()
                    .insert(key.clone());
            }
        }
        let mut employees = BTreeSet::new();
        let mut accounts = BTreeMap::new();
        for (id, keys) in &by_employee {
            let e = &self.employees[id];
            employees.insert((
                e.email.clone(),
                keys.clone(),
                e.status == EmployeeStatus::Active,
            ));
            for k in keys {
                accounts.insert(k.clone(), (e.email.clone(), keys.clone()));
            }
        }
        View {
            employees,
            accounts,
            missing,
        }
    }
}

/// (e-mail, accounts in scope, active).
type EmployeeView = (Option<Email>, BTreeSet<AccountKey>, bool);

#[derive(Debug, PartialEq, Eq)]
struct View {
    employees: BTreeSet<EmployeeView>,
    accounts: BTreeMap<AccountKey, (Option<Email>, BTreeSet<AccountKey>)>,
    missing: BTreeSet<AccountKey>,
}

// ---------------------------------------------------------------------------------------------
// The directories.

/// Raw mail attributes; the last is the first one written differently (the same address).
const MAILS: [&str; 5] = [
    "ada@example.com",
    "bob@example.com",
    "cy@example.com",
    "dee@example.com",
    " ADA@Example.com",
];
const USERS: usize = 3;

#[derive(Debug, Clone)]
struct User {
    /// Bumped when the user is deleted and a new one takes its place (a new objectGUID).
    generation: u128,
    exists: bool,
    member: bool,
    nested: bool,
    in_base: bool,
    enabled: bool,
    mail: Option<usize>,
    name: u8,
}

impl User {
    fn in_scope(&self) -> bool {
        self.exists && (self.member || self.nested) && self.in_base
    }
}

#[derive(Debug, Clone)]
struct World {
    /// Users of each directory; user `u` starts with the same mail in every directory, so
    /// every person starts merged across directories.
    directories: Vec<Vec<User>>,
    priorities: BTreeMap<DirectoryName, i32>,
    usn: i64,
}

fn dir_name(d: usize) -> DirectoryName {
    DirectoryName::parse(&format!("corp{}", d + 1)).unwrap()
}

impl World {
    fn new(directories: usize, priorities: &[i32]) -> Self {
        let users = (0..USERS)
            .map(|u| User {
                generation: 0,
                exists: true,
                member: true,
                nested: false,
                in_base: true,
                enabled: true,
                mail: Some(u),
                name: 0,
            })
            .collect::<Vec<_>>();
        Self {
            directories: vec![users; directories],
            priorities: (0..directories)
                .map(|d| (dir_name(d), priorities[d]))
                .collect(),
            usn: 1,
        }
    }

    fn guid(d: usize, u: usize, user: &User) -> Uuid {
        Uuid::from_u128(((d as u128 + 1) << 64) | ((u as u128) << 32) | user.generation)
    }

    fn observed(&self, d: usize) -> Vec<Observed> {
        self.directories[d]
            .iter()
            .enumerate()
            .filter(|(_, user)| user.in_scope())
            .map(|(u, user)| Observed {
                user: DirectoryUser {
                    dn: format!("CN=user{u},OU=People,DC=corp{}", d + 1),
                    object_guid: Self::guid(d, u, user),
                    object_sid: None,
                    sam_account_name: Some(format!("user{u}")),
                    user_principal_name: None,
                    mail: user.mail.map(|m| MAILS[m].to_owned()),
                    given_name: None,
                    surname: None,
                    display_name: Some(format!("User {u} ({})", user.name)),
                    phone: None,
                    company: None,
                    department: None,
                    title: None,
                    enabled: user.enabled,
                    locked_out: false,
                    password_never_expires: false,
                    when_changed: None,
                    pwd_last_set: None,
                    usn_changed: self.usn,
                },
                in_rotation_group: false,
            })
            .collect()
    }

    /// True when two accounts in scope of one directory share an e-mail (a conflict, which
    /// keeps whatever was stored: a run from scratch cannot equal that, by design).
    fn has_conflict(&self, d: usize) -> bool {
        let mut seen = BTreeSet::new();
        self.directories[d]
            .iter()
            .filter(|u| u.in_scope())
            .filter_map(|u| u.mail.and_then(|m| Email::parse(MAILS[m]).ok()))
            .any(|m| !seen.insert(m))
    }

    /// Applies a change to its directory; returns the directory, or `None` when the change
    /// would make a conflict (the change is then not made).
    fn change(&mut self, op: &Op, allow_conflicts: bool) -> Option<usize> {
        let before = self.clone();
        let d = op.directory % self.directories.len();
        let user = &mut self.directories[d][op.user];
        match op.kind {
            Kind::Mail(m) => user.mail = m,
            Kind::Rename(n) => user.name = n,
            Kind::GroupRemove => user.member = false,
            Kind::GroupAdd => user.member = true,
            Kind::NestedGroupAdd => user.nested = true,
            Kind::NestedGroupRemove => user.nested = false,
            Kind::Disable => user.enabled = false,
            Kind::Enable => user.enabled = true,
            Kind::Delete => user.exists = false,
            Kind::Recreate => {
                user.generation += 1;
                user.exists = true;
                user.member = true;
            }
            Kind::MoveOutOfBase => user.in_base = false,
            Kind::MoveBack => user.in_base = true,
        }
        self.usn += 1;
        if !allow_conflicts && self.has_conflict(d) {
            *self = before;
            return None;
        }
        Some(d)
    }

    /// The state a full run builds from an empty store: every directory planned in turn,
    /// until a round plans nothing.
    fn full_run(&self, now: DateTime<Utc>) -> Store {
        let mut store = Store::default();
        for _round in 0..5 {
            let mut changed = false;
            for d in 0..self.directories.len() {
                let p = store.plan(&dir_name(d), self.observed(d), &self.priorities, now);
                changed |= !p.is_empty();
                store.apply(&p, &dir_name(d), now);
            }
            if !changed {
                return store;
            }
        }
        panic!("a full run from scratch reached no fixpoint in 5 rounds");
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Mail(Option<usize>),
    Rename(u8),
    GroupRemove,
    GroupAdd,
    NestedGroupAdd,
    NestedGroupRemove,
    Disable,
    Enable,
    Delete,
    Recreate,
    MoveOutOfBase,
    MoveBack,
}

#[derive(Debug, Clone)]
struct Op {
    directory: usize,
    user: usize,
    kind: Kind,
}

fn any_op() -> impl Strategy<Value = Op> {
    let kind = prop_oneof![
        4 => proptest::option::of(0..MAILS.len()).prop_map(Kind::Mail),
        1 => (1..4u8).prop_map(Kind::Rename),
        1 => Just(Kind::GroupRemove),
        1 => Just(Kind::GroupAdd),
        1 => Just(Kind::NestedGroupAdd),
        1 => Just(Kind::NestedGroupRemove),
        1 => Just(Kind::Disable),
        1 => Just(Kind::Enable),
        1 => Just(Kind::Delete),
        1 => Just(Kind::Recreate),
        1 => Just(Kind::MoveOutOfBase),
        1 => Just(Kind::MoveBack),
    ];
    (0..3usize, 0..USERS, kind).prop_map(|(directory, user, kind)| Op {
        directory,
        user,
        kind,
    })
}

fn any_world() -> impl Strategy<Value = World> {
    (2..=3usize, proptest::collection::vec(0..3i32, 3))
        .prop_map(|(directories, priorities)| World::new(directories, &priorities))
}

/// Every split of a plan is carried by account moves: each of its accounts was stored on
/// `from` and is updated to `to`; and every account moved off an employee is in a split,
/// unless none of that employee's accounts in scope stays (it is absorbed).
fn check_splits(p: &Plan, store: &Store) -> Result<(), TestCaseError> {
    let mut moves: BTreeMap<AccountKey, &EmployeeRef> = BTreeMap::new();
    for change in &p.accounts {
        if let AccountChange::Update {
            account,
            employee,
            reasons,
        } = change
            && reasons.iter().any(|r| r == "employee")
        {
            let key = AccountKey {
                directory: account.directory.clone(),
                object_guid: account.object_guid,
            };
            moves.insert(key, employee);
        }
    }
    let mut in_splits = BTreeSet::new();
    for split in &p.splits {
        prop_assert!(!split.reason.is_empty());
        for k in &split.accounts {
            prop_assert_eq!(
                store.accounts.get(k).map(|a| a.employee_id),
                Some(split.from)
            );
            prop_assert_eq!(moves.get(k).copied(), Some(&split.to), "{}", k);
            in_splits.insert(k.clone());
        }
    }
    let stays = |id: EmployeeId| {
        store.accounts.iter().any(|(k, a)| {
            a.employee_id == id && a.missing_since.is_none() && !moves.contains_key(k)
        })
    };
    for k in moves.keys() {
        let Some(before) = store.accounts.get(k) else {
            continue;
        };
        prop_assert!(
            in_splits.contains(k) || !stays(before.employee_id),
            "{} moves off {} without a split: {:#?}",
            k,
            before.employee_id,
            p
        );
    }
    Ok(())
}

fn at(step: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
        + Duration::minutes(i64::try_from(step).unwrap())
}

// ---------------------------------------------------------------------------------------------
// The merge alone.

fn unique_in_scope(accounts: &BTreeMap<AccountKey, Account>, key: &AccountKey) -> bool {
    accounts.get(key).is_some_and(|a| a.in_scope)
}

fn any_account() -> impl Strategy<Value = Account> {
    (
        0..3usize,
        0..8u128,
        proptest::option::of(0..MAILS.len()),
        any::<bool>(),
        0..3i32,
        proptest::option::of(0..4u128),
        proptest::bool::weighted(0.8),
    )
        .prop_map(|(d, g, m, enabled, priority, linked, in_scope)| {
            let mut a = Account::for_test(dir_name(d), Uuid::from_u128(g), m.map(|i| MAILS[i]));
            a.enabled = enabled;
            a.priority = priority;
            a.linked_to = linked.map(|l| EmployeeId::from_uuid(Uuid::from_u128(1000 + l)));
            a.in_scope = in_scope;
            a
        })
}

fn any_existing() -> impl Strategy<Value = Vec<ExistingEmployee>> {
    proptest::collection::btree_map(0..4u128, proptest::option::of(0..4usize), 0..4).prop_map(|m| {
        m.into_iter()
            .map(|(id, mail)| ExistingEmployee {
                id: EmployeeId::from_uuid(Uuid::from_u128(1000 + id)),
                email: mail.map(|i| Email::parse(MAILS[i]).unwrap()),
            })
            .collect()
    })
}

/// Issue 12 as reported: one person merged from two domains; their mail changes in the second
/// domain only. The run of that domain splits the account off to a new employee of the new
/// address (no `email` update of the merged employee), and a full run of either domain
/// afterwards plans nothing.
#[test]
fn a_mail_changed_in_one_domain_only_splits_the_employee() {
    let mut world = World::new(2, &[0, 0]);
    let mut store = world.full_run(at(0));
    let merged = store.accounts[&AccountKey {
        directory: dir_name(0),
        object_guid: World::guid(0, 0, &world.directories[0][0]),
    }]
        .employee_id;
    let changed = Op {
        directory: 1,
        user: 0,
        kind: Kind::Mail(Some(3)),
    };
    assert_eq!(world.change(&changed, false), Some(1));
    let p = store.plan(&dir_name(1), world.observed(1), &world.priorities, at(1));
    let moved = AccountKey {
        directory: dir_name(1),
        object_guid: World::guid(1, 0, &world.directories[1][0]),
    };
    assert_eq!(
        p.splits,
        vec![keyward_identity::Split {
            from: merged,
            accounts: vec![moved.clone()],
            to: EmployeeRef::New("email:dee@example.com".into()),
            reason: "mail changed from ada@example.com to dee@example.com in corp2".into(),
        }]
    );
    assert!(
        !p.employees
            .iter()
            .any(|c| matches!(c, EmployeeChange::Update { id, .. } if *id == merged)),
        "the merged employee keeps its e-mail: {p:#?}"
    );
    store.apply(&p, &dir_name(1), at(1));
    assert_ne!(store.accounts[&moved].employee_id, merged);
    assert_eq!(
        store.employees[&merged].email,
        Some(Email::parse(MAILS[0]).unwrap())
    );
    for d in 0..2 {
        let again = store.plan(&dir_name(d), world.observed(d), &world.priorities, at(2));
        assert!(again.is_empty(), "corp{} plans more: {again:#?}", d + 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// (a) An employee id is the owner of at most one merged employee, and never both an owner
    /// and absorbed; an absorbed id is absorbed by one employee only. Each split moves accounts
    /// from an employee to the one that now holds them, and an account out of scope never moves.
    #[test]
    fn an_employee_id_is_owned_once_and_never_also_absorbed(
        accounts in proptest::collection::vec(any_account(), 0..12),
        employees in any_existing(),
    ) {
        let mut unique = BTreeMap::new();
        for a in accounts {
            unique.entry(a.key.clone()).or_insert(a);
        }
        let accounts_in = unique.clone();
        let r = merge(&MergeInput { accounts: unique.into_values().collect(), employees });
        let mut owners = BTreeSet::new();
        for e in &r.employees {
            if let EmployeeRef::Existing(id) = &e.employee {
                prop_assert!(owners.insert(*id), "{} owns two employees: {:#?}", id, r);
            }
        }
        let mut absorbed = BTreeSet::new();
        for e in &r.employees {
            for id in &e.absorbed {
                prop_assert!(!owners.contains(id), "{} is an owner and absorbed: {:#?}", id, r);
                prop_assert!(absorbed.insert(*id), "{} absorbed twice: {:#?}", id, r);
            }
        }
        let holder: BTreeMap<&AccountKey, &EmployeeRef> = r
            .employees
            .iter()
            .flat_map(|e| e.accounts.iter().map(move |k| (k, &e.employee)))
            .collect();
        for split in &r.splits {
            prop_assert_ne!(&EmployeeRef::Existing(split.from), &split.to);
            for k in &split.accounts {
                prop_assert_eq!(holder.get(k).copied(), Some(&split.to), "{}", k);
                prop_assert!(unique_in_scope(&accounts_in, k), "{} moved while out of scope", k);
            }
        }
        for a in accounts_in.values().filter(|a| !a.in_scope) {
            if let Some(id) = a.linked_to {
                prop_assert_eq!(holder.get(&a.key).copied(), Some(&EmployeeRef::Existing(id)));
            }
        }
    }

    /// (b) Applying a plan and planning the same directory again plans nothing, from any stored
    /// state the runs of another directory view left (conflicts included).
    #[test]
    fn planning_again_after_applying_plans_nothing(
        world in any_world(),
        before in proptest::collection::vec(any_op(), 0..8),
        after in proptest::collection::vec(any_op(), 0..8),
    ) {
        let mut world = world;
        for op in &before {
            world.change(op, true);
        }
        let mut store = world.full_run(at(0));
        for op in &after {
            world.change(op, true);
        }
        for d in 0..world.directories.len() {
            let name = dir_name(d);
            let first = store.plan(&name, world.observed(d), &world.priorities, at(1));
            store.apply(&first, &name, at(1));
            let second = store.plan(&name, world.observed(d), &world.priorities, at(2));
            prop_assert!(second.is_empty(), "corp{} plans again: {:#?}\nafter {:#?}", d + 1, second, first);
        }
    }

    /// (c) After any history of changes, incremental runs (one plan of the changed directory
    /// per change, applied in turn) leave the state a full run builds from scratch, and that
    /// state is a fixpoint: no directory plans anything more.
    #[test]
    fn incremental_runs_equal_a_full_run_from_scratch(
        world in any_world(),
        history in proptest::collection::vec(any_op(), 1..12),
    ) {
        let mut world = world;
        let mut store = world.full_run(at(0));
        for (step, op) in history.iter().enumerate() {
            let Some(d) = world.change(op, false) else { continue };
            let now = at(step + 1);
            let p = store.plan(&dir_name(d), world.observed(d), &world.priorities, now);
            check_splits(&p, &store)?;
            store.apply(&p, &dir_name(d), now);
            let incremental = store.view();
            let full = world.full_run(now).view();
            prop_assert!(full.missing.is_empty());
            prop_assert!(
                incremental.missing.iter().all(|k| !full.accounts.contains_key(k)),
                "an account missing after incremental runs is in scope after a full run"
            );
            prop_assert_eq!(
                (&incremental.employees, &incremental.accounts),
                (&full.employees, &full.accounts),
                "after step {} ({:?})", step, op
            );
        }
        for d in 0..world.directories.len() {
            let again = store.plan(&dir_name(d), world.observed(d), &world.priorities, at(100));
            prop_assert!(again.is_empty(), "corp{} plans more: {:#?}", d + 1, again);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Batches.

/// Plans `directory` the way the service does at scale: cut into batches of whole components
/// with a [`PartitionBuilder`], each batch planned with only its own users, stored accounts and
/// employees; the batch plans put together.
fn batched_plan(
    store: &Store,
    directory: &DirectoryName,
    observed: &[Observed],
    priorities: &BTreeMap<DirectoryName, i32>,
    now: DateTime<Utc>,
    per_batch: usize,
) -> Plan {
    let mut builder = PartitionBuilder::new();
    let nodes: Vec<_> = observed
        .iter()
        .map(|o| {
            let stored = store.accounts.get(&AccountKey {
                directory: directory.clone(),
                object_guid: o.user.object_guid,
            });
            builder.account(
                &[
                    o.user.mail.as_deref(),
                    stored.and_then(|a| a.mail.as_ref().map(Email::as_str)),
                ],
                stored.map(|a| a.employee_id),
            )
        })
        .collect();
    for a in store.accounts.values() {
        builder.account(&[a.mail.as_ref().map(Email::as_str)], Some(a.employee_id));
    }
    for e in store.employees.values() {
        builder.employee(e.id, e.email.as_ref());
    }
    let partition = builder.finish(per_batch);
    let mut whole = Plan::default();
    for (b, batch) in partition.batches().iter().enumerate() {
        let employees: BTreeSet<EmployeeId> = batch.employees.iter().copied().collect();
        let part = plan(&PlanInput {
            directory: directory.clone(),
            observed: observed
                .iter()
                .zip(&nodes)
                .filter(|(_, n)| partition.batch_of(**n) == b)
                .map(|(o, _)| o.clone())
                .collect(),
            stored_accounts: store
                .accounts
                .values()
                .filter(|a| employees.contains(&a.employee_id))
                .cloned()
                .collect(),
            stored_employees: store
                .employees
                .values()
                .filter(|e| employees.contains(&e.id))
                .cloned()
                .collect(),
            priorities: priorities.clone(),
            now,
            grace: Duration::days(30),
        });
        whole.employees.extend(part.employees);
        whole.accounts.extend(part.accounts);
        whole.unchanged += part.unchanged;
        whole.conflicts.extend(part.conflicts);
        whole.not_mergeable.extend(part.not_mergeable);
        whole.splits.extend(part.splits);
    }
    whole
}

/// A plan with every list in one order, to compare plans made in different orders.
fn sorted(mut p: Plan) -> Plan {
    let by_debug =
        |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}").cmp(&format!("{b:?}"));
    p.employees.sort_by(|a, b| by_debug(a, b));
    p.accounts.sort_by(|a, b| by_debug(a, b));
    p.conflicts.sort_by(|a, b| by_debug(a, b));
    p.not_mergeable.sort();
    p.splits.sort_by(|a, b| by_debug(a, b));
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// (d) Planning batch by batch (whole components, any batch size) plans exactly what one
    /// plan of everything plans, from any stored state and any current view.
    #[test]
    fn batches_of_whole_components_plan_what_one_plan_plans(
        world in any_world(),
        before in proptest::collection::vec(any_op(), 0..8),
        after in proptest::collection::vec(any_op(), 0..8),
        per_batch in 1usize..6,
    ) {
        let mut world = world;
        for op in &before {
            world.change(op, true);
        }
        let store = world.full_run(at(0));
        for op in &after {
            world.change(op, true);
        }
        for d in 0..world.directories.len() {
            let name = dir_name(d);
            let observed = world.observed(d);
            let one = store.plan(&name, observed.clone(), &world.priorities, at(1));
            let batched = batched_plan(&store, &name, &observed, &world.priorities, at(1), per_batch);
            prop_assert_eq!(sorted(batched), sorted(one), "corp{}", d + 1);
        }
    }
}
