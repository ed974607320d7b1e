//! The service account's Kerberos (GSSAPI) bind against the real Samba KDCs of `lab/up.sh`
//! (`lab/kerberos.sh`: LDAP SPNs, the service accounts' keytabs, one krb5.conf for both realms).
//!
//! The Kerberos library reads its keytab, credential cache and configuration from the process
//! environment, which a Rust program may not change once it runs threads. So each test that binds
//! runs its body in a child process of this test binary started with the variables the
//! directory needs ([`KerberosEnvironment::variables`]), as keyward's binaries start themselves;
//! the parent checks that the child passed.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Command;

use futures_util::{StreamExt, pin_mut};
use keyward_directory::{
    BindMethod, DirectoryClient, DirectoryConfig, Error, KerberosEnvironment, KerberosProblem,
    Read, Session, SpnHost,
};
use keyward_password::SecretString;

/// Set in a child: the name of the test it runs.
const CHILD: &str = "KWKRB_TEST_CHILD";

struct Lab {
    env: HashMap<String, String>,
}

impl Lab {
    fn get(&self, key: &str) -> String {
        self.env
            .get(key)
            .unwrap_or_else(|| {
                panic!("lab.env lacks {key}; run lab/up.sh (it runs lab/kerberos.sh)")
            })
            .clone()
    }

    /// Domain `n` bound with the svc-keyward keytab of that domain, over LDAPS.
    fn config(&self, n: u8) -> DirectoryConfig {
        let mut c = DirectoryConfig::new(
            &format!("corp{n}"),
            vec![self.get(&format!("KWLAB_AD{n}_LDAPS_URL"))],
            &self.get(&format!("KWLAB_AD{n}_BIND_UPN")),
        );
        c.ca_file = Some(self.get(&format!("KWLAB_AD{n}_CA_CERT")).into());
        c.bind_method = BindMethod::Kerberos;
        c.keytab_file = Some(self.get(&format!("KWLAB_AD{n}_KEYTAB")).into());
        c.krb5_config = Some(self.get("KWLAB_KRB5_CONFIG").into());
        c.connect_timeout_secs = 3;
        c
    }
}

fn lab() -> Option<Lab> {
    keyward_test_support::lab().map(|env| Lab { env })
}

/// In the parent: runs `test` alone in a child process with `vars` and checks it passed, then
/// returns false. In that child: returns true, and the caller runs the test's body.
fn in_child(test: &str, env: &KerberosEnvironment) -> bool {
    if std::env::var_os(CHILD).is_some_and(|t| t == test) {
        return true;
    }
    let ccache = keyward_directory::private_ccache_dir().unwrap();
    let vars = env.variables(&ccache);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        // Nothing of the caller's own Kerberos setup may leak in.
        .env_remove("KRB5_CONFIG")
        .env_remove("KRB5CCNAME")
        .env_remove("KRB5_CLIENT_KTNAME")
        .envs(vars.iter().map(|(k, v)| (*k, v)))
        .output()
        .unwrap();
    std::fs::remove_dir_all(&ccache).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} failed in its child process:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

fn env_of(configs: &[&DirectoryConfig]) -> KerberosEnvironment {
    KerberosEnvironment::for_directories(configs.iter().copied())
        .unwrap()
        .unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

async fn sync_group_users(client: &DirectoryClient) -> (String, BTreeSet<String>) {
    let config = client.config().clone();
    let mut session = client.connect().await.unwrap();
    assert!(session.is_encrypted());
    let url = session.url().to_owned();
    let info = session.domain_info(&config).await.unwrap();
    let (_, scoping) = session
        .scoping(&config, &info, &config.sync_group)
        .await
        .unwrap();
    let mut sams = BTreeSet::new();
    {
        let stream = session.users(Session::full_query(&info, scoping));
        pin_mut!(stream);
        while let Some(read) = stream.next().await {
            if let Read::User(u) = read.unwrap() {
                sams.insert(u.sam_account_name.unwrap());
            }
        }
    }
    session.close().await;
    (url, sams)
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn kerberos_problem(e: &Error) -> KerberosProblem {
    match e {
        Error::Kerberos { problem, .. } => *problem,
        other => panic!("not a Kerberos error: {other}"),
    }
}

#[test]
fn binds_with_the_keytab_over_ldaps_and_starttls_with_fail_over() {
    let Some(lab) = lab() else { return };
    let corp1 = lab.config(1);
    if !in_child(
        "binds_with_the_keytab_over_ldaps_and_starttls_with_fail_over",
        &env_of(&[&corp1]),
    ) {
        return;
    }
    block_on(async {
        let corp1_users = set(&["alice", "bob", "carol", "dave", "erin", "frank", "frank2"]);
        // LDAPS. Samba refuses anonymous searches of users, so reading them shows the bind.
        let client = DirectoryClient::with_kerberos(corp1.clone()).unwrap();
        assert_eq!(sync_group_users(&client).await.1, corp1_users);

        // StartTLS on ldap://.
        let mut starttls = corp1.clone();
        starttls.urls = vec![lab.get("KWLAB_AD1_LDAP_URL")];
        let client = DirectoryClient::with_kerberos(starttls).unwrap();
        assert_eq!(sync_group_users(&client).await.1, corp1_users);

        // The first URL refuses connections; the second answers and takes the Kerberos bind.
        let mut failover = corp1.clone();
        failover.urls = vec![
            "ldaps://127.0.0.9:1636".into(),
            lab.get("KWLAB_AD1_LDAPS_URL"),
        ];
        let client = DirectoryClient::with_kerberos(failover).unwrap();
        let (url, users) = sync_group_users(&client).await;
        assert_eq!(url, lab.get("KWLAB_AD1_LDAPS_URL"));
        assert_eq!(users, corp1_users);

        // A user's own password still goes in a simple bind as that user (the service
        // account's, whose password the lab keeps; other tests rotate the fixture users').
        let who = lab.get("KWLAB_AD1_BIND_DN");
        let password = SecretString::from(lab.get("KWLAB_AD1_BIND_PASSWORD"));
        assert!(client.verify_password(&who, &password).await.unwrap());
        let wrong = SecretString::from("not-the-password");
        assert!(!client.verify_password(&who, &wrong).await.unwrap());
    });
}

#[test]
fn two_realms_from_one_keytab() {
    let Some(lab) = lab() else { return };
    let mut corp1 = lab.config(1);
    let mut corp2 = lab.config(2);
    corp1.keytab_file = Some(lab.get("KWLAB_KEYTAB").into());
    corp2.keytab_file = Some(lab.get("KWLAB_KEYTAB").into());
    if !in_child("two_realms_from_one_keytab", &env_of(&[&corp1, &corp2])) {
        return;
    }
    block_on(async {
        let client1 = DirectoryClient::with_kerberos(corp1).unwrap();
        let client2 = DirectoryClient::with_kerberos(corp2).unwrap();
        // Alternately, so each realm's tickets are in the one credential cache together.
        for _ in 0..2 {
            assert_eq!(
                sync_group_users(&client2).await.1,
                set(&["alice", "grace", "heidi"])
            );
            assert_eq!(sync_group_users(&client1).await.1.len(), 7);
        }
    });
}

#[test]
fn refusals_say_what_is_wrong() {
    let Some(lab) = lab() else { return };
    let corp1 = lab.config(1);
    // The keytab of another account: svc-keyward-noreset's keys, svc-keyward's name.
    let mut other_keytab = corp1.clone();
    other_keytab.keytab_file = Some(lab.get("KWLAB_AD1_NORESET_KEYTAB").into());
    if !in_child("refusals_say_what_is_wrong", &env_of(&[&other_keytab])) {
        return;
    }
    block_on(async {
        let client = DirectoryClient::with_kerberos(other_keytab.clone()).unwrap();
        let e = client.connect().await.unwrap_err();
        assert_eq!(kerberos_problem(&e), KerberosProblem::NoKeyInKeytab, "{e}");
        let text = e.to_string();
        assert!(text.contains("svc-keyward@CORP1.TEST"), "{text}");
        assert!(!text.contains('\n'), "one line: {text}");

        // A principal the keytab does not hold.
        let mut ghost = other_keytab.clone();
        ghost.kerberos_principal = Some("ghost@CORP1.TEST".into());
        let e = DirectoryClient::with_kerberos(ghost)
            .unwrap()
            .connect()
            .await
            .unwrap_err();
        assert_eq!(kerberos_problem(&e), KerberosProblem::NoKeyInKeytab, "{e}");

        // The right account, but CORP2's domain controller: CORP1's KDC has no
        // ldap/dc-corp2.corp2.test in its realm.
        let mut noreset_on_corp2 = other_keytab.clone();
        noreset_on_corp2.kerberos_principal = Some("svc-keyward-noreset@CORP1.TEST".into());
        noreset_on_corp2.urls = vec![lab.get("KWLAB_AD2_LDAPS_URL")];
        noreset_on_corp2.ca_file = Some(lab.get("KWLAB_AD2_CA_CERT").into());
        let e = DirectoryClient::with_kerberos(noreset_on_corp2.clone())
            .unwrap()
            .connect()
            .await
            .unwrap_err();
        assert_eq!(kerberos_problem(&e), KerberosProblem::SpnUnknown, "{e}");
        assert!(e.to_string().contains("dc-corp2.corp2.test"), "{e}");

        // The same account on its own domain works: the keys were not the problem.
        let mut noreset = noreset_on_corp2;
        noreset.urls.clone_from(&corp1.urls);
        noreset.ca_file.clone_from(&corp1.ca_file);
        let session = DirectoryClient::with_kerberos(noreset)
            .unwrap()
            .connect()
            .await
            .unwrap();
        session.close().await;

        // The SPN from the URL's host, an IP address: no name to ask a ticket for.
        let mut by_url = other_keytab.clone();
        by_url.kerberos_principal = Some("svc-keyward-noreset@CORP1.TEST".into());
        by_url.kerberos_spn_host = SpnHost::Url;
        let e = DirectoryClient::with_kerberos(by_url)
            .unwrap()
            .connect()
            .await
            .unwrap_err();
        assert_eq!(kerberos_problem(&e), KerberosProblem::NoHostName, "{e}");
    });
}

#[test]
fn an_unreachable_kdc_is_named() {
    let Some(lab) = lab() else { return };
    // The same path in the parent and its child (each has its own temporary directory).
    let conf = keyward_test_support::lab_dir().join("krb5-unreachable-kdc.conf");
    let mut corp1 = lab.config(1);
    corp1.krb5_config = Some(conf.clone());
    if std::env::var_os(CHILD).is_none() {
        // Nothing listens on 127.0.0.9: the KDC refuses at once.
        std::fs::write(
            &conf,
            "[libdefaults]\n    default_realm = CORP1.TEST\n    dns_lookup_kdc = false\n    \
             rdns = false\n[realms]\n    CORP1.TEST = {\n        kdc = 127.0.0.9\n    }\n",
        )
        .unwrap();
    }
    if !in_child("an_unreachable_kdc_is_named", &env_of(&[&corp1])) {
        return;
    }
    block_on(async {
        let e = DirectoryClient::with_kerberos(corp1)
            .unwrap()
            .connect()
            .await
            .unwrap_err();
        assert_eq!(kerberos_problem(&e), KerberosProblem::KdcUnreachable, "{e}");
        assert!(e.to_string().contains("CORP1.TEST"), "{e}");
    });
}

/// In this process, which was not started with the Kerberos variables, and without a network
/// where the configuration is wrong.
#[test]
fn refused_before_any_ticket_is_asked_for() {
    let Some(lab) = lab() else { return };
    let corp1 = lab.config(1);
    block_on(async {
        // No Kerberos environment: refused, rather than bound with whatever ticket is around.
        let e = DirectoryClient::with_kerberos(corp1.clone())
            .unwrap()
            .connect()
            .await
            .unwrap_err();
        assert_eq!(kerberos_problem(&e), KerberosProblem::Environment, "{e}");
        assert!(e.to_string().contains("KRB5_CLIENT_KTNAME"), "{e}");
    });

    // No keytab file.
    let mut missing = corp1.clone();
    missing.keytab_file = Some("/nonexistent/keyward.keytab".into());
    let e = DirectoryClient::with_kerberos(missing).unwrap_err();
    assert!(e.to_string().contains("cannot read keytab_file"), "{e}");

    // A keytab other users may read.
    let dir = tempfile::tempdir().unwrap();
    let open: PathBuf = dir.path().join("open.keytab");
    std::fs::copy(lab.get("KWLAB_AD1_KEYTAB"), &open).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut readable = corp1.clone();
    readable.keytab_file = Some(open.clone());
    let e = DirectoryClient::with_kerberos(readable).unwrap_err();
    assert!(e.to_string().contains("mode 644"), "{e}");

    // Not a keytab.
    std::fs::write(&open, "not a keytab").unwrap();
    let mut garbage = corp1.clone();
    garbage.keytab_file = Some(open);
    let e = DirectoryClient::with_kerberos(garbage).unwrap_err();
    assert!(e.to_string().contains("is not a keytab"), "{e}");

    // In clear: refused like a password would be.
    let mut clear = corp1.clone();
    clear.urls = vec![lab.get("KWLAB_AD1_LDAP_URL")];
    clear.starttls = false;
    let e = DirectoryClient::with_kerberos(clear).unwrap_err();
    assert!(e.to_string().contains("needs TLS"), "{e}");

    // A password as well as a keytab.
    let mut both = corp1.clone();
    both.bind_password_env = Some("KW_UNUSED".into());
    let e = DirectoryClient::with_kerberos(both).unwrap_err();
    assert!(e.to_string().contains("remove bind_password_env"), "{e}");

    // A Kerberos directory cannot be opened as a password one.
    let e = DirectoryClient::new(corp1, SecretString::from("x")).unwrap_err();
    assert!(e.to_string().contains("with_kerberos"), "{e}");
}
