//! What the store's benchmarks share: the rows of a first full sync.

use chrono::Utc;
use keyward_model::{
    DirectoryAccount, DirectoryName, DisplayName, Email, Employee, EmployeeId, EmployeeOrigin,
    EmployeeStatus, NewAuditRecord,
};
use keyward_store::SyncWrite;

/// The write of a first full sync of users `from..to` of directory corp3: an employee, an
/// account and an audit record each.
pub fn first_sync(from: i64, to: i64) -> SyncWrite {
    let now = Utc::now();
    let directory = DirectoryName::parse("corp3").unwrap();
    let mut write = SyncWrite::default();
    for i in from..to {
        let id = EmployeeId::new_v7();
        write.new_employees.push(Employee {
            id,
            email: Some(Email::parse(&format!("u{i}@bench.test")).unwrap()),
            display_name: DisplayName::parse(&format!("User {i}")).unwrap(),
            status: EmployeeStatus::Active,
            origin: EmployeeOrigin::Directory,
            created_at: now,
            updated_at: now,
        });
        write.upsert_accounts.push(DirectoryAccount {
            directory: directory.clone(),
            object_guid: uuid::Uuid::new_v4(),
            employee_id: id,
            dn: format!("CN=u{i:06},OU=Bench,DC=corp3,DC=test"),
            sam_account_name: Some(format!("u{i:06}")),
            user_principal_name: Some(format!("u{i:06}@corp3.test")),
            mail: Some(Email::parse(&format!("u{i}@bench.test")).unwrap()),
            display_name: Some(format!("User {i}")),
            enabled: true,
            in_rotation_group: false,
            usn_changed: i,
            last_seen_at: now,
            missing_since: None,
        });
        write.audits.push(NewAuditRecord {
            actor: "system".into(),
            action: "employee.created".into(),
            subject: format!("employee:{id}"),
            detail: serde_json::json!({ "origin": "directory", "directory": "corp3" }),
            at: now,
        });
    }
    write
}
