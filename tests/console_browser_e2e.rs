//! The console in a real browser: headless Debian chromium driven over WebDriver, with a
//! virtual passkey authenticator, against the built server and the real Samba lab (both
//! domains). It walks the product page's flows: enroll a passkey and sign in; Sync now; the
//! merged employee of both domains appears marked as from Active Directory; import and assign a
//! key and read the activation code once; approve a workstation; activate through
//! keyward-agent-sim; see the password state change; confirm held removals; find the admin in
//! the audit. With `CONSOLE_SCREENSHOT_DIR` set it saves a screenshot of each page there
//! (`scripts/console-screenshots.sh` makes docs/console/ this way).

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

#[path = "support/target.rs"]
mod target;
#[path = "support/webdriver.rs"]
mod webdriver;

use std::path::PathBuf;
use std::process::Command;

use keyward_test_support::{TestDb, bin_path, in_ci, lab, lab_fixture, lab_modify};
use serde_json::{Value, json};
use target::{Target, directory_toml};
use webdriver::Browser;

const ADMIN: &str = "ada.admin@corp.example";

fn agent_sim(t: &Target, state: &std::path::Path, args: &[&str]) -> Value {
    let out = Command::new(bin_path("keyward-agent-sim"))
        .args(["--server", t.base(), "--state-file"])
        .arg(state)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keyward-agent-sim {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_administrator_walks_the_product_flows_in_the_console() {
    let Some(lab) = lab() else { return };
    if !webdriver::available() {
        assert!(
            !in_ci(),
            "chromium and chromedriver are required under CI=true"
        );
        eprintln!("NOTE: chromium or chromedriver missing; the console browser test did not run");
        return;
    }
    let shots: Option<PathBuf> = std::env::var_os("CONSOLE_SCREENSHOT_DIR").map(PathBuf::from);
    let shots = shots.as_deref();
    let corp1 = lab_fixture(&lab, 1, "con", &["ann", "bob"], None);
    let corp2 = lab_fixture(&lab, 2, "con", &["ann"], None);
    let ann = corp1.users[0].mail.clone();
    let directories = format!(
        "{}{}",
        directory_toml(&lab, 1, "corp1", &corp1.group_dn, true, 0),
        directory_toml(&lab, 2, "corp2", &corp2.group_dn, false, 1)
    );
    let db = TestDb::sqlite_file();
    // Any removal is held for confirmation, so that the test can confirm one.
    let t = Target::start_for_console(lab.clone(), "max_removals = 0", &directories, &db.url);
    let console = t.console_url();
    let browser = Browser::start().await;

    // Not signed in: every page sends the browser to the sign-in page.
    browser.goto(&format!("{console}/console/employees")).await;
    browser.find("#sign-in").await;
    assert!(browser.url().await.ends_with("/console/sign-in"));

    // Enrollment: the CLI prints a one-time link; the admin registers a passkey with it.
    let created = t.cli(&["admins", "create", "--email", ADMIN, "--name", "Ada Admin"]);
    let link = created["enrollment_link"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("{console}/console/enroll/")),
        "{link}"
    );
    browser.goto(&link).await;
    browser.fill("#label", "Virtual key").await;
    browser.screenshot(shots, "enroll").await;
    browser.click("#enroll-button").await;
    browser.find("#webauthn-done").await;
    // The link works once.
    browser.goto(&link).await;
    assert!(browser.text("main").await.contains("not valid"));

    // Sign-in with the passkey.
    browser.goto(&format!("{console}/console/sign-in")).await;
    browser.fill("#email", ADMIN).await;
    browser.screenshot(shots, "sign-in").await;
    browser.click("#sign-in-button").await;
    browser.find("#employees-total").await;
    assert_eq!(browser.text("#employees-total").await, "0");

    // Sync now, each directory; each answer is the run's report.
    browser.goto(&format!("{console}/console/sync")).await;
    for directory in ["corp1", "corp2"] {
        browser
            .click(&format!("#directory-{directory} button.sync-now"))
            .await;
        browser.wait_text("#run-status", "succeeded", None).await;
        browser.goto(&format!("{console}/console/sync")).await;
    }
    browser.screenshot(shots, "sync").await;

    // The merged employee of both domains, marked as from AD with both directories.
    browser
        .goto(&format!("{console}/console/employees?q=ann"))
        .await;
    let row = browser.text(&format!("tr[data-email=\"{ann}\"]")).await;
    assert!(row.contains("from Active Directory"), "{row}");
    assert!(row.contains("corp1") && row.contains("corp2"), "{row}");
    browser.goto(&format!("{console}/console/employees")).await;
    browser.screenshot(shots, "employees").await;

    // Import a key by paste.
    browser.goto(&format!("{console}/console/keys")).await;
    browser.fill("#import-serials", "serial\nCON-1\n").await;
    browser.click("#import-button").await;
    browser.wait_text(".notice", "imported 1 key", None).await;
    browser.screenshot(shots, "keys").await;

    // Assign it on the employee's page: the code is shown once.
    let employee = t.cli(&["employees", "show", &ann]);
    let employee_url = format!(
        "{console}/console/employees/{}",
        employee["id"].as_str().unwrap()
    );
    browser.goto(&employee_url).await;
    browser.select("#assign-serial", "CON-1").await;
    browser.click("#assign-button").await;
    // The click submits a form: wait for the answer's page, not the one it left.
    browser.find("#activation-code").await;
    let code = browser.text("#activation-code").await;
    assert!(!code.is_empty());
    browser.screenshot(shots, "employee-code").await;
    browser.goto(&employee_url).await;
    assert!(!browser.exists("#activation-code").await);
    assert!(
        !browser.source().await.contains(&code),
        "the code was shown twice"
    );

    // A workstation registers; the admin approves it by its fingerprint.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("agent.json");
    let registered = agent_sim(&t, &state, &["register", "--name", "WS-CONSOLE"]);
    assert_eq!(registered["status"], "pending");
    browser
        .goto(&format!("{console}/console/workstations"))
        .await;
    browser.screenshot(shots, "workstations").await;
    browser
        .click("tr[data-name=\"WS-CONSOLE\"] button.approve")
        .await;
    browser.wait_text(".notice", "is approved", None).await;

    // A forged form (no CSRF token) changes nothing.
    let forged = browser
        .eval(
            "const x = new XMLHttpRequest(); x.open('POST', '/console/keys/CON-1/lock', false); \
             x.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded'); \
             x.send('csrf=forged'); return x.status;",
            json!([]),
        )
        .await;
    assert_eq!(forged, 403);
    assert_eq!(t.cli(&["keys", "show", "CON-1"])["status"], "reserved");

    // The user activates the key on the workstation; the first rotation reaches the key and
    // the directory, and the console shows the password state change.
    agent_sim(&t, &state, &["activate", "CON-1", &code]);
    browser.goto(&employee_url).await;
    let before = browser
        .text("#accounts td.password-state[data-directory=\"corp1\"]")
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    let after = loop {
        agent_sim(&t, &state, &["sync"]);
        browser.goto(&employee_url).await;
        let now = browser
            .text("#accounts td.password-state[data-directory=\"corp1\"]")
            .await;
        if now.contains("idle (version 1)") {
            break now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no committed rotation: {now}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert_ne!(before, after);
    browser.screenshot(shots, "employee").await;
    browser.goto(&format!("{console}/console/keys/CON-1")).await;
    assert_eq!(browser.text("#key-status").await, "active");
    // Active offers suspend, lock and deactivate, and not assign or unlock.
    let operations = browser.text("#operations").await;
    assert!(
        operations.contains("Suspend") && operations.contains("Lock"),
        "{operations}"
    );
    assert!(
        !operations.contains("Unlock") && !operations.contains("Cancel"),
        "{operations}"
    );
    browser.screenshot(shots, "key").await;

    // Bob leaves the sync group: the removal is held, and confirmed in the console.
    lab_modify(
        &lab,
        1,
        &format!(
            "dn: {}\nchangetype: modify\ndelete: member\nmember: {}\n",
            corp1.group_dn, corp1.users[1].dn
        ),
    );
    browser.goto(&format!("{console}/console/sync")).await;
    browser.click("#directory-corp1 button.sync-now").await;
    let held = browser.wait_text("#held", "corp1/", None).await;
    assert_eq!(
        held.lines().count(),
        1,
        "only bob's account is held: {held}"
    );
    browser.screenshot(shots, "run-held").await;
    browser.click("#confirm-removals").await;
    // The confirming run's page holds nothing more, so the button is gone once it answered.
    browser.wait_gone("#confirm-removals").await;
    browser.wait_text("#run-counts", "missing", None).await;
    let missing = t.cli(&["employees", "show", &corp1.users[1].mail]);
    assert!(
        missing.to_string().contains("missing_since"),
        "bob's account was not marked missing: {missing}"
    );

    // The audit names the admin for what they did.
    browser
        .goto(&format!("{console}/console/audit?actor=admin:{ADMIN}"))
        .await;
    let audit = browser.text("#audit").await;
    for action in [
        "key.assign",
        "workstation.approved",
        "admin.signed_in",
        "account.missing",
    ] {
        assert!(
            audit.contains(action),
            "{action} missing from the audit: {audit}"
        );
    }
    browser.screenshot(shots, "audit").await;
    let csv = browser
        .eval(
            "const x = new XMLHttpRequest(); x.open('GET', '/console/audit.csv?actor=admin:' + \
             arguments[0], false); x.send(); return x.responseText;",
            json!([ADMIN]),
        )
        .await;
    let csv = csv.as_str().unwrap();
    assert!(
        csv.starts_with("seq,at,actor,action,subject,detail"),
        "{csv}"
    );
    assert!(csv.contains(&format!("admin:{ADMIN},key.assign")), "{csv}");

    // A long stock is paged, 50 keys a page; the pager keeps the filter.
    let serials: Vec<String> = (0..60).map(|i| format!("CON-P{i:02}")).collect();
    let mut import = vec!["keys", "import"];
    import.extend(serials.iter().map(String::as_str));
    t.cli(&import);
    let ready = t.cli(&["keys", "list", "--status", "ready"]);
    let ready = ready.as_array().unwrap().len();
    assert!(ready >= 60, "{ready}");
    let rows = "return document.querySelectorAll('#keys tbody tr').length;";
    browser
        .goto(&format!("{console}/console/keys?status=ready"))
        .await;
    assert_eq!(browser.eval(rows, json!([])).await, json!(50));
    let next = browser
        .eval(
            "return document.querySelector('.pager a').getAttribute('href');",
            json!([]),
        )
        .await;
    let next = next.as_str().unwrap();
    assert!(next.contains("status=ready"), "{next}");
    browser.goto(&format!("{console}{next}")).await;
    assert_eq!(browser.eval(rows, json!([])).await, json!(ready - 50));
    assert!(
        !browser.exists(".pager a").await,
        "the last page has no pager"
    );

    browser
        .goto(&format!("{console}/console/invitations"))
        .await;
    browser.screenshot(shots, "invitations").await;
    browser.goto(&format!("{console}/console/")).await;
    browser.screenshot(shots, "dashboard").await;

    // Sign-out ends the session.
    browser.click("header form button.link").await;
    browser.find("#sign-in").await;
    browser.goto(&format!("{console}/console/")).await;
    browser.find("#sign-in").await;

    // Sign-in attempts are rate-limited per address: probing e-mails stops after a few.
    let statuses = browser
        .eval(
            "const out = []; for (let i = 0; i < 15; i++) { const x = new XMLHttpRequest(); \
             x.open('POST', '/console/sign-in/start', false); \
             x.setRequestHeader('Content-Type', 'application/json'); \
             x.send(JSON.stringify({ email: 'probe' + i + '@corp.example' })); \
             out.push(x.status); } return out;",
            json!([]),
        )
        .await;
    let statuses: Vec<u64> = statuses
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    let first_limited = statuses.iter().position(|s| *s == 429);
    assert!(
        first_limited.is_some_and(|i| i >= 8),
        "sign-in attempts were not limited as expected: {statuses:?}"
    );
    assert!(
        statuses[..first_limited.unwrap()].iter().all(|s| *s == 401),
        "{statuses:?}"
    );
}
