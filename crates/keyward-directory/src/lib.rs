//! keyward's Active Directory connector, on ldap3 with rustls (ring).
//!
//! Place in the layers: an IO crate above `keyward-model` (and the pure `keyward-password` for
//! secret types). It never depends on `keyward-store` or `keyward-service`.
//!
//! What it does:
//! - connects with `ldaps://`, or `ldap://` plus StartTLS, verifying the server certificate
//!   against a CA file or the system roots; several URLs fail over in order; every connect and
//!   operation has a timeout ([`DirectoryClient`], [`Session`]);
//! - reads the rootDSE, the NetBIOS name and the DC's invocationId ([`DomainInfo`]);
//! - resolves groups by name or DN and selects their transitive user members, with
//!   `LDAP_MATCHING_RULE_IN_CHAIN` on AD or a breadth-first walk with range retrieval elsewhere;
//! - streams users with RFC 2696 paging and an explicit attribute list ([`Session::users`]);
//! - binds as the service account with a password or with Kerberos (SASL GSSAPI, the keys of a
//!   keytab, never in clear; [`BindMethod`], [`KerberosEnvironment`]);
//! - resets, changes and verifies passwords with AD's answers as distinct errors;
//! - reads LDIF exports as the same stream ([`users_from_ldif`]);
//! - reads the domain's password policies, default and fine-grained, and the one applying to an
//!   account ([`DomainPolicies`]);
//! - checks, read-only, what the bound account may do on an account: Reset Password from the
//!   account's DACL, Write pwdLastSet from `allowedAttributesEffective` ([`AccountRights`],
//!   [`security`]).
//!
//! What it must never do: return a short result as if it were complete (any search error ends
//! the stream with an error), panic on a malformed entry (it becomes [`Read::Skipped`] with its
//! DN), send a password over an unencrypted connection, or log a password.
//!
//! ```no_run
//! # async fn demo() -> keyward_directory::Result<()> {
//! use futures_util::StreamExt;
//! use keyward_directory::{DirectoryClient, DirectoryConfig, Read, Session};
//! let mut config = DirectoryConfig::new("corp1", vec!["ldaps://127.0.0.2".into()], "CN=Administrator,CN=Users,DC=corp1,DC=test");
//! config.bind_password_env = Some("CORP1_BIND_PASSWORD".into());
//! let client = DirectoryClient::new(config.clone(), "Passw0rd!Lab".into())?;
//! let mut session = client.connect().await?;
//! let info = session.domain_info(&config).await?;
//! let (_group, scoping) = session.scoping(&config, &info, &config.sync_group).await?;
//! let query = Session::full_query(&info, scoping);
//! let users = session.users(query);
//! futures_util::pin_mut!(users);
//! while let Some(read) = users.next().await {
//!     if let Read::User(user) = read? { println!("{}", user.dn); }
//! }
//! # Ok(()) }
//! ```

mod client;
mod config;
pub mod decode;
mod domain;
mod entry;
mod error;
mod groups;
mod kerberos;
mod ldif;
mod password;
mod policy;
mod replication;
mod rights;
mod rootdse;
pub mod security;
mod tls;
mod users;

pub use client::{DirectoryClient, Session};
pub use config::{
    DEFAULT_ROTATION_GROUP, DEFAULT_SYNC_GROUP, DirectoryConfig, MAX_DURATION_SECS,
    MembershipMethod,
};
pub use domain::{DomainInfo, GUIDS_PER_QUERY};
pub use entry::{BadEntry, RawEntry, USER_ATTRIBUTES};
pub use error::{Error, Result};
pub use groups::Group;
pub use kerberos::{
    BindMethod, CCACHE_DIR_PREFIX, ENV_CCACHE, ENV_CLIENT_KEYTAB, ENV_CONFIG, KerberosEnvironment,
    KerberosProblem, SpnHost, private_ccache_dir,
};
pub use ldif::{LdifReader, users_from_ldif};
pub use policy::{DirectoryPasswordPolicy, DomainPolicies, FineGrained, PolicyKind};
pub use rights::{AccountRights, BoundAccount};
pub use rootdse::RootDse;
pub use users::{Read, Scoping, UserQuery};
