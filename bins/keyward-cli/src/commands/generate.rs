//! `keyward completions SHELL` and the hidden `keyward man-pages DIR`: files generated from the
//! command-line grammar itself, so they never fall behind it. Both work without a
//! configuration, a database or a server: they only read the grammar.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::CommandFactory as _;
use clap_complete::Shell;
use serde_json::json;

use crate::cli::{Cli, OutputFormat};
use crate::exit::{Failure, INTERNAL, USAGE};
use crate::output;

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: Shell) -> Result<(), Failure> {
    let mut script = Vec::new();
    let mut command = without_hidden(&Cli::command()).propagate_version(true);
    clap_complete::generate(shell, &mut command, "keyward", &mut script);
    std::io::stdout()
        .write_all(&script)
        .map_err(|e| failure(INTERNAL, format!("cannot write the completion script: {e}")))
}

/// `command` without its hidden subcommands and arguments, which `clap_complete` would offer
/// like any other: the names, help texts, arguments and subcommands the scripts are made of.
fn without_hidden(command: &clap::Command) -> clap::Command {
    let mut visible = clap::Command::new(command.get_name().to_owned())
        .args(
            command
                .get_arguments()
                .filter(|a| !a.is_hide_set())
                .cloned(),
        )
        .subcommands(
            command
                .get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(without_hidden),
        );
    if let Some(about) = command.get_about() {
        visible = visible.about(about.clone());
    }
    if let Some(version) = command.get_version() {
        visible = visible.version(version.to_owned());
    }
    visible
}

/// Writes `keyward.1` and one page per visible subcommand (`keyward-keys-assign.1`) into
/// `dir`, created if missing, and lists them.
pub fn man_pages(dir: &Path, format: OutputFormat) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| failure(USAGE, format!("cannot create {}: {e}", dir.display())))?;
    // Built first, so that each subcommand has its full name (`keyward-keys-assign`) and the
    // global options; `help` is not a page of its own.
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let mut written = Vec::new();
    write_pages(&command, dir, &mut written)?;
    match format {
        OutputFormat::Json => output::json(&json!({ "pages": written })),
        OutputFormat::Text => {
            for page in &written {
                println!("{}", page.display());
            }
        }
    }
    Ok(())
}

/// The page of `command`, then those of its visible subcommands, depth first.
fn write_pages(
    command: &clap::Command,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), Failure> {
    // The footer names the program, not the subcommand (`assign 0.1.0`).
    let page = clap_mangen::Man::new(command.clone())
        .source(concat!("keyward ", env!("CARGO_PKG_VERSION")))
        .manual("keyward");
    let path = page.generate_to(dir).map_err(|e| {
        failure(
            INTERNAL,
            format!(
                "cannot write {}: {e}",
                dir.join(page.get_filename()).display()
            ),
        )
    })?;
    written.push(path);
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}

fn failure(exit_code: u8, message: String) -> Failure {
    Failure {
        code: if exit_code == USAGE {
            "invalid_input"
        } else {
            "internal"
        },
        exit_code,
        message,
    }
}
