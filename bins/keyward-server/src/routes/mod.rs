//! Route handlers, one module per resource.

pub(crate) mod admins;
pub(crate) mod agent;
pub(crate) mod audit;
pub(crate) mod directories;
pub(crate) mod employees;
pub(crate) mod health;
pub(crate) mod invitations;
pub(crate) mod keys;
pub(crate) mod meta;
pub(crate) mod sync;
pub(crate) mod tokens;
pub(crate) mod workstations;
