//! Cutting one run into batches that can be planned and written one at a time.
//!
//! The merge couples accounts only through an e-mail (accounts with the same one are one
//! group; an employee is kept by the group of its stored e-mail) and through the employee an
//! account is linked to (its other accounts, the groups they are in, employees absorbed into
//! it). Accounts, e-mails and employees connected that way form a *component*; nothing in one
//! component changes what [`plan`](crate::plan) decides for another. So planning each
//! component on its own, with only its own accounts and employees, gives exactly the plan of
//! the whole run (a property test checks it), and a run can hold one batch of whole components
//! in memory at a time instead of every account and employee.
//!
//! Connecting too much is harmless (a component is only bigger than it needs to be), so the
//! builder takes every e-mail an account has ever shown (read now and stored) and hashes
//! e-mails instead of keeping them: two e-mails with the same 64-bit hash only join two
//! components.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use keyward_model::{Email, EmployeeId};

/// A node of the partition: what the caller keeps for an account it will need to place later
/// (a user read from the directory). Stored accounts are found through their employee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node(u32);

/// Collects accounts and employees, then cuts them into batches of whole components.
#[derive(Debug, Default)]
pub struct PartitionBuilder {
    /// Union-find parents, one per node.
    parent: Vec<u32>,
    /// Accounts attached to each node (summed into the root on union).
    accounts: Vec<u32>,
    emails: HashMap<u64, u32>,
    employees: HashMap<EmployeeId, u32>,
}

impl PartitionBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An account: the e-mails it shows (as read, not normalized, and as stored) and the
    /// employee it is linked to, if any. Returns its node.
    pub fn account(&mut self, mails: &[Option<&str>], employee: Option<EmployeeId>) -> Node {
        let mut node = employee.map(|id| self.employee_node(id));
        for mail in mails.iter().flatten() {
            if let Ok(email) = Email::parse(mail) {
                let e = self.email_node(&email);
                node = Some(match node {
                    Some(n) => self.union(n, e),
                    None => e,
                });
            }
        }
        let node = node.unwrap_or_else(|| self.fresh());
        let root = self.find(node);
        self.accounts[root as usize] += 1;
        Node(node)
    }

    /// An employee and its stored e-mail.
    pub fn employee(&mut self, id: EmployeeId, email: Option<&Email>) {
        let node = self.employee_node(id);
        if let Some(email) = email {
            let e = self.email_node(email);
            self.union(node, e);
        }
    }

    /// Cuts the components into batches of about `accounts_per_batch` accounts (a bigger
    /// component is a batch of its own). Components without an account plan nothing and are
    /// left out.
    pub fn finish(mut self, accounts_per_batch: usize) -> Partition {
        let limit = u32::try_from(accounts_per_batch.max(1)).unwrap_or(u32::MAX);
        let mut batch_of_root: HashMap<u32, u32> = HashMap::new();
        let mut batches: Vec<Batch> = Vec::new();
        let mut filling: u32 = 0;
        let count = u32::try_from(self.parent.len()).unwrap_or(u32::MAX);
        for node in 0..count {
            let root = self.find(node);
            if root != node || self.accounts[root as usize] == 0 {
                continue;
            }
            let size = self.accounts[root as usize];
            if batches.is_empty() || (filling > 0 && filling + size > limit) {
                batches.push(Batch::default());
                filling = 0;
            }
            filling += size;
            let last = batches.len() - 1;
            batches[last].accounts += size as usize;
            batch_of_root.insert(root, u32::try_from(last).unwrap_or(u32::MAX));
        }
        let mut employees: Vec<(EmployeeId, u32)> = self.employees.drain().collect();
        employees.sort_unstable_by_key(|(id, _)| *id);
        for (id, node) in employees {
            let root = self.find(node);
            if let Some(b) = batch_of_root.get(&root) {
                batches[*b as usize].employees.push(id);
            }
        }
        let batch_of_node = (0..count)
            .map(|node| {
                let root = self.find(node);
                batch_of_root.get(&root).copied().unwrap_or(u32::MAX)
            })
            .collect();
        Partition {
            batches,
            batch_of_node,
        }
    }

    fn fresh(&mut self) -> u32 {
        let id = u32::try_from(self.parent.len()).unwrap_or(u32::MAX);
        self.parent.push(id);
        self.accounts.push(0);
        id
    }

    fn email_node(&mut self, email: &Email) -> u32 {
        let mut h = DefaultHasher::new();
        email.as_str().hash(&mut h);
        let key = h.finish();
        if let Some(n) = self.emails.get(&key) {
            return *n;
        }
        let n = self.fresh();
        self.emails.insert(key, n);
        n
    }

    fn employee_node(&mut self, id: EmployeeId) -> u32 {
        if let Some(n) = self.employees.get(&id) {
            return *n;
        }
        let n = self.fresh();
        self.employees.insert(id, n);
        n
    }

    fn find(&mut self, mut node: u32) -> u32 {
        while self.parent[node as usize] != node {
            let grand = self.parent[self.parent[node as usize] as usize];
            self.parent[node as usize] = grand;
            node = grand;
        }
        node
    }

    fn union(&mut self, a: u32, b: u32) -> u32 {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return ra;
        }
        // The smaller id stays the root, so batches come out in the order nodes were added.
        let (root, child) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[child as usize] = root;
        self.accounts[root as usize] += self.accounts[child as usize];
        self.accounts[child as usize] = 0;
        root
    }
}

/// One batch: whole components, named by their employees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// The existing employees of the batch's components, in id order. The batch's stored
    /// accounts are exactly the accounts linked to them.
    pub employees: Vec<EmployeeId>,
    /// How many accounts (read and stored) the batch has.
    pub accounts: usize,
}

/// The batches of one run.
#[derive(Debug, Clone)]
pub struct Partition {
    batches: Vec<Batch>,
    batch_of_node: Vec<u32>,
}

impl Partition {
    /// The batches, in a stable order.
    pub fn batches(&self) -> &[Batch] {
        &self.batches
    }

    /// The batch an account's node is in.
    pub fn batch_of(&self, node: Node) -> usize {
        self.batch_of_node
            .get(node.0 as usize)
            .map_or(usize::MAX, |b| *b as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn id(n: u128) -> EmployeeId {
        EmployeeId::from_uuid(Uuid::from_u128(n))
    }

    #[test]
    fn accounts_joined_by_mail_or_employee_share_a_batch() {
        let mut b = PartitionBuilder::new();
        let ada_read = b.account(&[Some("Ada@Example.com")], None);
        let ada_stored = b.account(&[Some("ada@example.com")], Some(id(1)));
        // The same employee, reached through an old e-mail.
        let ada_old = b.account(&[Some("old@example.com")], Some(id(1)));
        let bob = b.account(&[Some("bob@example.com")], Some(id(2)));
        let loose = b.account(&[None], None);
        b.employee(id(1), None);
        b.employee(id(2), Email::parse("bob@example.com").ok().as_ref());
        b.employee(id(3), None); // no account: planned nowhere
        let p = b.finish(3);
        assert_eq!(p.batch_of(ada_read), p.batch_of(ada_stored));
        assert_eq!(p.batch_of(ada_read), p.batch_of(ada_old));
        assert_ne!(p.batch_of(ada_read), p.batch_of(bob));
        assert_eq!(p.batches().len(), 2, "{:?}", p.batches());
        assert_eq!(p.batches()[0].employees, vec![id(1)]);
        assert_eq!(p.batches()[0].accounts, 3);
        assert_eq!(p.batches()[1].employees, vec![id(2)]);
        assert_eq!(
            p.batch_of(bob),
            p.batch_of(loose),
            "bob and the loose one fill batch 2"
        );
        assert!(p.batches().iter().all(|b| !b.employees.contains(&id(3))));
    }

    #[test]
    fn a_component_bigger_than_a_batch_is_a_batch_of_its_own() {
        let mut b = PartitionBuilder::new();
        let small = b.account(&[Some("a@example.com")], None);
        let big: Vec<Node> = (0..5)
            .map(|_| b.account(&[Some("b@example.com")], None))
            .collect();
        let after = b.account(&[Some("c@example.com")], None);
        let p = b.finish(2);
        assert_eq!(p.batches().len(), 3);
        assert!(big.iter().all(|n| p.batch_of(*n) == 1));
        assert_eq!(p.batch_of(small), 0);
        assert_eq!(p.batch_of(after), 2);
    }
}
