//! Route handlers, one module per resource.

pub(crate) mod agent;
pub(crate) mod employees;
pub(crate) mod health;
pub(crate) mod invitations;
pub(crate) mod keys;
pub(crate) mod meta;
pub(crate) mod sync;
pub(crate) mod workstations;
