//! The connector against the two real Samba AD domains of `lab/up.sh`.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use futures_util::{StreamExt, pin_mut};
use keyward_directory::{
    DirectoryClient, DirectoryConfig, Error, MembershipMethod, Read, Scoping, Session, UserQuery,
};
use keyward_model::DirectoryUser;
use keyward_password::SecretString;

struct Domain {
    env: HashMap<String, String>,
    n: u8,
}

impl Domain {
    fn get(&self, key: &str) -> String {
        self.env
            .get(&format!("KWLAB_AD{}_{key}", self.n))
            .unwrap_or_else(|| panic!("lab.env lacks KWLAB_AD{}_{key}", self.n))
            .clone()
    }

    fn config(&self) -> DirectoryConfig {
        let mut c = DirectoryConfig::new(
            &format!("corp{}", self.n),
            vec![self.get("LDAPS_URL")],
            &self.get("BIND_DN"),
        );
        c.ca_file = Some(self.get("CA_CERT").into());
        c.bind_password_env = Some("UNUSED_IN_TESTS".into());
        c
    }

    fn client(&self, config: DirectoryConfig) -> DirectoryClient {
        DirectoryClient::new(config, SecretString::from(self.get("BIND_PASSWORD"))).unwrap()
    }

    fn user_password(&self) -> SecretString {
        SecretString::from(self.env["KWLAB_USER_PASSWORD"].clone())
    }

    fn user_dn(&self, sam: &str) -> String {
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(self.get("MANIFEST")).unwrap()).unwrap();
        let users = manifest["users"].as_array().unwrap();
        users
            .iter()
            .find(|u| u["sam"] == sam)
            .unwrap_or_else(|| panic!("no {sam} in the manifest"))["dn"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

fn domains() -> Option<(Domain, Domain)> {
    let env = keyward_test_support::lab()?;
    Some((
        Domain {
            env: env.clone(),
            n: 1,
        },
        Domain { env, n: 2 },
    ))
}

async fn read_all(
    session: &mut Session,
    query: UserQuery,
) -> Result<(Vec<DirectoryUser>, Vec<String>), Error> {
    let stream = session.users(query);
    pin_mut!(stream);
    let mut users = Vec::new();
    let mut skipped = Vec::new();
    while let Some(item) = stream.next().await {
        match item? {
            Read::User(u) => users.push(*u),
            Read::Skipped(bad) => skipped.push(bad.dn),
        }
    }
    Ok((users, skipped))
}

async fn sync_members(d: &Domain, config: &DirectoryConfig) -> Vec<DirectoryUser> {
    let mut session = d.client(config.clone()).connect().await.unwrap();
    let info = session.domain_info(config).await.unwrap();
    let (_, scoping) = session
        .scoping(config, &info, &config.sync_group)
        .await
        .unwrap();
    let (users, skipped) = read_all(&mut session, Session::full_query(&info, scoping))
        .await
        .unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    users
}

fn sams(users: &[DirectoryUser]) -> BTreeSet<String> {
    users
        .iter()
        .map(|u| u.sam_account_name.clone().unwrap())
        .collect()
}

#[tokio::test]
async fn root_dse_netbios_and_invocation_id() {
    let Some((d1, _)) = domains() else { return };
    let config = d1.config();
    let mut session = d1.client(config.clone()).connect().await.unwrap();
    assert!(session.is_encrypted());
    let info = session.domain_info(&config).await.unwrap();
    assert_eq!(info.base_dn, d1.get("BASE_DN"));
    assert_eq!(info.netbios_name.as_deref(), Some("CORP1"));
    assert!(info.root.supports_paged_results());
    assert!(info.root.is_active_directory());
    assert!(info.root.highest_committed_usn.unwrap() > 0);
    assert!(info.invocation_id.is_some());
    assert!(info.root.dns_host_name.is_some());
    // Samba provisions tombstoneLifetime = 180, readable by the least-privilege account.
    assert_eq!(info.deleted_object_lifetime_days, Some(180));
}

#[tokio::test]
async fn starttls_failover_and_certificate_checks() {
    let Some((d1, d2)) = domains() else { return };
    // StartTLS on ldap://.
    let mut config = d1.config();
    config.urls = vec![d1.get("LDAP_URL")];
    let session = d1.client(config).connect().await.unwrap();
    assert!(session.is_encrypted());

    // The first URL refuses connections; the second answers.
    let mut config = d1.config();
    config.urls = vec!["ldaps://127.0.0.9:1636".into(), d1.get("LDAPS_URL")];
    config.connect_timeout_secs = 3;
    let session = d1.client(config).connect().await.unwrap();
    assert_eq!(session.url(), d1.get("LDAPS_URL"));

    // CORP2's CA does not vouch for CORP1's certificate.
    let mut config = d1.config();
    config.ca_file = Some(d2.get("CA_CERT").into());
    let err = d1.client(config).connect().await.unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");

    // Nothing answers at all.
    let mut config = d1.config();
    config.urls = vec!["ldaps://127.0.0.9:1636".into()];
    config.connect_timeout_secs = 2;
    assert!(matches!(
        d1.client(config).connect().await.unwrap_err(),
        Error::Unreachable { .. }
    ));

    // A wrong bind password is a bind error that says so, and names no password.
    let client = DirectoryClient::new(d1.config(), SecretString::from("not-the-password")).unwrap();
    let err = client.connect().await.unwrap_err();
    assert!(matches!(err, Error::Bind { .. }), "{err}");
    assert!(err.to_string().contains("wrong password"), "{err}");
    assert!(!err.to_string().contains("not-the-password"));
}

#[tokio::test]
async fn sync_group_members_are_users_only_and_transitive() {
    let Some((d1, d2)) = domains() else { return };
    let users = sync_members(&d1, &d1.config()).await;
    let expected: BTreeSet<String> = ["alice", "bob", "carol", "dave", "erin", "frank", "frank2"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(
        sams(&users),
        expected,
        "nested members in; computers and contacts out"
    );
    let by_sam: HashMap<String, &DirectoryUser> = users
        .iter()
        .map(|u| (u.sam_account_name.clone().unwrap(), u))
        .collect();
    assert!(!by_sam["dave"].enabled, "dave is disabled");
    assert!(by_sam["alice"].enabled);
    assert!(by_sam["erin"].mail.is_none(), "erin has no mail");
    assert_eq!(by_sam["frank"].mail, by_sam["frank2"].mail);
    assert!(
        by_sam["bob"]
            .object_sid
            .as_deref()
            .unwrap()
            .starts_with("S-1-5-21-")
    );
    assert!(by_sam["bob"].usn_changed > 0);
    assert!(by_sam["bob"].when_changed.is_some());
    let guids: BTreeSet<_> = users.iter().map(|u| u.object_guid).collect();
    assert_eq!(guids.len(), users.len(), "objectGUIDs are distinct");

    let users2 = sync_members(&d2, &d2.config()).await;
    let expected2: BTreeSet<String> = ["alice", "grace", "heidi"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(sams(&users2), expected2);

    // The walk (member + range retrieval) finds the same people as IN_CHAIN.
    let mut walk = d1.config();
    walk.membership = MembershipMethod::Walk;
    let walked = sync_members(&d1, &walk).await;
    assert_eq!(sams(&walked), sams(&users));
    // Page size 1 still yields everything.
    let mut tiny = d1.config();
    tiny.page_size = 1;
    assert_eq!(sams(&sync_members(&d1, &tiny).await), sams(&users));
}

#[tokio::test]
async fn groups_resolve_by_name_and_dn_and_unknown_is_clear() {
    let Some((d1, _)) = domains() else { return };
    let config = d1.config();
    let mut session = d1.client(config.clone()).connect().await.unwrap();
    let base = d1.get("BASE_DN");
    let by_name = session
        .resolve_group(&base, "Hideez Users Sync")
        .await
        .unwrap();
    assert_eq!(by_name.dn, d1.get("SYNC_GROUP_DN"));
    assert!(by_name.usn_changed > 0);
    let by_dn = session
        .resolve_group(&base, &d1.get("SYNC_GROUP_DN"))
        .await
        .unwrap();
    assert_eq!(by_dn, by_name);
    let err = session
        .resolve_group(&base, "No Such Group")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::GroupNotFound { .. }), "{err}");
    assert!(err.to_string().contains("No Such Group"));
    let err = session
        .resolve_group(&base, "CN=Nope,OU=KeywardLab,DC=corp1,DC=test")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::GroupNotFound { .. }), "{err}");
    let rotation = session
        .resolve_group(&base, &config.rotation_group)
        .await
        .unwrap();
    let info = session.domain_info(&config).await.unwrap();
    let (users, _) = read_all(
        &mut session,
        Session::full_query(&info, Scoping::InChain(rotation)),
    )
    .await
    .unwrap();
    assert_eq!(
        sams(&users),
        ["alice", "bob"].iter().map(|s| (*s).to_owned()).collect()
    );
}

/// A search that ends in an error (here: a base that does not exist) is an error for the whole
/// read, not an empty or short result.
#[tokio::test]
async fn a_failed_search_is_an_error_not_an_empty_result() {
    let Some((d1, _)) = domains() else { return };
    let config = d1.config();
    let mut session = d1.client(config.clone()).connect().await.unwrap();
    let info = session.domain_info(&config).await.unwrap();
    let (_, scoping) = session
        .scoping(&config, &info, &config.sync_group)
        .await
        .unwrap();
    let mut query = Session::full_query(&info, scoping);
    query.base = format!("OU=Gone,{}", d1.get("BASE_DN"));
    let err = read_all(&mut session, query).await.unwrap_err();
    assert!(matches!(err, Error::Search { code: 32, .. }), "{err}");
}

/// A connection that drops between pages ends the stream with an error after the entries read
/// so far: the caller can never mistake the partial read for the whole group. The drop is made
/// by a byte-level proxy in front of the real domain controller, cut after the first entry.
#[tokio::test]
async fn a_connection_dropped_mid_search_fails_the_read() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Some((d1, _)) = domains() else { return };
    let upstream_addr = format!("{}:636", d1.get("IP"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cut = Arc::new(AtomicBool::new(false));
    let cut_in_proxy = cut.clone();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let upstream = tokio::net::TcpStream::connect(upstream_addr).await.unwrap();
        let (mut cr, mut cw) = client.into_split();
        let (mut ur, mut uw) = upstream.into_split();
        let up = tokio::spawn(async move {
            let mut buf = [0u8; 16384];
            while let Ok(n) = cr.read(&mut buf).await {
                if n == 0 || uw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
        let mut buf = [0u8; 16384];
        loop {
            let read =
                tokio::time::timeout(std::time::Duration::from_millis(50), ur.read(&mut buf)).await;
            if cut_in_proxy.load(Ordering::SeqCst) {
                break;
            }
            match read {
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(n)) => {
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                Err(_) => {}
            }
        }
        up.abort();
        // Dropping both halves closes both connections.
    });

    let mut config = d1.config();
    config.urls = vec![format!("ldaps://localhost:{port}")];
    config.page_size = 1;
    config.operation_timeout_secs = 10;
    let mut session = d1.client(config.clone()).connect().await.unwrap();
    let info = session.domain_info(&config).await.unwrap();
    let (_, scoping) = session
        .scoping(&config, &info, &config.sync_group)
        .await
        .unwrap();
    let stream = session.users(Session::full_query(&info, scoping));
    pin_mut!(stream);
    let mut users = 0;
    let mut failure = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(Read::User(_)) => {
                users += 1;
                cut.store(true, Ordering::SeqCst);
            }
            Ok(Read::Skipped(_)) => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    assert!((1..7).contains(&users), "read {users} users before the cut");
    let err = failure.expect("the stream must end with an error, not quietly");
    assert!(
        matches!(err, Error::Connection { .. } | Error::Search { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn incremental_reads_see_only_what_changed() {
    let Some((d1, _)) = domains() else { return };
    let config = d1.config();
    let mut session = d1.client(config.clone()).connect().await.unwrap();
    let info = session.domain_info(&config).await.unwrap();
    let before = info.root.highest_committed_usn.unwrap();
    let carol = d1.user_dn("carol");
    let status = Command::new("ldapmodify")
        .env("LDAPTLS_CACERT", d1.get("CA_CERT"))
        .args([
            "-x",
            "-H",
            &d1.get("LDAPS_URL"),
            "-D",
            &d1.get("ADMIN_DN"),
            "-w",
            &d1.get("ADMIN_PASSWORD"),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            let title = format!("Analyst {before}");
            writeln!(
                child.stdin.take().unwrap(),
                "dn: {carol}\nchangetype: modify\nreplace: title\ntitle: {title}\n"
            )?;
            child.wait()
        })
        .unwrap();
    assert!(status.success());
    let (_, scoping) = session
        .scoping(&config, &info, &config.sync_group)
        .await
        .unwrap();
    let mut query = Session::full_query(&info, scoping);
    query.changed_after_usn = Some(before);
    let (changed, _) = read_all(&mut session, query).await.unwrap();
    assert_eq!(sams(&changed), ["carol".to_owned()].into_iter().collect());
    assert_eq!(
        changed[0].title.as_deref(),
        Some(format!("Analyst {before}").as_str())
    );
    assert!(changed[0].usn_changed > before);
}

#[tokio::test]
async fn password_reset_change_policy_and_tls_rules() {
    let Some((_, d2)) = domains() else { return };
    let client = d2.client(d2.config());
    let grace = d2.user_dn("grace");
    let start = d2.user_password();
    let next = SecretString::from("Rotated#Pass2-keyward");

    // Administrator reset: the new password binds, the old one no longer does.
    let mut session = client.connect().await.unwrap();
    session.reset_password(&grace, &next).await.unwrap();
    assert!(client.verify_password(&grace, &next).await.unwrap());
    assert!(!client.verify_password(&grace, &start).await.unwrap());

    // AD's policy refuses a weak password, with its code.
    let err = session
        .reset_password(&grace, &SecretString::from("short"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::PasswordPolicy { ref code, .. } if code == "0000052D"),
        "{err}"
    );
    assert!(
        client.verify_password(&grace, &next).await.unwrap(),
        "a refused reset changes nothing"
    );

    // The user's own change: wrong old password, then the right one.
    let err = client
        .change_password(&grace, &start, &SecretString::from("Another#Pass3"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongOldPassword), "{err}");
    client.change_password(&grace, &next, &start).await.unwrap();
    assert!(client.verify_password(&grace, &start).await.unwrap());

    // No password ever travels in clear, even to a server that would take it.
    let mut plain = d2.config();
    plain.urls = vec![d2.get("LDAP_URL")];
    plain.starttls = false;
    let mut clear = d2.client(plain).connect().await.unwrap();
    assert!(!clear.is_encrypted());
    let err = clear.reset_password(&grace, &next).await.unwrap_err();
    assert!(matches!(err, Error::NeedsTls { .. }), "{err}");
    assert!(client.verify_password(&grace, &start).await.unwrap());
    // Nor does a user's own password: a verify or a change over a plain connection is refused
    // before the bind (Samba would have taken the bind in clear).
    let plain_client = d2.client({
        let mut c = d2.config();
        c.urls = vec![d2.get("LDAP_URL")];
        c.starttls = false;
        c
    });
    let err = plain_client
        .verify_password(&grace, &start)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NeedsTls { .. }), "{err}");
    let err = plain_client
        .change_password(&grace, &start, &next)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NeedsTls { .. }), "{err}");

    // An unverified certificate is as good as clear text for a password: with
    // insecure_skip_tls_verify every password operation is refused, and nothing changes.
    let mut unverified = d2.config();
    unverified.insecure_skip_tls_verify = true;
    let unverified = d2.client(unverified);
    let err = unverified
        .verify_password(&grace, &start)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NeedsVerifiedTls { .. }), "{err}");
    let err = unverified
        .change_password(&grace, &start, &next)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NeedsVerifiedTls { .. }), "{err}");
    let mut session = unverified.connect().await.unwrap();
    assert!(session.is_encrypted());
    let err = session.reset_password(&grace, &next).await.unwrap_err();
    assert!(matches!(err, Error::NeedsVerifiedTls { .. }), "{err}");
    assert!(client.verify_password(&grace, &start).await.unwrap());
}

#[tokio::test]
async fn an_ldif_export_reads_as_the_same_users() {
    let Some((d1, _)) = domains() else { return };
    let users = sync_members(&d1, &d1.config()).await;
    let filter = format!(
        "(&(objectCategory=person)(objectClass=user)(memberOf:1.2.840.113556.1.4.1941:={}))",
        d1.get("SYNC_GROUP_DN")
    );
    let out = Command::new("ldapsearch")
        .env("LDAPTLS_CACERT", d1.get("CA_CERT"))
        .args([
            "-LLL",
            "-x",
            "-o",
            "ldif-wrap=no",
            "-H",
            &d1.get("LDAPS_URL"),
            "-D",
            &d1.get("ADMIN_DN"),
            "-w",
            &d1.get("ADMIN_PASSWORD"),
            "-b",
            &d1.get("BASE_DN"),
            &filter,
        ])
        .args(keyward_directory::USER_ATTRIBUTES)
        .arg("objectClass")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.ldif");
    std::fs::write(&path, &out.stdout).unwrap();
    let stream = keyward_directory::users_from_ldif(&path).unwrap();
    pin_mut!(stream);
    let mut from_ldif = Vec::new();
    while let Some(item) = stream.next().await {
        if let Read::User(u) = item.unwrap() {
            from_ldif.push(*u);
        }
    }
    let mut a: Vec<_> = users
        .iter()
        .map(|u| (u.object_guid, u.mail.clone(), u.enabled))
        .collect();
    let mut b: Vec<_> = from_ldif
        .iter()
        .map(|u| (u.object_guid, u.mail.clone(), u.enabled))
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}
