//! keyward's identity rules: which directory accounts are the same person, and what a sync must
//! change to make the stored state match the directories.
//!
//! Place in the layers: a pure crate above `keyward-model`. No IO, no async, no clock, no
//! randomness: new employees are named by a canonical [`EmployeeRef::New`] key, and the caller
//! gives them ids when it applies the plan. That keeps [`merge`] a pure function of its input:
//! the same accounts in any order give the same result, and merging a merged state again
//! changes nothing.
//!
//! The rules (docs/product.md §1):
//! - accounts whose normalized e-mail (trimmed, lower-cased) is equal are one employee;
//! - an account without a usable e-mail is its own employee, reported as not mergeable;
//! - two accounts of the *same* directory with the same e-mail are a conflict: both are
//!   reported, neither is merged, and whatever was stored for them stays as it was;
//! - when directories disagree on a profile field, the higher priority wins (ties: directory
//!   name, then objectGUID, so the result never depends on input order);
//! - an existing employee with the same e-mail (one created by hand, say) is linked, not
//!   duplicated;
//! - an employee keeps its id as long as any of its accounts remains;
//! - an existing employee id goes to at most one e-mail group: the group of its stored e-mail,
//!   else the group of its highest-priority account (then the smallest key) that no other
//!   employee keeps; the accounts in other groups split off to the employee of their e-mail
//!   (a new one when that group keeps no existing employee), reported as a [`Split`];
//!   converging employees are absorbed, never split (see [`merge`] for the exact rule);
//! - an account out of scope (missing, within the grace period) stays with its employee and
//!   counts as disabled; it takes no part in e-mail groups, conflicts or splits.
//!
//! ```
//! use keyward_identity::{merge, Account, MergeInput};
//! use keyward_model::DirectoryName;
//! use uuid::Uuid;
//!
//! let a = Account::for_test(DirectoryName::parse("corp1").unwrap(), Uuid::from_u128(1), Some(" Ada@Example.com"));
//! let b = Account::for_test(DirectoryName::parse("corp2").unwrap(), Uuid::from_u128(2), Some("ada@example.com"));
//! let result = merge(&MergeInput { accounts: vec![a, b], ..MergeInput::default() });
//! assert_eq!(result.employees.len(), 1);
//! assert_eq!(result.employees[0].accounts.len(), 2);
//! ```

mod merge;
mod partition;
mod plan;

pub use merge::{
    Account, AccountKey, Conflict, EmployeeRef, ExistingEmployee, MergeInput, MergeResult,
    MergedEmployee, Split, merge,
};
pub use partition::{Batch, Node, Partition, PartitionBuilder};
pub use plan::{
    AccountChange, EmployeeChange, Observed, Plan, PlanInput, StoredAccount, StoredEmployee,
    best_name, plan,
};
