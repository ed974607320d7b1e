//! Throw-away users for tests that change AD passwords: each test gets its own OU in a lab
//! domain, with its own group and users (and, if asked, a fine-grained password policy on the
//! group), rebuilt from scratch every time, so tests never touch the shared fixtures' passwords.
//! Uses `ldapadd`/`ldapdelete` from ldap-utils over LDAPS as the domain administrator
//! (`KWLAB_ADn_ADMIN_*`), and delegates Reset Password on each OU to the service account keyward
//! binds as (`KWLAB_ADn_BIND_*`).

// The lab's environment is always a plain `HashMap` (from `lab()`).
#![allow(clippy::implicit_hasher)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;

use base64::Engine as _;
use std::process::{Command, Stdio};

/// The first password of every fixture user.
pub const FIXTURE_PASSWORD: &str = "Start#Pass1";

/// One fixture user.
#[derive(Debug, Clone)]
pub struct LabUser {
    /// sAMAccountName.
    pub sam: String,
    /// DN.
    pub dn: String,
    /// mail.
    pub mail: String,
}

/// A test's OU with its group and users.
#[derive(Debug, Clone)]
pub struct LabFixture {
    /// The OU.
    pub ou_dn: String,
    /// The group every user is a member of (use it as sync and rotation group).
    pub group_dn: String,
    /// The users, in the order given.
    pub users: Vec<LabUser>,
}

/// Builds (again) `OU=kw-NAME` in lab domain `domain` (1 or 2) with group `kwg-NAME` and one
/// enabled user per entry of `users` (sAMAccountName `NAME-USER`, at most 20 characters), all
/// with [`FIXTURE_PASSWORD`]. With `pso_min_length`, a password settings object on the group
/// demands at least that many characters, so the domain refuses shorter passwords.
pub fn lab_fixture(
    lab: &HashMap<String, String>,
    domain: u8,
    name: &str,
    users: &[&str],
    pso_min_length: Option<u32>,
) -> LabFixture {
    let pso = pso_min_length.map(|min_length| PsoRules {
        min_length,
        lockout_threshold: 0,
    });
    build_fixture(lab, domain, name, users, pso)
}

/// [`lab_fixture`] with a password settings object on the group that locks an account out
/// after `threshold` wrong passwords within 30 minutes (for 30 minutes): a test that must
/// never cause a lockout can then see one.
pub fn lab_fixture_with_lockout(
    lab: &HashMap<String, String>,
    domain: u8,
    name: &str,
    users: &[&str],
    threshold: u32,
) -> LabFixture {
    let pso = PsoRules {
        min_length: 7,
        lockout_threshold: threshold,
    };
    build_fixture(lab, domain, name, users, Some(pso))
}

/// What a fixture's password settings object demands.
#[derive(Debug, Clone, Copy)]
struct PsoRules {
    min_length: u32,
    lockout_threshold: u32,
}

fn build_fixture(
    lab: &HashMap<String, String>,
    domain: u8,
    name: &str,
    users: &[&str],
    pso: Option<PsoRules>,
) -> LabFixture {
    let var = |k: &str| lab[&format!("KWLAB_AD{domain}_{k}")].clone();
    let base = var("BASE_DN");
    let realm = var("REALM").to_lowercase();
    let ou_dn = format!("OU=kw-{name},{base}");
    let pso_dn = format!("CN=kw-pso-{name},CN=Password Settings Container,CN=System,{base}");
    ldap(lab, domain, "ldapdelete", &["-r", &ou_dn], None, true);
    ldap(lab, domain, "ldapdelete", &[&pso_dn], None, true);
    let group_dn = format!("CN=kwg-{name},{ou_dn}");
    let mut ldif = format!(
        "dn: {ou_dn}\nobjectClass: organizationalUnit\n\n\
         dn: {group_dn}\nobjectClass: group\nsAMAccountName: kwg-{name}\n\n"
    );
    let mut made = Vec::new();
    for user in users {
        let sam = format!("{name}-{user}");
        assert!(sam.len() <= 20, "sAMAccountName {sam} is longer than 20");
        let dn = format!("CN={sam},{ou_dn}");
        let mail = format!("{user}@{name}.example.com");
        write!(
            ldif,
            "dn: {dn}\nobjectClass: user\nsAMAccountName: {sam}\nuserPrincipalName: {sam}@{realm}\n\
             mail: {mail}\ngivenName: {user}\nsn: Fixture\ndisplayName: {user} Fixture\n\
             unicodePwd:: {}\nuserAccountControl: 512\n\n",
            unicode_pwd_base64(FIXTURE_PASSWORD)
        )
        .expect("writing to a String");
        made.push(LabUser { sam, dn, mail });
    }
    ldap(lab, domain, "ldapadd", &[], Some(&ldif), false);
    delegate_password_reset(lab, domain, &ou_dn);
    let mut members = format!("dn: {group_dn}\nchangetype: modify\nadd: member\n");
    for u in &made {
        writeln!(members, "member: {}", u.dn).expect("writing to a String");
    }
    members.push('\n');
    ldap(lab, domain, "ldapmodify", &[], Some(&members), false);
    if let Some(PsoRules {
        min_length: min,
        lockout_threshold,
    }) = pso
    {
        let pso = format!(
            "dn: {pso_dn}\nobjectClass: msDS-PasswordSettings\n\
             msDS-PasswordSettingsPrecedence: 1\nmsDS-PasswordReversibleEncryptionEnabled: FALSE\n\
             msDS-PasswordHistoryLength: 0\nmsDS-PasswordComplexityEnabled: TRUE\n\
             msDS-MinimumPasswordLength: {min}\nmsDS-MinimumPasswordAge: 0\n\
             msDS-MaximumPasswordAge: -37108517437440\nmsDS-LockoutThreshold: {lockout_threshold}\n\
             msDS-LockoutObservationWindow: -18000000000\nmsDS-LockoutDuration: -18000000000\n\
             msDS-PSOAppliesTo: {group_dn}\n\n"
        );
        ldap(lab, domain, "ldapadd", &[], Some(&pso), false);
    }
    LabFixture {
        ou_dn,
        group_dn,
        users: made,
    }
}

/// Gives the lab's service account (`KWLAB_ADn_BIND_DN`) on `ou_dn` what keyward's rotation
/// needs on the users under it, as lab/service-accounts.sh does on `OU=KeywardLab`: Reset
/// Password and Write pwdLastSet, inherited by user objects. Through the DC's own database
/// with samba-tool, because an LDAP client cannot write a security descriptor as text.
pub fn delegate_password_reset(lab: &HashMap<String, String>, domain: u8, ou_dn: &str) {
    const RESET_PASSWORD: &str = "00299570-246d-11d0-a768-00aa006e0529";
    const PWD_LAST_SET: &str = "bf967a0a-0de6-11d0-a285-00aa003049e2";
    const USER_CLASS: &str = "bf967aba-0de6-11d0-a285-00aa003049e2";
    let var = |k: &str| lab[&format!("KWLAB_AD{domain}_{k}")].clone();
    let (datadir, sid) = (var("DATADIR"), var("SVC_SID"));
    let sddl = format!(
        "(OA;CIIO;CR;{RESET_PASSWORD};{USER_CLASS};{sid})(OA;CIIO;WP;{PWD_LAST_SET};{USER_CLASS};{sid})"
    );
    let out = Command::new("samba-tool")
        .args(["dsacl", "set", "-s"])
        .arg(format!("{datadir}/etc/smb.conf"))
        .arg("-H")
        .arg(format!("{datadir}/private/sam.ldb"))
        .arg(format!("--objectdn={ou_dn}"))
        .arg(format!("--sddl={sddl}"))
        .output()
        .expect("samba-tool (the lab's Samba)");
    assert!(
        out.status.success(),
        "samba-tool dsacl set on {ou_dn}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sets a fixture user's password back (an administrator's reset).
pub fn lab_reset_password(lab: &HashMap<String, String>, domain: u8, dn: &str, password: &str) {
    let ldif = format!(
        "dn: {dn}\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: {}\n-\n\n",
        unicode_pwd_base64(password)
    );
    ldap(lab, domain, "ldapmodify", &[], Some(&ldif), false);
}

/// True when `dn` can bind with `password` (a simple bind and a `rootDSE` read over LDAPS; Samba
/// has no `WhoAmI` extended operation).
pub fn lab_can_bind(lab: &HashMap<String, String>, domain: u8, dn: &str, password: &str) -> bool {
    let var = |k: &str| lab[&format!("KWLAB_AD{domain}_{k}")].clone();
    Command::new("ldapsearch")
        .args(["-x", "-H", &var("LDAPS_URL"), "-D", dn, "-w", password])
        .args(["-s", "base", "-b", "", "-LLL", "1.1"])
        .env("LDAPTLS_CACERT", var("CA_CERT"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ldapsearch (ldap-utils)")
        .success()
}

/// The values of `attributes` on the entry `dn` of lab domain `domain`, read as its
/// administrator (an attribute without a value is absent from the map).
pub fn lab_attributes(
    lab: &HashMap<String, String>,
    domain: u8,
    dn: &str,
    attributes: &[&str],
) -> HashMap<String, String> {
    let var = |k: &str| lab[&format!("KWLAB_AD{domain}_{k}")].clone();
    let out = Command::new("ldapsearch")
        .args(["-x", "-H", &var("LDAPS_URL"), "-D", &var("ADMIN_DN"), "-w"])
        .arg(var("ADMIN_PASSWORD"))
        .args(["-o", "ldif-wrap=no", "-LLL", "-s", "base", "-b", dn])
        .args(attributes)
        .env("LDAPTLS_CACERT", var("CA_CERT"))
        .output()
        .expect("ldapsearch (ldap-utils)");
    assert!(
        out.status.success(),
        "ldapsearch {dn}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Applies `ldif` (changetype records) to lab domain `domain` as its administrator.
pub fn lab_modify(lab: &HashMap<String, String>, domain: u8, ldif: &str) {
    ldap(lab, domain, "ldapmodify", &[], Some(ldif), false);
}

fn ldap(
    lab: &HashMap<String, String>,
    domain: u8,
    tool: &str,
    args: &[&str],
    input: Option<&str>,
    tolerate_failure: bool,
) {
    let var = |k: &str| lab[&format!("KWLAB_AD{domain}_{k}")].clone();
    let mut child = Command::new(tool)
        .args([
            "-x",
            "-H",
            &var("LDAPS_URL"),
            "-D",
            &var("ADMIN_DN"),
            "-w",
            &var("ADMIN_PASSWORD"),
        ])
        .args(args)
        .env("LDAPTLS_CACERT", var("CA_CERT"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} (ldap-utils): {e}"));
    if let Some(text) = input {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write LDIF");
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("wait for ldap tool");
    assert!(
        tolerate_failure || out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn unicode_pwd_base64(password: &str) -> String {
    let quoted: Vec<u8> = format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    base64::engine::general_purpose::STANDARD.encode(quoted)
}
