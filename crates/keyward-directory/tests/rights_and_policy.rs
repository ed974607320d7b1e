//! What the bound account may do, and the domain's password policies, read from the real Samba
//! lab (`lab/up.sh`): the least-privilege service account `svc-keyward` (Reset Password
//! delegated on the fixtures' OUs), `svc-keyward-noreset` (no reset right) and the domain
//! administrator. Each read-only verdict is checked against what the server then actually
//! does with a write.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use keyward_directory::security::Access;
use keyward_directory::{
    DirectoryClient, DirectoryConfig, Error, FineGrained, PolicyKind, Session,
};
use keyward_password::SecretString;
use keyward_test_support::{FIXTURE_PASSWORD, lab, lab_can_bind, lab_fixture};

fn var(lab: &HashMap<String, String>, k: &str) -> String {
    lab[&format!("KWLAB_AD1_{k}")].clone()
}

/// A session on CORP1 bound as `who` with `password`.
async fn session_as(lab: &HashMap<String, String>, who: &str, password: &str) -> Session {
    let mut config = DirectoryConfig::new("corp1", vec![var(lab, "LDAPS_URL")], who);
    config.ca_file = Some(var(lab, "CA_CERT").into());
    config.bind_password_env = Some("UNUSED_IN_TESTS".into());
    DirectoryClient::new(config, SecretString::from(password))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_rights_check_names_what_each_account_may_do_and_the_server_agrees() {
    let Some(lab) = lab() else { return };
    let fixture = lab_fixture(&lab, 1, "rights", &["rita"], None);
    let rita = &fixture.users[0].dn;
    let base = var(&lab, "BASE_DN");

    // The service account, found by its UPN as a bind name may be: Reset Password and Write
    // pwdLastSet, both from its own delegation.
    let svc_dn = var(&lab, "BIND_DN");
    let mut svc = session_as(&lab, &svc_dn, &var(&lab, "BIND_PASSWORD")).await;
    let me = svc
        .bound_account(&base, &var(&lab, "BIND_UPN"))
        .await
        .unwrap();
    assert_eq!(me.dn.to_lowercase(), svc_dn.to_lowercase());
    assert_eq!(me.sid, var(&lab, "SVC_SID"));
    assert!(!me.group_sids.is_empty(), "tokenGroups holds Domain Users");
    let rights = svc.rights_on(&me, rita).await.unwrap();
    assert_eq!(
        rights.reset_password,
        Access::Granted { by: me.sid.clone() }
    );
    assert!(rights.write_pwd_last_set);
    // Outside the delegated OUs it holds neither; and the server refuses the reset there too.
    let other = var(&lab, "NORESET_DN");
    let rights = svc.rights_on(&me, &other).await.unwrap();
    assert_eq!(rights.reset_password, Access::Missing);
    assert!(!rights.write_pwd_last_set);
    let refused = svc
        .reset_password(&other, &SecretString::from("Never#Applied-123"))
        .await;
    assert!(
        matches!(refused, Err(Error::InsufficientAccess { .. })),
        "{refused:?}"
    );
    // Where it holds the right, the reset goes through.
    let new = "Granted#Reset-456";
    svc.reset_password(rita, &SecretString::from(new))
        .await
        .unwrap();
    assert!(lab_can_bind(&lab, 1, rita, new));
    svc.close().await;

    // The account without the delegation: nothing, and the server agrees.
    let mut noreset = session_as(&lab, &other, &var(&lab, "NORESET_PASSWORD")).await;
    let me = noreset.bound_account(&base, &other).await.unwrap();
    let rights = noreset.rights_on(&me, rita).await.unwrap();
    assert_eq!(rights.reset_password, Access::Missing);
    assert!(!rights.write_pwd_last_set);
    let refused = noreset
        .reset_password(rita, &SecretString::from(FIXTURE_PASSWORD))
        .await;
    assert!(
        matches!(refused, Err(Error::InsufficientAccess { .. })),
        "{refused:?}"
    );
    assert!(lab_can_bind(&lab, 1, rita, new));
    noreset.close().await;

    // The administrator holds it through a group (Domain Admins' or Account Operators' ACE).
    let admin_dn = var(&lab, "ADMIN_DN");
    let mut admin = session_as(&lab, &admin_dn, &var(&lab, "ADMIN_PASSWORD")).await;
    let me = admin.bound_account(&base, &admin_dn).await.unwrap();
    match admin.rights_on(&me, rita).await.unwrap().reset_password {
        Access::Granted { by } => assert_ne!(by, me.sid, "granted through a group"),
        other => panic!("the administrator's reset right: {other:?}"),
    }
    admin.close().await;
}

#[tokio::test]
async fn the_domain_policy_and_the_fine_grained_one_that_applies() {
    let Some(lab) = lab() else { return };
    let fixture = lab_fixture(&lab, 1, "policy", &["pia"], Some(30));
    let pia = &fixture.users[0].dn;
    let base = var(&lab, "BASE_DN");
    let mut svc = session_as(&lab, &var(&lab, "BIND_DN"), &var(&lab, "BIND_PASSWORD")).await;

    let policies = svc.domain_policies(&base).await.unwrap();
    // lab/start-ad.sh: complexity on, minimum length 7, no history, no ages.
    assert_eq!(policies.domain.kind, PolicyKind::Domain);
    assert_eq!(policies.domain.min_length, 7);
    assert!(policies.domain.complexity);
    assert_eq!(policies.domain.max_age_secs, None);
    let FineGrained::Readable(psos) = &policies.fine_grained else {
        panic!(
            "the service account may read the PSOs: {:?}",
            policies.fine_grained
        )
    };
    let pso_dn = format!("CN=kw-pso-policy,CN=Password Settings Container,CN=System,{base}");
    let pso = psos
        .iter()
        .find(|p| p.dn.eq_ignore_ascii_case(&pso_dn))
        .unwrap_or_else(|| panic!("{pso_dn} among {psos:?}"));
    assert_eq!(pso.min_length, 30);
    assert_eq!(pso.kind, PolicyKind::FineGrained { precedence: 1 });

    let resultant = svc.resultant_pso(pia).await.unwrap();
    assert_eq!(
        resultant.as_deref().map(str::to_lowercase),
        Some(pso_dn.to_lowercase())
    );
    assert_eq!(
        policies.applying(resultant.as_deref()).unwrap().min_length,
        30
    );
    let bob = format!("CN=Bob Baker,OU=KeywardLab,{base}");
    assert_eq!(svc.resultant_pso(&bob).await.unwrap(), None);
    assert_eq!(policies.applying(None).unwrap().min_length, 7);

    // What the policy says is what the server enforces: 29 characters are refused for pia.
    let refused = svc
        .reset_password(pia, &SecretString::from("Abcdefghij-Abcdefghij-1234567"))
        .await;
    assert!(
        matches!(refused, Err(Error::PasswordPolicy { .. })),
        "{refused:?}"
    );
    svc.reset_password(pia, &SecretString::from("Abcdefghij-Abcdefghij-12345678"))
        .await
        .unwrap();
    svc.close().await;
}
