//! sea-orm entities. Private to this crate: they mirror tables, not the domain.

pub(crate) mod account_password;
pub(crate) mod activation_code;
pub(crate) mod admin;
pub(crate) mod admin_credential;
pub(crate) mod admin_enrollment;
pub(crate) mod admin_session;
pub(crate) mod api_token;
pub(crate) mod audit_log;
pub(crate) mod directory_account;
pub(crate) mod employee;
pub(crate) mod invitation;
pub(crate) mod invitation_link;
pub(crate) mod key;
pub(crate) mod outbox;
pub(crate) mod server_instance;
pub(crate) mod setting;
pub(crate) mod sync_cursor;
pub(crate) mod sync_lease;
pub(crate) mod sync_run;
pub(crate) mod webauthn_ceremony;
pub(crate) mod workstation;
