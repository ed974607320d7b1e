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
}
