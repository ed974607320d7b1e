//! Incremental runs see everything a full run sees, against the two real Samba AD domains
//! (issue 12, item 3).
//!
//! Each backend gets its own fixture in both domains: an OU `kw-NAME` (the directory's
//! `base_dn`) with the sync group, a sub-group nested in it (also the rotation group) and the
//! same six users in both domains (so that they merge by e-mail; every other one is a member of
//! the sub-group only), plus an OU `kw-NAME-out` outside the base. Then, for a few rounds, a seeded random batch of directory changes is
//! applied to both domains (mail changes, also to a mail the other domain's person has, so that
//! employees merge and split; renames of displayName and of the CN; sync group add/remove;
//! sub-group add/remove; disable/enable; delete; move out of the base and back; re-creating a
//! deleted user with the same mail), `keyward sync` runs incrementally on both directories of
//! the main database, a full sync of both directories builds a fresh database, and the two are
//! compared.
//!
//! What is compared: the accounts in scope, as (key `directory/objectGUID`, DN,
//! sAMAccountName, userPrincipalName, mail, displayName, enabled, in the rotation group, the
//! e-mail of their employee), and the employees that have an account in scope, as (e-mail,
//! status, display name, the set of their accounts in scope). Accounts out of scope are left
//! out on purpose: the main database keeps them, marked missing, for the grace period
//! (`sync.grace_days`), and so keeps the employees that have only such accounts (disabled);
//! a database built from scratch never stores either. That is a difference of history, not of
//! what the runs saw. The fresh database is also checked against the test's own model of the
//! directories (which sAMAccountNames are in scope), so that a change the lab did not take
//! fails the test rather than passing unnoticed.
//!
//! The seed is printed and in every failure message; `KEYWARD_TEST_SEED=N` replays a run.

// Test code: a panic is a failed test with its location. The model of a user is a bag of flags.
#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::struct_excessive_bools
)]

#[path = "support/target.rs"]
mod target;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::Instant;

use keyward_test_support::{TestDb, lab, lab_fixture, lab_modify};
use target::Cli;

const USERS: [&str; 6] = ["ann", "ben", "cat", "dan", "eve", "fay"];
const ROUNDS: usize = 8;
const CHANGES_PER_ROUND: usize = 6;
const USER_PASSWORD: &str = "Start#Pass1";

// ---------------------------------------------------------------------------------------------
// A small seeded generator (SplitMix64): enough for picking changes, no dependency.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn seed() -> u64 {
    std::env::var("KEYWARD_TEST_SEED").map_or_else(
        |_| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            // The low bits are the ones that vary.
            u64::try_from(nanos % u128::from(u64::MAX)).unwrap()
        },
        |s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("KEYWARD_TEST_SEED={s} is not a number"))
        },
    )
}

// ---------------------------------------------------------------------------------------------
// The model of the lab users.

/// One fixture user as the test left it.
#[derive(Debug, Clone)]
struct Person {
    domain: u8,
    name: &'static str,
    sam: String,
    cn: String,
    mail: String,
    exists: bool,
    in_base: bool,
    /// Direct member of the sync group.
    direct: bool,
    /// Member of the sub-group (nested in the sync group; the rotation group).
    nested: bool,
    enabled: bool,
}

/// The fixture of one domain.
#[derive(Debug, Clone)]
struct Domain {
    ou: String,
    out_ou: String,
    group: String,
    sub: String,
    realm: String,
}

struct World {
    fixture: String,
    domains: BTreeMap<u8, Domain>,
    people: Vec<Person>,
    /// Fresh mails and renames get a new number each.
    counter: u32,
}

impl Person {
    fn dn(&self, d: &Domain) -> String {
        let parent = if self.in_base { &d.ou } else { &d.out_ou };
        format!("CN={},{parent}", self.cn)
    }

    fn in_scope(&self) -> bool {
        self.exists && self.in_base && (self.direct || self.nested)
    }
}

/// One directory change, applicable to one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mail,
    Rename,
    GroupAdd,
    GroupRemove,
    NestedAdd,
    NestedRemove,
    Disable,
    Enable,
    Delete,
    MoveOut,
    MoveIn,
    Recreate,
}

impl World {
    fn applicable(p: &Person) -> Vec<Kind> {
        if !p.exists {
            return vec![Kind::Recreate];
        }
        let mut kinds = vec![Kind::Mail, Kind::Rename, Kind::Delete];
        kinds.push(if p.direct {
            Kind::GroupRemove
        } else {
            Kind::GroupAdd
        });
        kinds.push(if p.nested {
            Kind::NestedRemove
        } else {
            Kind::NestedAdd
        });
        kinds.push(if p.enabled {
            Kind::Disable
        } else {
            Kind::Enable
        });
        kinds.push(if p.in_base {
            Kind::MoveOut
        } else {
            Kind::MoveIn
        });
        kinds
    }

    /// Mails held by another existing user of `domain` (in the base or not): a new mail is
    /// never one of them, so that no run sees a same-directory duplicate (a conflict, which
    /// this test does not cover).
    fn taken(&self, domain: u8, except: usize) -> BTreeSet<String> {
        self.people
            .iter()
            .enumerate()
            .filter(|(i, p)| *i != except && p.domain == domain && p.exists)
            .map(|(_, p)| p.mail.clone())
            .collect()
    }

    /// Applies one random change to the lab and the model; its description.
    fn change(&mut self, lab: &HashMap<String, String>, rng: &mut Rng) -> String {
        loop {
            let i = rng.below(self.people.len());
            let kinds = Self::applicable(&self.people[i]);
            let kind = kinds[rng.below(kinds.len())];
            if let Some(done) = self.apply(lab, rng, i, kind) {
                return done;
            }
        }
    }

    fn apply(
        &mut self,
        lab: &HashMap<String, String>,
        rng: &mut Rng,
        i: usize,
        kind: Kind,
    ) -> Option<String> {
        let taken = self.taken(self.people[i].domain, i);
        self.counter += 1;
        let n = self.counter;
        let fixture = self.fixture.clone();
        let p = self.people[i].clone();
        let d = self.domains[&p.domain].clone();
        let dn = p.dn(&d);
        let member = |group: &str, op: &str| {
            format!("dn: {group}\nchangetype: modify\n{op}: member\nmember: {dn}\n-\n\n")
        };
        let move_to = |parent: &str| {
            format!(
                "dn: {dn}\nchangetype: modrdn\nnewrdn: CN={}\ndeleteoldrdn: 1\nnewsuperior: {parent}\n\n",
                p.cn
            )
        };
        let mut after = p.clone();
        let (ldif, what) = match kind {
            Kind::Mail => {
                // Half the time the mail of the other domain's person (they merge, and this
                // one splits off whatever it was merged with); else a fresh one or a base one.
                let other: Vec<String> = self
                    .people
                    .iter()
                    .filter(|o| o.domain != p.domain && o.exists)
                    .map(|o| o.mail.clone())
                    .collect();
                let mut candidates: Vec<String> = if rng.chance(50) {
                    other
                } else {
                    USERS
                        .iter()
                        .map(|u| format!("{u}@{fixture}.example.com"))
                        .chain([format!("{}.{n}@{fixture}.example.com", p.name)])
                        .collect()
                };
                candidates.retain(|m| !taken.contains(m) && *m != p.mail);
                if candidates.is_empty() {
                    return None;
                }
                let pick = rng.below(candidates.len());
                after.mail.clone_from(&candidates[pick]);
                (
                    format!(
                        "dn: {dn}\nchangetype: modify\nreplace: mail\nmail: {}\n-\n\n",
                        after.mail
                    ),
                    format!("mail {} -> {}", p.mail, after.mail),
                )
            }
            Kind::Rename => {
                let mut ldif = format!(
                    "dn: {dn}\nchangetype: modify\nreplace: displayName\ndisplayName: {} Renamed {n}\n-\n\n",
                    p.name
                );
                let mut what = format!("displayName \"{} Renamed {n}\"", p.name);
                if rng.chance(50) {
                    after.cn = format!("{}-r{n}", p.sam);
                    write!(
                        ldif,
                        "dn: {dn}\nchangetype: modrdn\nnewrdn: CN={}\ndeleteoldrdn: 1\n\n",
                        after.cn
                    )
                    .unwrap();
                    write!(what, " and CN={}", after.cn).unwrap();
                }
                (ldif, what)
            }
            Kind::GroupAdd => {
                after.direct = true;
                (member(&d.group, "add"), "sync group add".into())
            }
            Kind::GroupRemove => {
                after.direct = false;
                (member(&d.group, "delete"), "sync group remove".into())
            }
            Kind::NestedAdd => {
                after.nested = true;
                (member(&d.sub, "add"), "sub-group add".into())
            }
            Kind::NestedRemove => {
                after.nested = false;
                (member(&d.sub, "delete"), "sub-group remove".into())
            }
            Kind::Disable | Kind::Enable => {
                after.enabled = kind == Kind::Enable;
                let uac = if after.enabled { 512 } else { 514 };
                (
                    format!(
                        "dn: {dn}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: {uac}\n-\n\n"
                    ),
                    format!("userAccountControl {uac}"),
                )
            }
            Kind::Delete => {
                after.exists = false;
                after.direct = false;
                after.nested = false;
                (format!("dn: {dn}\nchangetype: delete\n\n"), "delete".into())
            }
            Kind::MoveOut => {
                after.in_base = false;
                (move_to(&d.out_ou), "move out of the base".into())
            }
            Kind::MoveIn => {
                after.in_base = true;
                (move_to(&d.ou), "move back into the base".into())
            }
            Kind::Recreate => {
                if taken.contains(&p.mail) {
                    return None;
                }
                after = Person {
                    cn: p.sam.clone(),
                    exists: true,
                    in_base: true,
                    direct: true,
                    nested: false,
                    enabled: true,
                    ..p.clone()
                };
                let new_dn = after.dn(&d);
                (
                    format!(
                        "dn: {new_dn}\nchangetype: add\nobjectClass: user\nsAMAccountName: {sam}\n\
                         userPrincipalName: {sam}@{realm}\nmail: {mail}\ngivenName: {name}\n\
                         sn: Fixture\ndisplayName: {name} Again {n}\nunicodePwd:: {pwd}\n\
                         userAccountControl: 512\n\n\
                         dn: {group}\nchangetype: modify\nadd: member\nmember: {new_dn}\n-\n\n",
                        sam = p.sam,
                        realm = d.realm,
                        mail = p.mail,
                        name = p.name,
                        pwd = unicode_pwd(USER_PASSWORD),
                        group = d.group,
                    ),
                    format!("re-create with mail {}", p.mail),
                )
            }
        };
        lab_modify(lab, p.domain, &ldif);
        self.people[i] = after;
        Some(format!("corp{} {}: {what}", p.domain, p.sam))
    }

    /// The sAMAccountNames in scope, per directory, as the model says.
    fn expected(&self) -> BTreeSet<(String, String)> {
        self.people
            .iter()
            .filter(|p| p.in_scope())
            .map(|p| (format!("corp{}", p.domain), p.sam.clone()))
            .collect()
    }
}

/// `unicodePwd` as LDIF wants it: the quoted password in UTF-16LE, in base64.
fn unicode_pwd(password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Builds the fixture of `name` in both domains.
fn build(lab: &HashMap<String, String>, name: &str) -> World {
    let mut domains = BTreeMap::new();
    let mut people = Vec::new();
    for domain in [1, 2] {
        // The outside OU first: it holds the users an earlier run moved out of the base, whose
        // sAMAccountNames the fixture is about to use again. (`lab_fixture` wants one user; it
        // is out of the base, so never in scope.)
        let out = lab_fixture(lab, domain, &format!("{name}-out"), &["x"], None);
        let fx = lab_fixture(lab, domain, name, &USERS, None);
        // Every other user is in scope through the sub-group only (so in the rotation group).
        let sub = format!("CN=kwg-{name}-sub,{}", fx.ou_dn);
        let nested: Vec<&str> = fx.users.iter().step_by(2).map(|u| u.dn.as_str()).collect();
        let members = |op: &str| {
            nested.iter().fold(format!("{op}: member\n"), |all, dn| {
                all + "member: " + dn + "\n"
            })
        };
        lab_modify(
            lab,
            domain,
            &format!(
                "dn: {sub}\nchangetype: add\nobjectClass: group\nsAMAccountName: kwg-{name}-sub\n\n\
                 dn: {sub}\nchangetype: modify\n{}-\n\n\
                 dn: {group}\nchangetype: modify\nadd: member\nmember: {sub}\n-\n{}-\n\n",
                members("add"),
                members("delete"),
                group = fx.group_dn,
            ),
        );
        for (k, (user, made)) in USERS.iter().zip(&fx.users).enumerate() {
            people.push(Person {
                domain,
                name: user,
                sam: made.sam.clone(),
                cn: made.sam.clone(),
                mail: made.mail.clone(),
                exists: true,
                in_base: true,
                direct: k % 2 == 1,
                nested: k % 2 == 0,
                enabled: true,
            });
        }
        domains.insert(
            domain,
            Domain {
                ou: fx.ou_dn,
                out_ou: out.ou_dn,
                group: fx.group_dn,
                sub,
                realm: lab[&format!("KWLAB_AD{domain}_REALM")].to_lowercase(),
            },
        );
    }
    World {
        fixture: name.to_owned(),
        domains,
        people,
        counter: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// keyward on one database.

struct Keyward(Cli);

impl Keyward {
    /// A configuration with both directories of `world` (base: the fixture OU; sync group: the
    /// fixture group; rotation group: the nested sub-group), on database `db`, migrated, planning
    /// and writing `batch_accounts` accounts at a time.
    fn new(lab: &HashMap<String, String>, world: &World, db: &str, batch_accounts: u32) -> Self {
        let mut directories = String::new();
        for (domain, d) in &world.domains {
            let var = |k: &str| lab[&format!("KWLAB_AD{domain}_{k}")].clone();
            write!(
                directories,
                "[[directories]]\nname = \"corp{domain}\"\nurls = [\"{}\"]\nca_file = \"{}\"\n\
                 bind_dn = \"{}\"\nbind_password_env = \"KWA_CORP{domain}\"\nbase_dn = \"{}\"\n\
                 sync_group = \"{}\"\nrotation_group = \"{}\"\npriority = {}\n\n",
                var("LDAPS_URL"),
                var("CA_CERT"),
                var("BIND_DN"),
                d.ou,
                d.group,
                d.sub,
                if *domain == 1 { 10 } else { 0 },
            )
            .unwrap();
        }
        Self(Cli::new(
            lab.clone(),
            &format!("max_removal_percent = 100\nbatch_accounts = {batch_accounts}"),
            &directories,
            db,
        ))
    }

    /// `keyward sync` of both directories; the modes of the runs.
    fn sync(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["sync"];
        all.extend_from_slice(args);
        let reports = self.0.run(&all);
        reports
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert!(r["error"].is_null(), "{r}");
                assert_eq!(r["held"], 0, "no removal is held: {r}");
                r["mode"].as_str().unwrap_or("?").to_owned()
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// What the two databases must agree on.

/// An account in scope: DN, sAMAccountName, userPrincipalName, mail, displayName, enabled, in
/// the rotation group, and the e-mail of its employee.
type AccountView = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    bool,
    Option<String>,
);

/// An employee with an account in scope: e-mail, status, display name, accounts in scope.
type EmployeeView = (Option<String>, String, String, BTreeSet<String>);

#[derive(Debug, PartialEq, Eq)]
struct View {
    accounts: BTreeMap<String, AccountView>,
    employees: BTreeSet<EmployeeView>,
    /// (directory, sAMAccountName) of the accounts in scope, to compare with the model.
    sams: BTreeSet<(String, String)>,
    /// Accounts marked missing (kept for the grace period); not compared.
    missing: usize,
}

async fn view(db: &str) -> View {
    let store = keyward_store::Store::connect(db).await.unwrap();
    let accounts = store.all_accounts().await.unwrap();
    let employees = store.all_employees().await.unwrap();
    let email_of: HashMap<_, _> = employees
        .iter()
        .map(|e| (e.id, e.email.as_ref().map(|m| m.as_str().to_owned())))
        .collect();
    let mut keys_of: HashMap<_, BTreeSet<String>> = HashMap::new();
    let mut out = View {
        accounts: BTreeMap::new(),
        employees: BTreeSet::new(),
        sams: BTreeSet::new(),
        missing: 0,
    };
    for a in &accounts {
        if a.missing_since.is_some() {
            out.missing += 1;
            continue;
        }
        let key = format!("{}/{}", a.directory, a.object_guid);
        keys_of
            .entry(a.employee_id)
            .or_default()
            .insert(key.clone());
        out.sams.insert((
            a.directory.to_string(),
            a.sam_account_name.clone().unwrap_or_default(),
        ));
        out.accounts.insert(
            key,
            (
                a.dn.clone(),
                a.sam_account_name.clone(),
                a.user_principal_name.clone(),
                a.mail.as_ref().map(|m| m.as_str().to_owned()),
                a.display_name.clone(),
                a.enabled,
                a.in_rotation_group,
                email_of.get(&a.employee_id).cloned().flatten(),
            ),
        );
    }
    for e in &employees {
        if let Some(keys) = keys_of.remove(&e.id) {
            out.employees.insert((
                e.email.as_ref().map(|m| m.as_str().to_owned()),
                e.status.as_str().to_owned(),
                e.display_name.to_string(),
                keys,
            ));
        }
    }
    store.close().await.unwrap();
    out
}

/// What differs between the incremental and the full view, line by line.
fn differences(incremental: &View, full: &View) -> String {
    let mut out = String::new();
    let keys: BTreeSet<&String> = incremental
        .accounts
        .keys()
        .chain(full.accounts.keys())
        .collect();
    for key in keys {
        let (i, f) = (incremental.accounts.get(key), full.accounts.get(key));
        if i != f {
            writeln!(
                out,
                "  account {key}:\n    incremental {i:?}\n    full        {f:?}"
            )
            .unwrap();
        }
    }
    for e in incremental.employees.difference(&full.employees) {
        writeln!(out, "  employee only incremental: {e:?}").unwrap();
    }
    for e in full.employees.difference(&incremental.employees) {
        writeln!(out, "  employee only full:        {e:?}").unwrap();
    }
    out
}

async fn differential(fixture: &str, backend: &str) {
    let Some(lab) = lab() else { return };
    let seed = seed();
    eprintln!("{backend}: seed {seed} (replay with KEYWARD_TEST_SEED={seed})");
    let started = Instant::now();
    let mut rng = Rng(seed);
    let mut world = build(&lab, fixture);
    let fresh_db = || async {
        if backend == "postgres" {
            TestDb::postgres().await
        } else {
            Some(TestDb::sqlite_file())
        }
    };
    let Some(main_db) = fresh_db().await else {
        return;
    };
    // The incremental side works in batches of two accounts (many transactions, components
    // cut apart); the full side in one batch: they must still agree.
    let main = Keyward::new(&lab, &world, &main_db.url, 2);
    assert_eq!(main.sync(&[]), ["full", "full"], "seed {seed}");
    let mut history = String::new();
    for round in 1..=ROUNDS {
        writeln!(history, "round {round}:").unwrap();
        for _ in 0..CHANGES_PER_ROUND {
            let done = world.change(&lab, &mut rng);
            writeln!(history, "  {done}").unwrap();
        }
        let modes = main.sync(&[]);
        assert_eq!(
            modes,
            ["incremental", "incremental"],
            "seed {seed}, round {round}"
        );
        let fresh = fresh_db().await.unwrap();
        let rebuilt = Keyward::new(&lab, &world, &fresh.url, 5_000);
        assert_eq!(rebuilt.sync(&[]), ["full", "full"], "seed {seed}");
        let (incremental, full) = (view(&main_db.url).await, view(&fresh.url).await);
        assert_eq!(
            full.sams,
            world.expected(),
            "{backend}, seed {seed}, round {round}: the full run does not match the model\n{history}"
        );
        assert_eq!(full.missing, 0, "seed {seed}");
        assert!(
            incremental.accounts == full.accounts && incremental.employees == full.employees,
            "{backend}, seed {seed}, round {round}: the incremental runs differ from a full run\n{}\n{history}",
            differences(&incremental, &full)
        );
    }
    eprintln!(
        "{backend}: seed {seed}, {ROUNDS} rounds of {CHANGES_PER_ROUND} changes, incremental = full, in {:.1?}\n{history}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_runs_equal_a_full_run_on_sqlite() {
    differential("diffs", "sqlite").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_runs_equal_a_full_run_on_postgres() {
    differential("diffp", "postgres").await;
}
