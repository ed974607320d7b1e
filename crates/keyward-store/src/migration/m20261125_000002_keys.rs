//! Hardware keys and their activation codes.
//!
//! The owner rule of docs/product.md §2 (owner present exactly in Reserved, Active, Locked and
//! Suspended) is also a CHECK constraint, so no client can store a key that breaks it.

use sea_orm_migration::prelude::*;

use super::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE TABLE keys (
        serial TEXT NOT NULL PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN
            ('ready', 'reserved', 'active', 'locked', 'suspended', 'deactivated', 'compromised')),
        employee_id BLOB NULL REFERENCES employees (id),
        reason TEXT NULL,
        description TEXT NULL,
        linked_workstation TEXT NULL,
        wipe_pending BOOLEAN NOT NULL,
        version BIGINT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        CHECK ((employee_id IS NOT NULL) = (status IN ('reserved', 'active', 'locked', 'suspended')))
    )",
    "CREATE INDEX keys_employee ON keys (employee_id)",
    "CREATE INDEX keys_status ON keys (status)",
    "CREATE TABLE activation_codes (
        serial TEXT NOT NULL PRIMARY KEY REFERENCES keys (serial) ON DELETE CASCADE,
        code_hash TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        attempts_used INTEGER NOT NULL,
        issued_at TEXT NOT NULL
    )",
];

const POSTGRES_UP: &[&str] = &[
    "CREATE TABLE keys (
        serial TEXT NOT NULL PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN
            ('ready', 'reserved', 'active', 'locked', 'suspended', 'deactivated', 'compromised')),
        employee_id UUID NULL REFERENCES employees (id),
        reason TEXT NULL,
        description TEXT NULL,
        linked_workstation TEXT NULL,
        wipe_pending BOOLEAN NOT NULL,
        version BIGINT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        CHECK ((employee_id IS NOT NULL) = (status IN ('reserved', 'active', 'locked', 'suspended')))
    )",
    "CREATE INDEX keys_employee ON keys (employee_id)",
    "CREATE INDEX keys_status ON keys (status)",
    "CREATE TABLE activation_codes (
        serial TEXT NOT NULL PRIMARY KEY REFERENCES keys (serial) ON DELETE CASCADE,
        code_hash TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        attempts_used INTEGER NOT NULL,
        issued_at TIMESTAMPTZ NOT NULL
    )",
];

const DOWN: &[&str] = &["DROP TABLE activation_codes", "DROP TABLE keys"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, DOWN, DOWN).await
    }
}
