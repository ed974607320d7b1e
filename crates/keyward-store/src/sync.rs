//! Sync state: all accounts and employees for planning, cursors, leases, runs, and the one
//! transaction that applies a plan.

use chrono::{DateTime, Utc};
use keyward_model::{DirectoryAccount, DirectoryName, Email, Employee, EmployeeId, NewAuditRecord};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::entity::{directory_account, employee, sync_cursor, sync_lease, sync_run};
use crate::{Error, Result, Store, audit};

/// Where an incremental run of a directory starts: the domain controller it read from and the
/// highest USN it had seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncCursor {
    /// The directory.
    pub directory: DirectoryName,
    /// The DC's invocationId at the last run.
    pub invocation_id: String,
    /// The DC's host name.
    pub dc_host: String,
    /// highestCommittedUSN read before the last run's search.
    pub highest_usn: i64,
    /// When it was written.
    pub updated_at: DateTime<Utc>,
}

/// A stored sync run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRunRecord {
    /// Id.
    pub id: Uuid,
    /// Directory.
    pub directory: String,
    /// `full` or `incremental`.
    pub mode: String,
    /// Planned only.
    pub dry_run: bool,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: Option<DateTime<Utc>>,
    /// The report (counts, per-entry outcomes), as JSON.
    pub report: serde_json::Value,
    /// Why it failed.
    pub error: Option<String>,
}

/// One stored account as a run's partition needs it (see `keyward_identity::PartitionBuilder`):
/// which it is, its employee, its e-mail and whether it is in scope. The rest of the row is
/// read only for the batch the account falls in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountIndexEntry {
    /// The directory.
    pub directory: DirectoryName,
    /// objectGUID.
    pub object_guid: Uuid,
    /// Its employee.
    pub employee_id: EmployeeId,
    /// Its stored (normalized) e-mail.
    pub mail: Option<Email>,
    /// Since when it is out of scope.
    pub missing_since: Option<DateTime<Utc>>,
}

/// The columns of [`Store::account_index_page`]: directory, objectGUID, employee, mail, missing since.
type IndexRow = (String, Uuid, Uuid, Option<String>, Option<DateTime<Utc>>);

/// Where the next page of [`Store::account_index_page`] starts: after this account.
pub type AccountIndexAfter = Option<(DirectoryName, Uuid)>;

/// The stored accounts and employees of one batch of a run.
#[derive(Debug, Clone, Default)]
pub struct SyncBatchState {
    /// Every account linked to one of the batch's employees, missing ones included.
    pub accounts: Vec<DirectoryAccount>,
    /// The batch's employees.
    pub employees: Vec<Employee>,
}

/// The lease a sync write must still hold: checked and extended inside the write's
/// transaction, so a run that lost its lease writes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHold {
    /// The directory.
    pub directory: DirectoryName,
    /// The holder that took it.
    pub holder: String,
    /// The new expiry.
    pub until: DateTime<Utc>,
}

/// Everything one applied plan (or one batch of it) writes, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct SyncWrite {
    /// The run's lease, checked and extended first; `None` writes without a lease (tests).
    pub lease: Option<LeaseHold>,
    /// New employees, ids assigned.
    pub new_employees: Vec<Employee>,
    /// Employees whose e-mail, display name or status change.
    pub updated_employees: Vec<Employee>,
    /// Accounts to insert or overwrite.
    pub upsert_accounts: Vec<DirectoryAccount>,
    /// Accounts to mark missing since the given time.
    pub mark_missing: Vec<(DirectoryName, Uuid, DateTime<Utc>)>,
    /// Accounts to delete.
    pub remove_accounts: Vec<(DirectoryName, Uuid)>,
    /// The cursor after the run.
    pub cursor: Option<SyncCursor>,
    /// Audit records.
    pub audits: Vec<NewAuditRecord>,
    /// Invitations for new employees (queued in the same transaction).
    pub invitations: Vec<crate::NewInvitation>,
    /// Password-state writes that belong to the run: an account split off its employee is
    /// detached from the key it was on, its rotation cancelled (version-checked, so a rotation
    /// step that moved meanwhile fails the run, which the next run repeats).
    pub passwords: Vec<crate::PasswordWrite>,
}

impl Store {
    /// Every directory account, missing ones included.
    pub async fn all_accounts(&self) -> Result<Vec<DirectoryAccount>> {
        directory_account::Entity::find()
            .all(&self.db)
            .await?
            .into_iter()
            .map(crate::accounts::account_to_model)
            .collect()
    }

    /// A page of at most `limit` stored accounts, in key order, after `after`: the narrow
    /// columns a run partitions by. Pages keep a 100,000-account index read small.
    pub async fn account_index_page(
        &self,
        after: &AccountIndexAfter,
        limit: u64,
    ) -> Result<Vec<AccountIndexEntry>> {
        use directory_account::Column as C;
        let mut query = directory_account::Entity::find()
            .select_only()
            .columns([
                C::Directory,
                C::ObjectGuid,
                C::EmployeeId,
                C::Mail,
                C::MissingSince,
            ])
            .order_by_asc(C::Directory)
            .order_by_asc(C::ObjectGuid)
            .limit(limit);
        if let Some((directory, guid)) = after {
            query = query.filter(
                Condition::any()
                    .add(C::Directory.gt(directory.as_str()))
                    .add(
                        Condition::all()
                            .add(C::Directory.eq(directory.as_str()))
                            .add(C::ObjectGuid.gt(*guid)),
                    ),
            );
        }
        let rows: Vec<IndexRow> = query.into_tuple().all(&self.db).await?;
        rows.into_iter()
            .map(
                |(directory, object_guid, employee_id, mail, missing_since)| {
                    let row = format!("{directory}/{object_guid}");
                    let corrupt =
                        |e: keyward_model::Error| Error::corrupt("directory_accounts", &row, &e);
                    Ok(AccountIndexEntry {
                        directory: DirectoryName::parse(&directory).map_err(corrupt)?,
                        object_guid,
                        employee_id: EmployeeId::from_uuid(employee_id),
                        mail: mail
                            .as_deref()
                            .map(Email::parse)
                            .transpose()
                            .map_err(corrupt)?,
                        missing_since,
                    })
                },
            )
            .collect()
    }

    /// The objectGUIDs of the stored accounts of `directory` (missing ones included) whose DN
    /// is one of `dns`, exactly as the directory spells it: how a run finds the account of an
    /// entry it had to skip without a readable objectGUID.
    pub async fn account_guids_with_dns(
        &self,
        directory: &DirectoryName,
        dns: &[String],
    ) -> Result<Vec<Uuid>> {
        use directory_account::Column as C;
        let mut out = Vec::new();
        for chunk in dns.chunks(crate::ID_LIST_CHUNK) {
            let guids: Vec<Uuid> = directory_account::Entity::find()
                .select_only()
                .column(C::ObjectGuid)
                .filter(C::Directory.eq(directory.as_str()))
                .filter(C::Dn.is_in(chunk.iter().map(String::as_str)))
                .into_tuple()
                .all(&self.db)
                .await?;
            out.extend(guids);
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// A page of at most `limit` employees' ids and e-mails, in id order, after `after`.
    pub async fn employee_index_page(
        &self,
        after: Option<EmployeeId>,
        limit: u64,
    ) -> Result<Vec<(EmployeeId, Option<Email>)>> {
        let mut query = employee::Entity::find()
            .select_only()
            .columns([employee::Column::Id, employee::Column::Email])
            .order_by_asc(employee::Column::Id)
            .limit(limit);
        if let Some(id) = after {
            query = query.filter(employee::Column::Id.gt(id.as_uuid()));
        }
        let rows: Vec<(Uuid, Option<String>)> = query.into_tuple().all(&self.db).await?;
        rows.into_iter()
            .map(|(id, email)| {
                let email = email
                    .as_deref()
                    .map(Email::parse)
                    .transpose()
                    .map_err(|e| Error::corrupt("employees", &id, &e))?;
                Ok((EmployeeId::from_uuid(id), email))
            })
            .collect()
    }

    /// The stored state of one batch: the employees named and every account linked to them.
    pub async fn sync_batch_state(&self, employees: &[EmployeeId]) -> Result<SyncBatchState> {
        let mut state = SyncBatchState::default();
        for ids in employees.chunks(crate::ID_LIST_CHUNK) {
            let uuids = || ids.iter().map(EmployeeId::as_uuid);
            let accounts = directory_account::Entity::find()
                .filter(directory_account::Column::EmployeeId.is_in(uuids()))
                .all(&self.db)
                .await?;
            for row in accounts {
                state.accounts.push(crate::accounts::account_to_model(row)?);
            }
            let rows = employee::Entity::find()
                .filter(employee::Column::Id.is_in(uuids()))
                .all(&self.db)
                .await?;
            for row in &rows {
                state.employees.push(crate::employees::to_model(row)?);
            }
        }
        Ok(state)
    }

    /// How many accounts of a directory are in scope (not marked missing).
    pub async fn count_accounts_in_scope(&self, directory: &DirectoryName) -> Result<u64> {
        Ok(directory_account::Entity::find()
            .filter(directory_account::Column::Directory.eq(directory.as_str()))
            .filter(directory_account::Column::MissingSince.is_null())
            .count(&self.db)
            .await?)
    }

    /// True when an account of the directory has been missing since before `cutoff` (its
    /// grace period ran out and a run must remove it).
    pub async fn any_account_missing_since_before(
        &self,
        directory: &DirectoryName,
        cutoff: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(directory_account::Entity::find()
            .filter(directory_account::Column::Directory.eq(directory.as_str()))
            .filter(directory_account::Column::MissingSince.lt(cutoff))
            .count(&self.db)
            .await?
            > 0)
    }

    /// Every employee.
    pub async fn all_employees(&self) -> Result<Vec<Employee>> {
        employee::Entity::find()
            .order_by_asc(employee::Column::Id)
            .all(&self.db)
            .await?
            .iter()
            .map(crate::employees::to_model)
            .collect()
    }

    /// The cursor of a directory.
    pub async fn sync_cursor(&self, directory: &DirectoryName) -> Result<Option<SyncCursor>> {
        let row = sync_cursor::Entity::find_by_id(directory.as_str().to_owned())
            .one(&self.db)
            .await?;
        row.map(|r| {
            Ok(SyncCursor {
                directory: DirectoryName::parse(&r.directory)
                    .map_err(|e| Error::corrupt("sync_cursors", &r.directory, &e))?,
                invocation_id: r.invocation_id,
                dc_host: r.dc_host,
                highest_usn: r.highest_usn,
                updated_at: r.updated_at,
            })
        })
        .transpose()
    }

    /// The sync leases whose expiry has not passed: (directory, holder), by directory. A holder
    /// is `PID:UUID` of the process that took it.
    pub async fn live_sync_leases(&self, now: DateTime<Utc>) -> Result<Vec<(String, String)>> {
        Ok(sync_lease::Entity::find()
            .filter(sync_lease::Column::ExpiresAt.gt(now))
            .order_by_asc(sync_lease::Column::Directory)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|l| (l.directory, l.holder))
            .collect())
    }

    /// Takes the lease of `directory` for `holder` until `expires_at`, if it is free or expired
    /// (a crashed holder cannot keep it). Returns whether it was taken.
    pub async fn acquire_lease(
        &self,
        directory: &DirectoryName,
        holder: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        let row = sync_lease::ActiveModel {
            directory: Set(directory.as_str().to_owned()),
            holder: Set(holder.to_owned()),
            expires_at: Set(expires_at),
        };
        // Insert, or take over an expired lease; a live lease of another holder is left alone.
        let result = sync_lease::Entity::insert(row)
            .on_conflict(
                OnConflict::column(sync_lease::Column::Directory)
                    .update_columns([sync_lease::Column::Holder, sync_lease::Column::ExpiresAt])
                    .action_and_where(
                        Expr::col((sync_lease::Entity, sync_lease::Column::ExpiresAt)).lt(now),
                    )
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(result == 1)
    }

    /// Extends a lease this holder has.
    pub async fn renew_lease(
        &self,
        directory: &DirectoryName,
        holder: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        let result = sync_lease::Entity::update_many()
            .col_expr(sync_lease::Column::ExpiresAt, Expr::value(expires_at))
            .filter(sync_lease::Column::Directory.eq(directory.as_str()))
            .filter(sync_lease::Column::Holder.eq(holder))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Gives a lease back.
    pub async fn release_lease(&self, directory: &DirectoryName, holder: &str) -> Result<()> {
        sync_lease::Entity::delete_many()
            .filter(sync_lease::Column::Directory.eq(directory.as_str()))
            .filter(sync_lease::Column::Holder.eq(holder))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Records a run (insert or overwrite).
    pub async fn save_run(&self, run: &SyncRunRecord) -> Result<()> {
        let row = sync_run::ActiveModel {
            id: Set(run.id),
            directory: Set(run.directory.clone()),
            mode: Set(run.mode.clone()),
            dry_run: Set(run.dry_run),
            status: Set(run.status.clone()),
            started_at: Set(run.started_at),
            finished_at: Set(run.finished_at),
            report: Set(run.report.clone()),
            error: Set(run.error.clone()),
        };
        sync_run::Entity::insert(row)
            .on_conflict(
                OnConflict::column(sync_run::Column::Id)
                    .update_columns([
                        sync_run::Column::Status,
                        sync_run::Column::FinishedAt,
                        sync_run::Column::Report,
                        sync_run::Column::Error,
                        sync_run::Column::Mode,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Closes the runs of `directory` still marked `running` as failed at `at`, with `reason`:
    /// called by the holder of a freshly taken lease, so those runs' processes stopped without
    /// finishing (their lease expired). Returns how many it closed.
    pub async fn close_interrupted_runs(
        &self,
        directory: &DirectoryName,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<u64> {
        let result = sync_run::Entity::update_many()
            .col_expr(sync_run::Column::Status, Expr::value("failed"))
            .col_expr(sync_run::Column::FinishedAt, Expr::value(Some(at)))
            .col_expr(
                sync_run::Column::Error,
                Expr::value(Some(reason.to_owned())),
            )
            .filter(sync_run::Column::Directory.eq(directory.as_str()))
            .filter(sync_run::Column::Status.eq("running"))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }

    /// The newest runs first.
    pub async fn list_runs(&self, limit: u64) -> Result<Vec<SyncRunRecord>> {
        Ok(sync_run::Entity::find()
            .order_by_desc(sync_run::Column::StartedAt)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(run_to_model)
            .collect())
    }

    /// One run.
    pub async fn run(&self, id: Uuid) -> Result<Option<SyncRunRecord>> {
        Ok(sync_run::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(run_to_model))
    }

    /// Applies a plan's writes in one transaction.
    #[allow(clippy::too_many_lines)] // One transaction, one block per kind of write.
    pub async fn apply_sync(&self, write: &SyncWrite) -> Result<()> {
        let txn = self.begin_write().await?;
        if let Some(lease) = &write.lease {
            let held = sync_lease::Entity::update_many()
                .col_expr(sync_lease::Column::ExpiresAt, Expr::value(lease.until))
                .filter(sync_lease::Column::Directory.eq(lease.directory.as_str()))
                .filter(sync_lease::Column::Holder.eq(lease.holder.as_str()))
                .exec(&txn)
                .await?;
            if held.rows_affected != 1 {
                txn.rollback().await?;
                return Err(Error::LeaseLost {
                    directory: lease.directory.as_str().to_owned(),
                });
            }
        }
        for chunk in write.new_employees.chunks(crate::INSERT_BATCH) {
            let rows = chunk.iter().map(|e| employee::ActiveModel {
                id: Set(e.id.as_uuid()),
                email: Set(e.email.as_ref().map(|m| m.as_str().to_owned())),
                display_name: Set(e.display_name.as_str().to_owned()),
                status: Set(e.status.as_str().to_owned()),
                origin: Set(e.origin.as_str().to_owned()),
                created_at: Set(e.created_at),
                updated_at: Set(e.updated_at),
            });
            employee::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await
                .map_err(|err| Error::from_write(err, "employee", "(new employee of a sync)"))?;
        }
        for e in &write.updated_employees {
            employee::Entity::update_many()
                .col_expr(
                    employee::Column::Email,
                    Expr::value(e.email.as_ref().map(|m| m.as_str().to_owned())),
                )
                .col_expr(
                    employee::Column::DisplayName,
                    Expr::value(e.display_name.as_str()),
                )
                .col_expr(employee::Column::Status, Expr::value(e.status.as_str()))
                .col_expr(employee::Column::UpdatedAt, Expr::value(e.updated_at))
                .filter(employee::Column::Id.eq(e.id.as_uuid()))
                .exec(&txn)
                .await
                .map_err(|err| {
                    Error::from_write(
                        err,
                        "employee with e-mail",
                        e.email.as_ref().map_or("", |m| m.as_str()),
                    )
                })?;
        }
        for chunk in write.upsert_accounts.chunks(crate::INSERT_BATCH) {
            let rows = chunk.iter().map(|a| directory_account::ActiveModel {
                directory: Set(a.directory.as_str().to_owned()),
                object_guid: Set(a.object_guid),
                employee_id: Set(a.employee_id.as_uuid()),
                dn: Set(a.dn.clone()),
                sam_account_name: Set(a.sam_account_name.clone()),
                user_principal_name: Set(a.user_principal_name.clone()),
                mail: Set(a.mail.as_ref().map(|m| m.as_str().to_owned())),
                display_name: Set(a.display_name.clone()),
                enabled: Set(a.enabled),
                in_rotation_group: Set(a.in_rotation_group),
                usn_changed: Set(a.usn_changed),
                last_seen_at: Set(a.last_seen_at),
                missing_since: Set(a.missing_since),
            });
            directory_account::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([
                        directory_account::Column::Directory,
                        directory_account::Column::ObjectGuid,
                    ])
                    .update_columns([
                        directory_account::Column::EmployeeId,
                        directory_account::Column::Dn,
                        directory_account::Column::SamAccountName,
                        directory_account::Column::UserPrincipalName,
                        directory_account::Column::Mail,
                        directory_account::Column::DisplayName,
                        directory_account::Column::Enabled,
                        directory_account::Column::InRotationGroup,
                        directory_account::Column::UsnChanged,
                        directory_account::Column::LastSeenAt,
                        directory_account::Column::MissingSince,
                    ])
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        // One statement per directory, time and chunk of objectGUIDs, not one per account.
        let mut missing: std::collections::BTreeMap<(&str, DateTime<Utc>), Vec<Uuid>> =
            std::collections::BTreeMap::new();
        for (directory, guid, since) in &write.mark_missing {
            missing
                .entry((directory.as_str(), *since))
                .or_default()
                .push(*guid);
        }
        for ((directory, since), guids) in missing {
            for chunk in guids.chunks(crate::ID_LIST_CHUNK) {
                directory_account::Entity::update_many()
                    .col_expr(
                        directory_account::Column::MissingSince,
                        Expr::value(Some(since)),
                    )
                    .filter(directory_account::Column::Directory.eq(directory))
                    .filter(directory_account::Column::ObjectGuid.is_in(chunk.iter().copied()))
                    .exec(&txn)
                    .await?;
            }
        }
        let mut removed: std::collections::BTreeMap<&str, Vec<Uuid>> =
            std::collections::BTreeMap::new();
        for (directory, guid) in &write.remove_accounts {
            removed.entry(directory.as_str()).or_default().push(*guid);
        }
        for (directory, guids) in removed {
            for chunk in guids.chunks(crate::ID_LIST_CHUNK) {
                directory_account::Entity::delete_many()
                    .filter(directory_account::Column::Directory.eq(directory))
                    .filter(directory_account::Column::ObjectGuid.is_in(chunk.iter().copied()))
                    .exec(&txn)
                    .await?;
            }
        }
        if let Some(cursor) = &write.cursor {
            let row = sync_cursor::ActiveModel {
                directory: Set(cursor.directory.as_str().to_owned()),
                invocation_id: Set(cursor.invocation_id.clone()),
                dc_host: Set(cursor.dc_host.clone()),
                highest_usn: Set(cursor.highest_usn),
                updated_at: Set(cursor.updated_at),
            };
            sync_cursor::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(sync_cursor::Column::Directory)
                        .update_columns([
                            sync_cursor::Column::InvocationId,
                            sync_cursor::Column::DcHost,
                            sync_cursor::Column::HighestUsn,
                            sync_cursor::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        audit::append_many(&txn, &write.audits).await?;
        crate::invitations::insert_invitations(
            &txn,
            &write.invitations,
            write.audits.first().map_or_else(Utc::now, |a| a.at),
        )
        .await?;
        for password in &write.passwords {
            crate::passwords::save_on(&txn, password).await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

fn run_to_model(r: sync_run::Model) -> SyncRunRecord {
    SyncRunRecord {
        id: r.id,
        directory: r.directory,
        mode: r.mode,
        dry_run: r.dry_run,
        status: r.status,
        started_at: r.started_at,
        finished_at: r.finished_at,
        report: r.report,
        error: r.error,
    }
}
