//! `keyward directory list|test`.

use keyward_api::{DirectoryDto, DirectoryTestDto};

use crate::backend::Backend;
use crate::cli::{DirectoryCommand, OutputFormat};
use crate::exit::Failure;
use crate::output;
use crate::remote::NO_QUERY;

pub async fn run(
    backend: &Backend,
    cmd: DirectoryCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    match cmd {
        DirectoryCommand::List => {
            let all = list(backend).await?;
            match format {
                OutputFormat::Json => output::json(&all),
                OutputFormat::Text => output::table(
                    &["NAME", "URLS", "SYNC GROUP", "PRIORITY"],
                    &all.iter()
                        .map(|d| {
                            vec![
                                d.name.clone(),
                                d.urls.join(" "),
                                d.sync_group.clone(),
                                d.priority.to_string(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
        DirectoryCommand::Test { name } => {
            // With --server the test runs on the server: its network, its CA, its password.
            let report: DirectoryTestDto = match backend {
                Backend::Direct(k) => k.directories().test(&name).await?.into(),
                Backend::Remote(r) => r.post_empty(&["directories", &name, "test"]).await?,
            };
            match format {
                OutputFormat::Json => output::json(&report),
                OutputFormat::Text => print_report(&report),
            }
            if !report.problems.is_empty() {
                return Err(Failure {
                    code: "directory",
                    exit_code: crate::exit::DIRECTORY,
                    message: format!(
                        "directory {}: {} problem(s) found: {}",
                        report.name,
                        report.problems.len(),
                        report.problems.join("; ")
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The configured directories (of the server, with --server).
pub async fn list(backend: &Backend) -> Result<Vec<DirectoryDto>, Failure> {
    match backend {
        Backend::Direct(k) => Ok(k
            .directories()
            .list()
            .iter()
            .map(DirectoryDto::from)
            .collect()),
        Backend::Remote(r) => r.get(&["directories"], NO_QUERY).await,
    }
}

fn print_report(r: &DirectoryTestDto) {
    let yes = |b: bool| if b { "yes" } else { "no" };
    println!("directory:      {}", r.name);
    println!(
        "connected:      {} ({})",
        r.url,
        if r.encrypted {
            "encrypted"
        } else {
            "NOT encrypted"
        }
    );
    println!("bound as:       {}", r.bound_as);
    println!("base DN:        {}", r.base_dn);
    println!(
        "NetBIOS name:   {}",
        r.netbios_name.as_deref().unwrap_or("-")
    );
    println!(
        "DC:             {}",
        r.dns_host_name.as_deref().unwrap_or("-")
    );
    println!(
        "supports:       paged results {}, VLV {}, IN_CHAIN {}, DirSync {}",
        yes(r.supports.paged_results),
        yes(r.supports.vlv),
        yes(r.supports.in_chain),
        yes(r.supports.dirsync)
    );
    println!("membership:     {}", r.membership);
    for g in &r.groups {
        println!(
            "{:<15} {} -> {} ({} users{})",
            format!("{} group:", g.role),
            g.configured,
            g.dn,
            g.users,
            if g.skipped > 0 {
                format!(", {} skipped", g.skipped)
            } else {
                String::new()
            }
        );
    }
    let account = &r.service_account;
    println!(
        "service account: {} ({}, {} groups, {})",
        account.dn,
        account.sid,
        account.groups,
        if account.sees_deleted_users {
            "sees deleted users"
        } else {
            "sees NO deleted users"
        }
    );
    println!(
        "domain policy:  {}",
        policy_line(&r.password_policies.domain)
    );
    match (
        &r.password_policies.fine_grained,
        &r.password_policies.fine_grained_unreadable,
    ) {
        (Some(all), _) if all.is_empty() => println!("fine-grained:   none"),
        (Some(all), _) => {
            for p in all {
                println!("fine-grained:   {} ({})", p.dn, policy_line(p));
            }
        }
        (None, why) => println!(
            "fine-grained:   cannot be read: {}",
            why.as_deref().unwrap_or("?")
        ),
    }
    if r.sampled_members.is_empty() {
        println!("rights:         no rotation-group member to check");
    }
    for m in &r.sampled_members {
        println!(
            "member:         {}: Reset Password {}, Write pwdLastSet {}, policy {}, generated length {}",
            m.dn,
            m.reset_password,
            yes(m.write_pwd_last_set),
            m.policy.as_deref().unwrap_or("unknown"),
            m.generated_length
                .map_or_else(|| "-".to_owned(), |n| n.to_string())
        );
    }
    for w in &r.warnings {
        println!("warning:        {w}");
    }
    for p in &r.problems {
        println!("PROBLEM:        {p}");
    }
}

fn policy_line(p: &keyward_api::PasswordPolicyDto) -> String {
    let days = |secs: u64| format!("{} days", secs / 86_400);
    format!(
        "{}min length {}, complexity {}, history {}, min age {}, max age {}, lockout {}",
        p.precedence
            .map_or_else(String::new, |n| format!("precedence {n}, ")),
        p.min_length,
        if p.complexity { "on" } else { "off" },
        p.history_length,
        days(p.min_age_secs),
        p.max_age_secs.map_or_else(|| "never".to_owned(), days),
        if p.lockout_threshold == 0 {
            "never".to_owned()
        } else {
            format!("after {} wrong passwords", p.lockout_threshold)
        }
    )
}
