//! Stages 3 and 4: cut the run into batches of whole merge components, decide which removals
//! are held, and build each batch's plan input from what was read and what is stored.
//!
//! Only [`load_index`] touches the store; the rest is pure and unit-tested below.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use keyward_identity::{Observed, PartitionBuilder, PlanInput, StoredEmployee};
use keyward_model::{DirectoryAccount, DirectoryName, DirectoryUser, Employee, EmployeeId};
use keyward_store::{Store, SyncBatchState};
use uuid::Uuid;

use super::seen::SeenUsers;
use crate::Result;

/// Index rows read per query.
const INDEX_PAGE: u64 = 10_000;

/// A stored account of the run's directory, as the read stage needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ours {
    /// Its employee.
    pub employee: EmployeeId,
    /// In scope at the last run (not marked missing).
    pub present: bool,
}

/// The stored side of a run's partition.
#[derive(Debug)]
pub(super) struct Index {
    /// The run directory's stored accounts by objectGUID.
    pub ours: HashMap<Uuid, Ours>,
    /// Every stored account and employee, added; the users read are added by [`place`].
    pub builder: PartitionBuilder,
}

impl Index {
    /// How many of the run directory's accounts were in scope at the last run.
    pub fn present(&self) -> usize {
        self.ours.values().filter(|o| o.present).count()
    }
}

/// Reads every stored account and employee, a page at a time, into a partition builder: the
/// narrow columns only (the full rows are read batch by batch).
pub(super) async fn load_index(store: &Store, directory: &DirectoryName) -> Result<Index> {
    let mut index = Index {
        ours: HashMap::new(),
        builder: PartitionBuilder::new(),
    };
    let mut after = None;
    loop {
        let page = store.account_index_page(&after, INDEX_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.directory.clone(), last.object_guid));
        for a in &page {
            index.builder.account(
                &[a.mail.as_ref().map(keyward_model::Email::as_str)],
                Some(a.employee_id),
            );
            if &a.directory == directory {
                index.ours.insert(
                    a.object_guid,
                    Ours {
                        employee: a.employee_id,
                        present: a.missing_since.is_none(),
                    },
                );
            }
        }
    }
    let mut after = None;
    loop {
        let page = store.employee_index_page(after, INDEX_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.0);
        for (id, email) in &page {
            index.builder.employee(*id, email.as_ref());
        }
    }
    Ok(index)
}

/// Adds the users read to the partition (joined to their stored account's employee) and
/// records each one's node.
pub(super) fn place(seen: &mut SeenUsers, index: &mut Index) {
    seen.nodes = seen
        .users
        .iter()
        .map(|u| {
            let employee = index.ours.get(&u.object_guid()).map(|o| o.employee);
            index.builder.account(&[u.mail()], employee)
        })
        .collect();
}

/// Which of the run directory's users are in scope now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum InScope {
    /// A full read: exactly the users read.
    Read,
    /// An incremental read: these objectGUIDs. A member that was not read (it did not change)
    /// is as stored; a user read that is not a member is out of scope.
    Members(HashSet<Uuid>),
}

/// Where a user's rotation-group membership comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Rotation {
    /// The rotation group was walked: the lower-cased DNs of its transitive members.
    Walked(HashSet<String>),
    /// The rotation group did not change: every member keeps its stored flag.
    AsStored,
}

impl Rotation {
    fn member(&self, dn: &str, stored: bool) -> bool {
        match self {
            Self::Walked(dns) => dns.contains(&dn.to_ascii_lowercase()),
            Self::AsStored => stored,
        }
    }
}

/// The accounts of the run's directory that leave scope in this run: in scope at the last run
/// and not in scope now. An account whose entry was skipped (`kept`) does not leave.
pub(super) fn leaving(
    index: &Index,
    seen: &SeenUsers,
    scope: &InScope,
    kept: &HashSet<Uuid>,
) -> Vec<Uuid> {
    let read: HashSet<Uuid>;
    let in_scope = match scope {
        InScope::Read => {
            read = seen
                .users
                .iter()
                .map(super::seen::SeenUser::object_guid)
                .collect();
            &read
        }
        InScope::Members(members) => members,
    };
    let mut out: Vec<Uuid> = index
        .ours
        .iter()
        .filter(|(guid, o)| o.present && !in_scope.contains(guid) && !kept.contains(guid))
        .map(|(guid, _)| *guid)
        .collect();
    out.sort_unstable();
    out
}

/// The removal threshold: `leaving` accounts of `present` ones must wait for an administrator
/// when they are more than `max` or more than `max_percent` of them, unless the run confirms
/// an earlier run's held removals.
pub(super) fn must_hold(
    leaving: usize,
    present: usize,
    max: u32,
    max_percent: u8,
    confirming: bool,
) -> bool {
    let too_many = leaving > max as usize
        || (present > 0 && leaving * 100 > usize::from(max_percent) * present);
    leaving > 0 && too_many && !confirming
}

/// What every batch's plan input shares.
#[derive(Debug)]
pub(super) struct BatchInputs<'a> {
    pub directory: &'a DirectoryName,
    pub seen: &'a SeenUsers,
    pub scope: &'a InScope,
    pub rotation: &'a Rotation,
    /// Leaving accounts whose removal is held: planned as if still in scope, as stored.
    pub held: &'a HashSet<Uuid>,
    /// Stored accounts whose entry in scope was skipped (it could not be decoded): planned as
    /// in scope, as stored, so that a broken entry never marks its account missing.
    pub kept: &'a HashSet<Uuid>,
    pub priorities: &'a BTreeMap<DirectoryName, i32>,
    pub now: DateTime<Utc>,
    pub grace: Duration,
}

impl BatchInputs<'_> {
    /// The plan input of one batch: the users read that fall in it and are in scope, the run
    /// directory's stored accounts that stay in scope without being read (unchanged members,
    /// held removals), and the batch's stored accounts and employees.
    pub fn plan_input(&self, users: &[usize], state: SyncBatchState) -> (PlanInput, Vec<Employee>) {
        let ours: HashMap<Uuid, &DirectoryAccount> = state
            .accounts
            .iter()
            .filter(|a| &a.directory == self.directory)
            .map(|a| (a.object_guid, a))
            .collect();
        let mut observed = Vec::with_capacity(users.len());
        let mut read_here = HashSet::with_capacity(users.len());
        for &i in users {
            let user = &self.seen.users[i];
            let guid = user.object_guid();
            if let InScope::Members(members) = self.scope
                && !members.contains(&guid)
            {
                continue;
            }
            let stored_flag = ours
                .get(&guid)
                .is_some_and(|a| a.missing_since.is_none() && a.in_rotation_group);
            read_here.insert(guid);
            observed.push(user.observed(self.rotation.member(user.dn(), stored_flag)));
        }
        for (guid, stored) in &ours {
            if read_here.contains(guid) {
                continue;
            }
            // The entry is in scope (the directory returned it) but could not be read: its
            // account stays as stored, whether or not it was missing before.
            let in_rotation_group = if self.kept.contains(guid) {
                stored.in_rotation_group
            } else if stored.missing_since.is_some() {
                continue;
            } else if self.held.contains(guid) {
                stored.in_rotation_group
            } else if matches!(self.scope, InScope::Members(m) if m.contains(guid)) {
                self.rotation.member(&stored.dn, stored.in_rotation_group)
            } else {
                continue;
            };
            observed.push(Observed {
                user: user_from_stored(stored),
                in_rotation_group,
            });
        }
        let stored_employees = state
            .employees
            .iter()
            .map(|e| StoredEmployee {
                id: e.id,
                email: e.email.clone(),
                display_name: e.display_name.as_str().to_owned(),
                status: e.status,
                origin: e.origin,
            })
            .collect();
        drop(ours);
        let input = PlanInput {
            directory: self.directory.clone(),
            observed,
            stored_accounts: state.accounts,
            stored_employees,
            priorities: self.priorities.clone(),
            now: self.now,
            grace: self.grace,
        };
        (input, state.employees)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::seen::SeenUser;
    use keyward_identity::{AccountChange, plan};
    use keyward_model::{DisplayName, Email, EmployeeOrigin, EmployeeStatus};

    fn corp() -> DirectoryName {
        DirectoryName::parse("corp").unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(100)
    }

    fn user(n: u128) -> DirectoryUser {
        DirectoryUser {
            dn: format!("CN=u{n},OU=Staff,DC=corp,DC=test"),
            object_guid: Uuid::from_u128(n),
            object_sid: None,
            sam_account_name: Some(format!("u{n}")),
            user_principal_name: None,
            mail: Some(format!("u{n}@example.com")),
            given_name: None,
            surname: None,
            display_name: Some(format!("User {n}")),
            phone: None,
            company: None,
            department: None,
            title: None,
            enabled: true,
            locked_out: false,
            password_never_expires: false,
            when_changed: None,
            pwd_last_set: None,
            usn_changed: 1,
        }
    }

    /// Stored as a previous run would have left `user(n)`, employee `n`.
    fn stored(n: u128, in_rotation_group: bool) -> (DirectoryAccount, Employee) {
        let id = EmployeeId::from_uuid(Uuid::from_u128(1000 + n));
        let u = user(n);
        let account = DirectoryAccount {
            directory: corp(),
            object_guid: u.object_guid,
            employee_id: id,
            dn: u.dn.clone(),
            sam_account_name: u.sam_account_name.clone(),
            user_principal_name: None,
            mail: Email::parse(u.mail.as_deref().unwrap()).ok(),
            display_name: u.display_name.clone(),
            enabled: true,
            in_rotation_group,
            usn_changed: 1,
            last_seen_at: now(),
            missing_since: None,
        };
        let employee = Employee {
            id,
            email: account.mail.clone(),
            display_name: DisplayName::parse(u.display_name.as_deref().unwrap()).unwrap(),
            status: EmployeeStatus::Active,
            origin: EmployeeOrigin::Directory,
            created_at: now(),
            updated_at: now(),
        };
        (account, employee)
    }

    fn seen_of(users: &[DirectoryUser]) -> SeenUsers {
        SeenUsers {
            users: users.iter().map(SeenUser::new).collect(),
            read: users.len() as u64,
            ..SeenUsers::default()
        }
    }

    fn state(rows: &[(DirectoryAccount, Employee)]) -> SyncBatchState {
        SyncBatchState {
            accounts: rows.iter().map(|r| r.0.clone()).collect(),
            employees: rows.iter().map(|r| r.1.clone()).collect(),
        }
    }

    fn index_of(rows: &[(DirectoryAccount, Employee)]) -> Index {
        Index {
            ours: rows
                .iter()
                .map(|(a, _)| {
                    (
                        a.object_guid,
                        Ours {
                            employee: a.employee_id,
                            present: a.missing_since.is_none(),
                        },
                    )
                })
                .collect(),
            builder: PartitionBuilder::new(),
        }
    }

    static NOBODY: std::sync::LazyLock<HashSet<Uuid>> = std::sync::LazyLock::new(HashSet::new);

    fn inputs<'a>(
        seen: &'a SeenUsers,
        scope: &'a InScope,
        rotation: &'a Rotation,
        held: &'a HashSet<Uuid>,
        priorities: &'a BTreeMap<DirectoryName, i32>,
        directory: &'a DirectoryName,
    ) -> BatchInputs<'a> {
        BatchInputs {
            directory,
            seen,
            scope,
            rotation,
            held,
            kept: &NOBODY,
            priorities,
            now: now(),
            grace: Duration::days(7),
        }
    }

    #[test]
    fn an_unchanged_member_not_read_stays_as_stored_and_a_non_member_leaves() {
        let rows = [stored(1, true), stored(2, false), stored(3, false)];
        // Incremental: user 2 changed (read), 1 did not, 3 is no longer a member.
        let mut changed = user(2);
        changed.display_name = Some("Renamed".into());
        let seen = seen_of(&[changed]);
        let scope = InScope::Members([1, 2].map(Uuid::from_u128).into_iter().collect());
        let index = index_of(&rows);
        assert_eq!(
            leaving(&index, &seen, &scope, &NOBODY),
            vec![Uuid::from_u128(3)]
        );
        let (dir, held, prio) = (corp(), HashSet::new(), BTreeMap::new());
        let b = inputs(&seen, &scope, &Rotation::AsStored, &held, &prio, &dir);
        let (input, _) = b.plan_input(&[0], state(&rows));
        let p = plan(&input);
        assert_eq!(p.unchanged, 1, "{p:#?}");
        let kinds: Vec<_> = p
            .accounts
            .iter()
            .map(|c| match c {
                AccountChange::Update {
                    account, reasons, ..
                } => {
                    format!("update {} {reasons:?}", account.object_guid.as_u128())
                }
                AccountChange::MarkMissing { key, .. } => {
                    format!("missing {}", key.object_guid.as_u128())
                }
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(kinds, vec!["update 2 [\"display_name\"]", "missing 3"]);
        // The member not read kept its stored rotation flag.
        let one = input
            .observed
            .iter()
            .find(|o| o.user.object_guid == Uuid::from_u128(1))
            .unwrap();
        assert!(one.in_rotation_group);
    }

    #[test]
    fn a_walked_rotation_group_decides_for_read_and_unread_members() {
        let rows = [stored(1, true), stored(2, false)];
        let seen = seen_of(&[user(2)]);
        let scope = InScope::Members([1, 2].map(Uuid::from_u128).into_iter().collect());
        let walked = Rotation::Walked([user(2).dn.to_ascii_lowercase()].into_iter().collect());
        let (dir, held, prio) = (corp(), HashSet::new(), BTreeMap::new());
        let b = inputs(&seen, &scope, &walked, &held, &prio, &dir);
        let (input, _) = b.plan_input(&[0], state(&rows));
        let flag = |n| {
            input
                .observed
                .iter()
                .find(|o| o.user.object_guid == Uuid::from_u128(n))
                .unwrap()
                .in_rotation_group
        };
        assert!(!flag(1), "user 1 left the walked group");
        assert!(flag(2), "user 2 joined it");
    }

    #[test]
    fn held_removals_are_planned_as_still_in_scope() {
        let rows = [stored(1, true), stored(2, false)];
        let seen = seen_of(&[user(1)]);
        let index = index_of(&rows);
        let scope = InScope::Read;
        assert_eq!(
            leaving(&index, &seen, &scope, &NOBODY),
            vec![Uuid::from_u128(2)]
        );
        let held: HashSet<Uuid> = [Uuid::from_u128(2)].into_iter().collect();
        let (dir, prio) = (corp(), BTreeMap::new());
        let walked = Rotation::Walked(HashSet::new());
        let b = inputs(&seen, &scope, &walked, &held, &prio, &dir);
        let (input, _) = b.plan_input(&[0], state(&rows));
        let p = plan(&input);
        assert!(
            p.accounts
                .iter()
                .all(|c| !matches!(c, AccountChange::MarkMissing { .. })),
            "{p:#?}"
        );
        let nobody_held = HashSet::new();
        let b = inputs(&seen, &scope, &walked, &nobody_held, &prio, &dir);
        let (input, _) = b.plan_input(&[0], state(&rows));
        assert!(
            plan(&input)
                .accounts
                .iter()
                .any(|c| matches!(c, AccountChange::MarkMissing { .. }))
        );
    }

    #[test]
    fn the_threshold_holds_too_many_removals_unless_confirmed() {
        assert!(!must_hold(0, 0, 0, 0, false), "nothing leaves");
        assert!(
            !must_hold(5, 100, 100, 20, false),
            "5 of 100 is under both limits"
        );
        assert!(must_hold(101, 1000, 100, 20, false), "over the count");
        assert!(must_hold(21, 100, 100, 20, false), "over the percentage");
        assert!(
            !must_hold(20, 100, 100, 20, false),
            "exactly 20% is allowed"
        );
        assert!(
            !must_hold(500, 500, 100, 20, true),
            "a confirming run applies them"
        );
    }

    /// A full run reads user 1; the entries of 2 (present) and 3 (missing for longer than the
    /// grace period) are in scope but were skipped: both stay as stored, neither is marked
    /// missing nor removed, and nothing counts as leaving.
    #[test]
    fn a_skipped_entry_keeps_its_account_as_stored() {
        let mut gone = stored(3, true);
        gone.0.missing_since = Some(now() - Duration::days(30));
        let rows = [stored(1, false), stored(2, true), gone];
        let seen = seen_of(&[user(1)]);
        let scope = InScope::Read;
        let index = index_of(&rows);
        let kept: HashSet<Uuid> = [2, 3].map(Uuid::from_u128).into_iter().collect();
        assert!(leaving(&index, &seen, &scope, &kept).is_empty());
        assert_eq!(
            leaving(&index, &seen, &scope, &NOBODY),
            [Uuid::from_u128(2)],
            "without the rule, 2 would leave"
        );
        let (dir, held, prio) = (corp(), HashSet::new(), BTreeMap::new());
        let walked = Rotation::Walked(HashSet::new());
        let mut b = inputs(&seen, &scope, &walked, &held, &prio, &dir);
        b.kept = &kept;
        let (input, _) = b.plan_input(&[0], state(&rows));
        let two = input
            .observed
            .iter()
            .find(|o| o.user.object_guid == Uuid::from_u128(2))
            .unwrap();
        assert!(
            two.in_rotation_group,
            "the stored flag, not the walked group"
        );
        let p = plan(&input);
        for change in &p.accounts {
            match change {
                AccountChange::MarkMissing { key, .. } | AccountChange::Remove { key, .. } => {
                    panic!("{key} must stay: {p:#?}")
                }
                AccountChange::Update { account, .. } => {
                    assert_eq!(account.object_guid, Uuid::from_u128(3), "{p:#?}");
                }
                AccountChange::Create { .. } => {}
            }
        }
        // Without the rule, 2 is marked missing and 3 removed.
        let b = inputs(&seen, &scope, &walked, &held, &prio, &dir);
        let (input, _) = b.plan_input(&[0], state(&rows));
        let p = plan(&input);
        assert!(
            p.accounts
                .iter()
                .any(|c| matches!(c, AccountChange::MarkMissing { .. })),
            "{p:#?}"
        );
    }
}
