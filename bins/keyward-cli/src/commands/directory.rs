//! `keyward directory list|test`.

use keyward_service::{DirectoryTestReport, Keyward};
use serde_json::json;

use crate::cli::{DirectoryCommand, OutputFormat};
use crate::exit::Failure;
use crate::output;

pub async fn run(
    keyward: &Keyward,
    cmd: DirectoryCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    let directories = keyward.directories();
    match cmd {
        DirectoryCommand::List => {
            let all = directories.list();
            match format {
                OutputFormat::Json => output::json(
                    &all.iter()
                        .map(|d| {
                            json!({
                                "name": d.name,
                                "urls": d.urls,
                                "bind_dn": d.bind_dn,
                                "base_dn": d.base_dn,
                                "sync_group": d.sync_group,
                                "rotation_group": d.rotation_group,
                                "priority": d.priority,
                            })
                        })
                        .collect::<Vec<_>>(),
                ),
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
            let report = directories.test(&name).await?;
            match format {
                OutputFormat::Json => output::json(&report_json(&report)),
                OutputFormat::Text => print_report(&report),
            }
        }
    }
    Ok(())
}

fn report_json(r: &DirectoryTestReport) -> serde_json::Value {
    json!({
        "name": r.name,
        "url": r.url,
        "encrypted": r.encrypted,
        "bound_as": r.bound_as,
        "base_dn": r.base_dn,
        "netbios_name": r.netbios_name,
        "dns_host_name": r.dns_host_name,
        "highest_committed_usn": r.highest_committed_usn,
        "invocation_id": r.invocation_id,
        "supports": {
            "paged_results": r.paged_results,
            "vlv": r.vlv,
            "in_chain": r.in_chain,
            "dirsync": r.dirsync,
        },
        "membership": r.membership,
        "groups": r.groups.iter().map(|g| json!({
            "role": g.role,
            "configured": g.configured,
            "dn": g.dn,
            "users": g.users,
            "skipped": g.skipped,
        })).collect::<Vec<_>>(),
    })
}

fn print_report(r: &DirectoryTestReport) {
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
        yes(r.paged_results),
        yes(r.vlv),
        yes(r.in_chain),
        yes(r.dirsync)
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
}
