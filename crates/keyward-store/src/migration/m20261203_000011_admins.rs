//! Console administrators: their passkeys, one-time enrollment links, sessions, and the
//! WebAuthn ceremonies in flight.
//!
//! - `admins`: one row per admin, `email` unique; `disabled_at` set when disabled.
//! - `admin_credentials`: a registered passkey or security key, keyed by its WebAuthn credential
//!   id; `passkey` is the relying-party record (public key, signature counter) as JSON. Nothing
//!   in it is secret.
//! - `admin_enrollments`: an enrollment link, stored as SHA-256 of its secret; used once.
//! - `admin_sessions`: a console session, stored as SHA-256 of the cookie's secret, with its
//!   CSRF token and its idle (`last_seen_at`) and absolute (`expires_at`) expiry.
//! - `webauthn_ceremonies`: the server half of a registration or sign-in started and not yet
//!   finished (the challenge); taken (deleted) by the request that finishes it, so that a
//!   challenge answers once, on whichever server instance the answer reaches.

use sea_orm_migration::prelude::*;

use super::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE TABLE admins (
        id BLOB NOT NULL PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        disabled_at TEXT NULL
    )",
    "CREATE TABLE admin_credentials (
        credential_id TEXT NOT NULL PRIMARY KEY,
        admin_id BLOB NOT NULL REFERENCES admins (id),
        label TEXT NOT NULL,
        passkey TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_used_at TEXT NULL
    )",
    "CREATE INDEX admin_credentials_admin ON admin_credentials (admin_id)",
    "CREATE TABLE admin_enrollments (
        token_hash TEXT NOT NULL PRIMARY KEY,
        admin_id BLOB NOT NULL REFERENCES admins (id),
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT NULL
    )",
    "CREATE TABLE admin_sessions (
        id_hash TEXT NOT NULL PRIMARY KEY,
        admin_id BLOB NOT NULL REFERENCES admins (id),
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )",
    "CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id)",
    "CREATE TABLE webauthn_ceremonies (
        id BLOB NOT NULL PRIMARY KEY,
        purpose TEXT NOT NULL,
        admin_id BLOB NOT NULL REFERENCES admins (id),
        state TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )",
];

const POSTGRES_UP: &[&str] = &[
    "CREATE TABLE admins (
        id UUID NOT NULL PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        disabled_at TIMESTAMPTZ NULL
    )",
    "CREATE TABLE admin_credentials (
        credential_id TEXT NOT NULL PRIMARY KEY,
        admin_id UUID NOT NULL REFERENCES admins (id),
        label TEXT NOT NULL,
        passkey TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        last_used_at TIMESTAMPTZ NULL
    )",
    "CREATE INDEX admin_credentials_admin ON admin_credentials (admin_id)",
    "CREATE TABLE admin_enrollments (
        token_hash TEXT NOT NULL PRIMARY KEY,
        admin_id UUID NOT NULL REFERENCES admins (id),
        created_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        used_at TIMESTAMPTZ NULL
    )",
    "CREATE TABLE admin_sessions (
        id_hash TEXT NOT NULL PRIMARY KEY,
        admin_id UUID NOT NULL REFERENCES admins (id),
        csrf_token TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        last_seen_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    )",
    "CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id)",
    "CREATE TABLE webauthn_ceremonies (
        id UUID NOT NULL PRIMARY KEY,
        purpose TEXT NOT NULL,
        admin_id UUID NOT NULL REFERENCES admins (id),
        state TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    )",
];

const DOWN: &[&str] = &[
    "DROP TABLE webauthn_ceremonies",
    "DROP TABLE admin_sessions",
    "DROP TABLE admin_enrollments",
    "DROP TABLE admin_credentials",
    "DROP TABLE admins",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, DOWN, DOWN).await
    }
}
