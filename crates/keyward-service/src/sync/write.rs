//! Stage 5: turn a (batch's) plan into the rows one transaction writes, with an audit record
//! for every change. [`write_of`] is pure; [`detach_split_accounts`] reads the password state
//! of the accounts that split off their employee.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use keyward_identity::{AccountChange, AccountKey, EmployeeChange, EmployeeRef, Plan};
use keyward_model::{
    DirectoryAccount, DirectoryName, DisplayName, Employee, EmployeeId, EmployeeOrigin,
    EmployeeStatus, NewAuditRecord,
};
use keyward_store::{NewInvitation, PasswordWrite, Store, SyncWrite};
use serde_json::json;
use uuid::Uuid;

use crate::{Actor, Result};

/// What every write of a run shares.
#[derive(Debug, Clone, Copy)]
pub(super) struct WriteContext<'a> {
    pub directory: &'a DirectoryName,
    pub actor: &'a Actor,
    pub now: DateTime<Utc>,
    pub run_id: Uuid,
    /// New active employees of this directory get an invitation e-mail, valid this long.
    pub invitations: Option<Duration>,
}

impl WriteContext<'_> {
    fn audit(&self, action: &str, subject: String, detail: serde_json::Value) -> NewAuditRecord {
        NewAuditRecord {
            actor: self.actor.to_string(),
            action: action.to_owned(),
            subject,
            detail,
            at: self.now,
        }
    }
}

/// The write of one plan: new employees get ids, accounts get their employee's id, and every
/// change has its audit record. `employees` and `stored` are the stored state the plan was made
/// from. The cursor, the lease and the password writes are the caller's.
pub(super) fn write_of(
    plan: Plan,
    employees: &[Employee],
    stored: &[DirectoryAccount],
    ctx: &WriteContext<'_>,
) -> SyncWrite {
    let mut write = SyncWrite::default();
    let ids = write_employees(&plan, employees, ctx, &mut write);
    let resolve = |r: &EmployeeRef| match r {
        EmployeeRef::Existing(id) => Some(*id),
        EmployeeRef::New(_) => ids.get(r).copied(),
    };
    for split in &plan.splits {
        write.audits.push(ctx.audit(
            "employee.split",
            format!("employee:{}", split.from),
            json!({
                "to": resolve(&split.to),
                "accounts": split.accounts.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "reason": split.reason,
                "directory": ctx.directory.as_str(),
                "run": ctx.run_id,
            }),
        ));
    }
    let stored_by_key: HashMap<(&DirectoryName, Uuid), &DirectoryAccount> = stored
        .iter()
        .map(|a| ((&a.directory, a.object_guid), a))
        .collect();
    // The plan is consumed: its accounts move into the write instead of being copied.
    for change in plan.accounts {
        match change {
            AccountChange::Create { account, employee }
            | AccountChange::Update {
                account, employee, ..
            } => {
                let Some(id) = resolve(&employee) else {
                    continue;
                };
                let mut a = account;
                a.employee_id = id;
                // An account of another directory only moves; it keeps what was stored.
                if &a.directory != ctx.directory
                    && let Some(before) = stored_by_key.get(&(&a.directory, a.object_guid))
                {
                    let mut kept = (*before).clone();
                    kept.employee_id = id;
                    a = kept;
                }
                write.upsert_accounts.push(a);
            }
            AccountChange::MarkMissing { key, dn } => {
                write
                    .mark_missing
                    .push((key.directory.clone(), key.object_guid, ctx.now));
                write.audits.push(ctx.audit(
                    "account.missing",
                    format!("account:{key}"),
                    json!({ "dn": dn, "run": ctx.run_id }),
                ));
            }
            AccountChange::Remove { key, dn } => {
                write
                    .remove_accounts
                    .push((key.directory.clone(), key.object_guid));
                write.audits.push(ctx.audit(
                    "account.removed",
                    format!("account:{key}"),
                    json!({ "dn": dn, "run": ctx.run_id }),
                ));
            }
        }
    }
    write
}

/// The employee changes of a plan; returns the ids given to new employees.
fn write_employees(
    plan: &Plan,
    employees: &[Employee],
    ctx: &WriteContext<'_>,
    write: &mut SyncWrite,
) -> HashMap<EmployeeRef, EmployeeId> {
    let mut ids = HashMap::new();
    let by_id: HashMap<EmployeeId, &Employee> = employees.iter().map(|e| (e.id, e)).collect();
    let directory = ctx.directory.as_str();
    for change in &plan.employees {
        match change {
            EmployeeChange::Create {
                employee,
                email,
                display_name,
                status,
            } => {
                let id = EmployeeId::new_v7();
                ids.insert(employee.clone(), id);
                let display_name = DisplayName::parse(display_name)
                    .or_else(|_| DisplayName::parse(&id.to_string()))
                    .or_else(|_| DisplayName::parse("unknown"));
                let Ok(display_name) = display_name else {
                    continue; // "unknown" always parses
                };
                write.new_employees.push(Employee {
                    id,
                    email: email.clone(),
                    display_name,
                    status: *status,
                    origin: EmployeeOrigin::Directory,
                    created_at: ctx.now,
                    updated_at: ctx.now,
                });
                if let (Some(ttl), Some(address), EmployeeStatus::Active) =
                    (ctx.invitations, email.as_ref(), status)
                {
                    write.invitations.push(NewInvitation {
                        employee_id: id,
                        recipient: address.as_str().to_owned(),
                        expires_at: ctx.now + ttl,
                    });
                }
                write.audits.push(ctx.audit(
                    "employee.created",
                    format!("employee:{id}"),
                    json!({ "origin": "directory", "directory": directory, "run": ctx.run_id, "email": email }),
                ));
            }
            EmployeeChange::Update {
                id,
                email,
                display_name,
                status,
                reasons,
            } => {
                let Some(before) = by_id.get(id) else {
                    continue;
                };
                let mut after = (*before).clone();
                after.email.clone_from(email);
                if let Ok(n) = DisplayName::parse(display_name) {
                    after.display_name = n;
                }
                after.status = *status;
                after.updated_at = ctx.now;
                write.updated_employees.push(after);
                write.audits.push(ctx.audit(
                    "employee.updated",
                    format!("employee:{id}"),
                    json!({ "changed": reasons, "directory": directory, "run": ctx.run_id, "status": status }),
                ));
            }
            EmployeeChange::Link { id, account } => {
                write.audits.push(ctx.audit(
                    "employee.linked",
                    format!("employee:{id}"),
                    json!({ "account": account.to_string(), "run": ctx.run_id }),
                ));
            }
        }
    }
    ids
}

/// The password writes of accounts split off their employee: each leaves the key it was on
/// (that key belongs to the employee it left) and its rotation in flight is cancelled, so no
/// candidate meant for the old key reaches anyone. An account with no key and nothing in
/// flight needs nothing.
pub(super) async fn detach_split_accounts(
    store: &Store,
    plan: &Plan,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<PasswordWrite>> {
    let accounts: Vec<&AccountKey> = plan.splits.iter().flat_map(|s| &s.accounts).collect();
    let mut writes = Vec::new();
    for key in accounts {
        let Some(row) = store
            .account_password(key.directory.as_str(), key.object_guid)
            .await?
        else {
            continue;
        };
        if row.state.key_serial.is_none() && row.state.pending.is_none() {
            continue;
        }
        let detached = crate::passwords::state::detached(
            &row.state,
            "cancelled: the account split off its employee (its e-mail changed)",
        );
        writes.push(PasswordWrite {
            directory: row.directory.clone(),
            object_guid: row.object_guid,
            expected_row_version: Some(row.row_version),
            audit: vec![NewAuditRecord {
                actor: actor.to_string(),
                action: "password.detached_from_key".into(),
                subject: crate::passwords::account_subject(&row.directory, row.object_guid),
                detail: json!({
                    "key": row.state.key_serial,
                    "rotation_cancelled": row.state.pending.is_some() && detached.pending.is_none(),
                    "why": "split",
                }),
                at: now,
            }],
            state: detached,
            notify: None,
            now,
        });
    }
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_model::Email;

    fn corp(n: &str) -> DirectoryName {
        DirectoryName::parse(n).unwrap()
    }

    fn account(directory: &str, n: u128, employee: EmployeeId) -> DirectoryAccount {
        DirectoryAccount {
            directory: corp(directory),
            object_guid: Uuid::from_u128(n),
            employee_id: employee,
            dn: format!("CN=u{n},DC={directory}"),
            sam_account_name: Some(format!("u{n}")),
            user_principal_name: None,
            mail: Email::parse("ada@example.com").ok(),
            display_name: Some("Ada".into()),
            enabled: true,
            in_rotation_group: false,
            usn_changed: 1,
            last_seen_at: DateTime::UNIX_EPOCH,
            missing_since: None,
        }
    }

    fn ctx<'a>(directory: &'a DirectoryName, actor: &'a Actor, invite: bool) -> WriteContext<'a> {
        WriteContext {
            directory,
            actor,
            now: DateTime::UNIX_EPOCH + Duration::days(1),
            run_id: Uuid::from_u128(77),
            invitations: invite.then(|| Duration::hours(72)),
        }
    }

    #[test]
    fn a_new_employee_gets_an_id_its_accounts_and_an_invitation() {
        let dir = corp("corp1");
        let new = EmployeeRef::New("email:ada@example.com".into());
        let placeholder = EmployeeId::from_uuid(Uuid::nil());
        let plan = Plan {
            employees: vec![EmployeeChange::Create {
                employee: new.clone(),
                email: Email::parse("ada@example.com").ok(),
                display_name: "Ada".into(),
                status: EmployeeStatus::Active,
            }],
            accounts: vec![AccountChange::Create {
                account: account("corp1", 1, placeholder),
                employee: new,
            }],
            ..Plan::default()
        };
        let w = write_of(plan.clone(), &[], &[], &ctx(&dir, &Actor::System, true));
        assert_eq!(w.new_employees.len(), 1);
        let id = w.new_employees[0].id;
        assert_eq!(w.upsert_accounts[0].employee_id, id);
        assert_eq!(w.invitations.len(), 1);
        assert_eq!(w.invitations[0].employee_id, id);
        assert_eq!(w.audits[0].action, "employee.created");
        assert_eq!(w.audits[0].subject, format!("employee:{id}"));
        let quiet = write_of(plan, &[], &[], &ctx(&dir, &Actor::System, false));
        assert!(quiet.invitations.is_empty(), "invitations off: none queued");
    }

    #[test]
    fn another_directorys_account_only_moves_and_keeps_what_was_stored() {
        let dir = corp("corp1");
        let (old, to) = (
            EmployeeId::from_uuid(Uuid::from_u128(1)),
            EmployeeId::from_uuid(Uuid::from_u128(2)),
        );
        let before = account("corp2", 9, old);
        let mut as_planned = before.clone();
        as_planned.dn = "CN=changed".into();
        let plan = Plan {
            accounts: vec![AccountChange::Update {
                account: as_planned,
                employee: EmployeeRef::Existing(to),
                reasons: vec!["employee".into()],
            }],
            ..Plan::default()
        };
        let w = write_of(
            plan,
            &[],
            std::slice::from_ref(&before),
            &ctx(&dir, &Actor::System, false),
        );
        assert_eq!(w.upsert_accounts.len(), 1);
        assert_eq!(w.upsert_accounts[0].employee_id, to);
        assert_eq!(
            w.upsert_accounts[0].dn, before.dn,
            "only the employee changes"
        );
    }

    #[test]
    fn leaving_and_expired_accounts_are_marked_and_removed_with_audits() {
        let dir = corp("corp1");
        let key = |n| AccountKey {
            directory: corp("corp1"),
            object_guid: Uuid::from_u128(n),
        };
        let plan = Plan {
            accounts: vec![
                AccountChange::MarkMissing {
                    key: key(1),
                    dn: "CN=u1".into(),
                },
                AccountChange::Remove {
                    key: key(2),
                    dn: "CN=u2".into(),
                },
            ],
            ..Plan::default()
        };
        let c = ctx(&dir, &Actor::System, false);
        let w = write_of(plan, &[], &[], &c);
        assert_eq!(
            w.mark_missing,
            vec![(corp("corp1"), Uuid::from_u128(1), c.now)]
        );
        assert_eq!(w.remove_accounts, vec![(corp("corp1"), Uuid::from_u128(2))]);
        let actions: Vec<&str> = w.audits.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(actions, ["account.missing", "account.removed"]);
        assert!(w.cursor.is_none() && w.lease.is_none(), "the caller's");
    }
}
