//! The password state of each domain account that lives on a key (docs/product.md §3).
//!
//! One row per account holds the committed version with its sealed value and at most one
//! rotation in flight. The service computes each next state; the store writes it
//! version-checked (`row_version`) together with its audit records and notification, so two
//! processes can never both advance one rotation, and a crash leaves either the old or the new
//! state, never half of one. Sealed values are opaque text here: the store never sees a
//! password. The state itself is `keyward_rotation`'s [`PasswordState`]; a row that does not
//! read as one (an unknown state or method, a rotation in flight with a column missing) is
//! [`Error::Corrupt`], never a default.

use chrono::{DateTime, Utc};
use keyward_model::{DomainController, NewAuditRecord};
use keyward_rotation::{LastCommit, Method, PasswordState, PendingRotation, RotationState};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::entity::account_password;
use crate::{Error, Result, Store, audit};

/// A stored account password row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPassword {
    /// The directory's name.
    pub directory: String,
    /// The account's objectGUID.
    pub object_guid: Uuid,
    /// Its state.
    pub state: PasswordState,
    /// The optimistic version of the row.
    pub row_version: i64,
}

/// One version-checked write of an account's password state.
#[derive(Debug, Clone)]
pub struct PasswordWrite {
    /// The directory's name.
    pub directory: String,
    /// The account's objectGUID.
    pub object_guid: Uuid,
    /// The row version the state was computed from; `None` when the row must not exist yet.
    pub expected_row_version: Option<i64>,
    /// The new state.
    pub state: PasswordState,
    /// Audit records written with it.
    pub audit: Vec<NewAuditRecord>,
    /// A notification queued with it.
    pub notify: Option<crate::NewMessage>,
    /// When.
    pub now: DateTime<Utc>,
}

impl Store {
    /// The password state of one account.
    pub async fn account_password(
        &self,
        directory: &str,
        object_guid: Uuid,
    ) -> Result<Option<AccountPassword>> {
        let row = account_password::Entity::find_by_id((directory.to_owned(), object_guid))
            .one(&self.db)
            .await?;
        row.map(AccountPassword::try_from).transpose()
    }

    /// The password states of the accounts a key holds, or of every account.
    pub async fn account_passwords(
        &self,
        key_serial: Option<&str>,
    ) -> Result<Vec<AccountPassword>> {
        let mut query = account_password::Entity::find()
            .order_by_asc(account_password::Column::Directory)
            .order_by_asc(account_password::Column::ObjectGuid);
        if let Some(serial) = key_serial {
            query = query.filter(account_password::Column::KeySerial.eq(serial));
        }
        query
            .all(&self.db)
            .await?
            .into_iter()
            .map(AccountPassword::try_from)
            .collect()
    }

    /// Stores one write; [`Error::Stale`] when the row changed since it was read.
    pub async fn save_account_password(&self, write: &PasswordWrite) -> Result<AccountPassword> {
        let txn = self.begin_write().await?;
        save_on(&txn, write).await?;
        let row =
            account_password::Entity::find_by_id((write.directory.clone(), write.object_guid))
                .one(&txn)
                .await?
                .ok_or_else(|| {
                    Error::corrupt(
                        "account_passwords",
                        &row_key(&write.directory, write.object_guid),
                        &"row vanished in its transaction",
                    )
                })?;
        txn.commit().await?;
        AccountPassword::try_from(row)
    }

    /// Claims up to `limit` rotations whose directory step is due, for `until`, except the
    /// accounts in `skip` (those a worker already tried in this pass): the claim keeps other
    /// workers off them; a claim of a crashed worker expires.
    pub async fn claim_directory_steps(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u64,
        skip: &[(String, Uuid)],
    ) -> Result<Vec<AccountPassword>> {
        let mut query = account_password::Entity::find();
        for (directory, object_guid) in skip {
            query = query.filter(
                sea_orm::Condition::any()
                    .add(account_password::Column::Directory.ne(directory.clone()))
                    .add(account_password::Column::ObjectGuid.ne(*object_guid)),
            );
        }
        let due = query
            .filter(account_password::Column::State.eq(RotationState::AwaitingDirectory.as_str()))
            .filter(account_password::Column::NextAttemptAt.lte(now))
            .filter(
                sea_orm::Condition::any()
                    .add(account_password::Column::ClaimedUntil.is_null())
                    .add(account_password::Column::ClaimedUntil.lt(now)),
            )
            .order_by_asc(account_password::Column::NextAttemptAt)
            .limit(limit)
            .all(&self.db)
            .await?;
        let mut claimed = Vec::with_capacity(due.len());
        for row in due {
            let affected = account_password::Entity::update_many()
                .col_expr(
                    account_password::Column::ClaimedUntil,
                    Expr::value(Some(until)),
                )
                .col_expr(
                    account_password::Column::RowVersion,
                    Expr::value(row.row_version + 1),
                )
                .filter(account_password::Column::Directory.eq(row.directory.clone()))
                .filter(account_password::Column::ObjectGuid.eq(row.object_guid))
                .filter(account_password::Column::RowVersion.eq(row.row_version))
                .exec(&self.db)
                .await?
                .rows_affected;
            if affected == 1 {
                let mut model = AccountPassword::try_from(row)?;
                model.row_version += 1;
                model.state.claimed_until = Some(until);
                claimed.push(model);
            }
        }
        Ok(claimed)
    }
}

/// Applies one write on `db` (a transaction of the caller).
pub(crate) async fn save_on(db: &impl ConnectionTrait, write: &PasswordWrite) -> Result<()> {
    match write.expected_row_version {
        None => insert_row(db, write).await?,
        Some(expected) => update_row(db, write, expected).await?,
    }
    audit::append_many(db, &write.audit).await?;
    if let Some(message) = &write.notify {
        crate::outbox::insert_message(db, message, write.now).await?;
    }
    Ok(())
}

fn stale(write: &PasswordWrite) -> Error {
    Error::Stale {
        what: "account password",
        key: row_key(&write.directory, write.object_guid),
    }
}

/// How an error names a row: `directory/objectGUID`.
fn row_key(directory: &str, object_guid: Uuid) -> String {
    format!("{directory}/{object_guid}")
}

fn attempts(state: &PasswordState) -> i32 {
    i32::try_from(state.attempts).unwrap_or(i32::MAX)
}

/// The first write of an account's row; a row that exists already means a concurrent writer.
async fn insert_row(db: &impl ConnectionTrait, write: &PasswordWrite) -> Result<()> {
    let s = &write.state;
    let pending = s.pending.as_ref();
    account_password::ActiveModel {
        directory: Set(write.directory.clone()),
        object_guid: Set(write.object_guid),
        key_serial: Set(s.key_serial.clone()),
        version: Set(s.version),
        sealed_current: Set(s.sealed_current.clone()),
        committed_at: Set(s.committed_at),
        state: Set(s.state.as_str().to_owned()),
        pending_version: Set(pending.map(|p| p.version)),
        sealed_pending: Set(pending.map(|p| p.sealed.clone())),
        method: Set(pending.map(|p| p.method.as_str().to_owned())),
        reason: Set(pending.map(|p| p.reason.clone())),
        requested_by: Set(pending.map(|p| p.requested_by.clone())),
        requested_at: Set(pending.map(|p| p.requested_at)),
        acknowledged_at: Set(pending.and_then(|p| p.acknowledged_at)),
        attempts: Set(attempts(s)),
        next_attempt_at: Set(s.next_attempt_at),
        claimed_until: Set(s.claimed_until),
        last_error: Set(s.last_error.clone()),
        row_version: Set(1),
        pinned_url: Set(pending
            .and_then(|p| p.controller.as_ref())
            .map(|c| c.url.clone())),
        pinned_host: Set(pending
            .and_then(|p| p.controller.as_ref())
            .and_then(|c| c.host.clone())),
        last_commit_url: Set(s.last_commit.as_ref().map(|l| l.controller.url.clone())),
        last_commit_host: Set(s
            .last_commit
            .as_ref()
            .and_then(|l| l.controller.host.clone())),
        last_commit_password_version: Set(s
            .last_commit
            .as_ref()
            .map(|l| i64::from(l.password_version))),
    }
    .insert(db)
    .await
    .map_err(|e| match Error::from_write(e, "account password", "") {
        Error::Conflict { .. } => stale(write),
        other => other,
    })?;
    Ok(())
}

/// Replaces every column of the row if it still has `expected` as its version.
async fn update_row(db: &impl ConnectionTrait, write: &PasswordWrite, expected: i64) -> Result<()> {
    use account_password::Column as C;
    let s = &write.state;
    let pending = s.pending.as_ref();
    let controller = pending.and_then(|p| p.controller.as_ref());
    let last_commit = s.last_commit.as_ref();
    let affected = account_password::Entity::update_many()
        .col_expr(C::KeySerial, Expr::value(s.key_serial.clone()))
        .col_expr(C::Version, Expr::value(s.version))
        .col_expr(C::SealedCurrent, Expr::value(s.sealed_current.clone()))
        .col_expr(C::CommittedAt, Expr::value(s.committed_at))
        .col_expr(C::State, Expr::value(s.state.as_str()))
        .col_expr(C::PendingVersion, Expr::value(pending.map(|p| p.version)))
        .col_expr(
            C::SealedPending,
            Expr::value(pending.map(|p| p.sealed.clone())),
        )
        .col_expr(
            C::Method,
            Expr::value(pending.map(|p| p.method.as_str().to_owned())),
        )
        .col_expr(C::Reason, Expr::value(pending.map(|p| p.reason.clone())))
        .col_expr(
            C::RequestedBy,
            Expr::value(pending.map(|p| p.requested_by.clone())),
        )
        .col_expr(C::RequestedAt, Expr::value(pending.map(|p| p.requested_at)))
        .col_expr(
            C::AcknowledgedAt,
            Expr::value(pending.and_then(|p| p.acknowledged_at)),
        )
        .col_expr(C::Attempts, Expr::value(attempts(s)))
        .col_expr(C::NextAttemptAt, Expr::value(s.next_attempt_at))
        .col_expr(C::ClaimedUntil, Expr::value(s.claimed_until))
        .col_expr(C::LastError, Expr::value(s.last_error.clone()))
        .col_expr(C::PinnedUrl, Expr::value(controller.map(|c| c.url.clone())))
        .col_expr(
            C::PinnedHost,
            Expr::value(controller.and_then(|c| c.host.clone())),
        )
        .col_expr(
            C::LastCommitUrl,
            Expr::value(last_commit.map(|l| l.controller.url.clone())),
        )
        .col_expr(
            C::LastCommitHost,
            Expr::value(last_commit.and_then(|l| l.controller.host.clone())),
        )
        .col_expr(
            C::LastCommitPasswordVersion,
            Expr::value(last_commit.map(|l| i64::from(l.password_version))),
        )
        .col_expr(C::RowVersion, Expr::value(expected + 1))
        .filter(C::Directory.eq(write.directory.clone()))
        .filter(C::ObjectGuid.eq(write.object_guid))
        .filter(C::RowVersion.eq(expected))
        .exec(db)
        .await?
        .rows_affected;
    if affected == 1 {
        Ok(())
    } else {
        Err(stale(write))
    }
}

impl TryFrom<account_password::Model> for AccountPassword {
    type Error = Error;

    /// Reads a row; every column that does not hold what keyward wrote is [`Error::Corrupt`]
    /// naming the row, never a default.
    fn try_from(row: account_password::Model) -> Result<Self> {
        let key = row_key(&row.directory, row.object_guid);
        let corrupt = |detail: String| Error::corrupt("account_passwords", &key, &detail);
        let state: RotationState = row
            .state
            .parse()
            .map_err(|e: keyward_rotation::Error| corrupt(e.to_string()))?;
        let pending = match (row.pending_version, row.sealed_pending) {
            (Some(version), Some(sealed)) => {
                let missing =
                    |column: &str| corrupt(format!("rotation in flight without {column}"));
                Some(PendingRotation {
                    version,
                    sealed,
                    method: row
                        .method
                        .as_deref()
                        .ok_or_else(|| missing("method"))?
                        .parse::<Method>()
                        .map_err(|e| corrupt(e.to_string()))?,
                    reason: row.reason.ok_or_else(|| missing("reason"))?,
                    requested_by: row.requested_by.ok_or_else(|| missing("requested_by"))?,
                    requested_at: row.requested_at.ok_or_else(|| missing("requested_at"))?,
                    acknowledged_at: row.acknowledged_at,
                    controller: match (row.pinned_url, row.pinned_host) {
                        (Some(url), host) => Some(DomainController { url, host }),
                        (None, None) => None,
                        (None, Some(_)) => {
                            return Err(corrupt("pinned_host without pinned_url".into()));
                        }
                    },
                })
            }
            (None, None) if row.pinned_url.is_some() || row.pinned_host.is_some() => {
                return Err(corrupt(
                    "a pinned domain controller without a rotation in flight".into(),
                ));
            }
            (None, None) => None,
            (version, _) => {
                return Err(corrupt(format!(
                    "pending_version {version:?} without sealed_pending, or the other way round"
                )));
            }
        };
        if pending.is_some() == (state == RotationState::Idle) {
            return Err(corrupt(format!(
                "state {state} with {} rotation in flight",
                if pending.is_some() { "a" } else { "no" }
            )));
        }
        let attempts = u32::try_from(row.attempts)
            .map_err(|_| corrupt(format!("attempts {} is negative", row.attempts)))?;
        let last_commit = match (
            row.last_commit_url,
            row.last_commit_host,
            row.last_commit_password_version,
        ) {
            (None, None, None) => None,
            (Some(url), host, Some(version)) => Some(LastCommit {
                controller: DomainController { url, host },
                password_version: u32::try_from(version).map_err(|_| {
                    corrupt(format!(
                        "last_commit_password_version {version} is out of range"
                    ))
                })?,
            }),
            _ => {
                return Err(corrupt(
                    "last_commit_url, last_commit_host and last_commit_password_version do not \
                     go together"
                        .into(),
                ));
            }
        };
        Ok(AccountPassword {
            directory: row.directory,
            object_guid: row.object_guid,
            state: PasswordState {
                key_serial: row.key_serial,
                version: row.version,
                sealed_current: row.sealed_current,
                committed_at: row.committed_at,
                state,
                pending,
                attempts,
                next_attempt_at: row.next_attempt_at,
                claimed_until: row.claimed_until,
                last_error: row.last_error,
                last_commit,
            },
            row_version: row.row_version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> account_password::Model {
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        account_password::Model {
            directory: "corp1".into(),
            object_guid: Uuid::nil(),
            key_serial: Some("HK-1".into()),
            version: 3,
            sealed_current: Some("sealed-3".into()),
            committed_at: Some(at),
            state: "awaiting_key".into(),
            pending_version: Some(4),
            sealed_pending: Some("sealed-4".into()),
            method: Some("change".into()),
            reason: Some("user_change".into()),
            requested_by: Some("workstation:x".into()),
            requested_at: Some(at),
            acknowledged_at: None,
            attempts: 2,
            next_attempt_at: None,
            claimed_until: None,
            last_error: None,
            row_version: 7,
            pinned_url: None,
            pinned_host: None,
            last_commit_url: None,
            last_commit_host: None,
            last_commit_password_version: None,
        }
    }

    /// The message of the error a corrupt row gives; it must name the table and the row.
    fn refusal(row: account_password::Model) -> String {
        let err = AccountPassword::try_from(row).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains("account_passwords row corp1/00000000-0000-0000-0000-000000000000"),
            "{message}"
        );
        message
    }

    #[test]
    fn a_row_reads_as_its_state() {
        let read = AccountPassword::try_from(row()).unwrap();
        assert_eq!(read.row_version, 7);
        assert_eq!(read.state.state, RotationState::AwaitingKey);
        assert_eq!(read.state.attempts, 2);
        let pending = read.state.pending.unwrap();
        assert_eq!((pending.version, pending.method), (4, Method::Change));
        assert_eq!(pending.reason, "user_change");

        let idle = account_password::Model {
            state: "idle".into(),
            pending_version: None,
            sealed_pending: None,
            method: None,
            reason: None,
            requested_by: None,
            requested_at: None,
            ..row()
        };
        let read = AccountPassword::try_from(idle).unwrap();
        assert_eq!(
            (read.state.state, read.state.pending),
            (RotationState::Idle, None)
        );
    }

    #[test]
    fn an_unknown_method_or_state_is_corrupt_not_a_default() {
        let message = refusal(account_password::Model {
            method: Some("rest".into()),
            ..row()
        });
        assert!(
            message.contains("invalid rotation method \"rest\""),
            "{message}"
        );
        let message = refusal(account_password::Model {
            state: "waiting".into(),
            ..row()
        });
        assert!(
            message.contains("invalid rotation state \"waiting\""),
            "{message}"
        );
    }

    #[test]
    fn a_rotation_in_flight_with_a_column_missing_is_corrupt() {
        for (column, broken) in [
            (
                "method",
                account_password::Model {
                    method: None,
                    ..row()
                },
            ),
            (
                "reason",
                account_password::Model {
                    reason: None,
                    ..row()
                },
            ),
            (
                "requested_by",
                account_password::Model {
                    requested_by: None,
                    ..row()
                },
            ),
            (
                "requested_at",
                account_password::Model {
                    requested_at: None,
                    ..row()
                },
            ),
        ] {
            let message = refusal(broken);
            assert!(message.contains(&format!("without {column}")), "{message}");
        }
        refusal(account_password::Model {
            sealed_pending: None,
            ..row()
        });
    }

    #[test]
    fn a_pinned_controller_reads_back_and_only_with_a_rotation_in_flight() {
        let pinned = AccountPassword::try_from(account_password::Model {
            pinned_url: Some("ldaps://dc1".into()),
            pinned_host: Some("dc1.corp1.test".into()),
            ..row()
        })
        .unwrap();
        assert_eq!(
            pinned.state.pending.unwrap().controller,
            Some(DomainController {
                url: "ldaps://dc1".into(),
                host: Some("dc1.corp1.test".into())
            })
        );
        let message = refusal(account_password::Model {
            pinned_url: None,
            pinned_host: Some("dc1.corp1.test".into()),
            ..row()
        });
        assert!(
            message.contains("pinned_host without pinned_url"),
            "{message}"
        );
        let message = refusal(account_password::Model {
            state: "idle".into(),
            pending_version: None,
            sealed_pending: None,
            method: None,
            reason: None,
            requested_by: None,
            requested_at: None,
            pinned_url: Some("ldaps://dc1".into()),
            ..row()
        });
        assert!(
            message.contains("without a rotation in flight"),
            "{message}"
        );
    }

    #[test]
    fn the_last_commit_reads_back_only_whole() {
        let read = AccountPassword::try_from(account_password::Model {
            last_commit_url: Some("ldaps://dc1".into()),
            last_commit_host: Some("dc1.corp1.test".into()),
            last_commit_password_version: Some(12),
            ..row()
        })
        .unwrap();
        assert_eq!(
            read.state.last_commit,
            Some(LastCommit {
                controller: DomainController {
                    url: "ldaps://dc1".into(),
                    host: Some("dc1.corp1.test".into()),
                },
                password_version: 12,
            })
        );
        for (url, host, version) in [
            (Some("ldaps://dc1"), None, None),
            (None, Some("dc1.corp1.test"), Some(12)),
            (None, None, Some(12)),
        ] {
            let message = refusal(account_password::Model {
                last_commit_url: url.map(Into::into),
                last_commit_host: host.map(Into::into),
                last_commit_password_version: version,
                ..row()
            });
            assert!(message.contains("do not go together"), "{message}");
        }
        let message = refusal(account_password::Model {
            last_commit_url: Some("ldaps://dc1".into()),
            last_commit_password_version: Some(-1),
            ..row()
        });
        assert!(message.contains("out of range"), "{message}");
    }

    #[test]
    fn state_and_rotation_in_flight_must_agree_and_attempts_count_up() {
        refusal(account_password::Model {
            state: "idle".into(),
            ..row()
        });
        refusal(account_password::Model {
            pending_version: None,
            sealed_pending: None,
            ..row()
        });
        let message = refusal(account_password::Model {
            attempts: -1,
            ..row()
        });
        assert!(message.contains("attempts -1"), "{message}");
    }
}
