//! `keyward`: the administrator's command line. It works directly on the database and
//! configuration the server uses, or with `--server URL` through a running server's admin API
//! (the same output and exit codes). Exit codes are listed in [`exit`] and in the README.

mod backend;
mod cli;
mod commands;
mod exit;
mod output;
mod remote;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keyward: cannot start the async runtime: {e}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    let format = cli.global.output;
    let outcome = runtime.block_on(commands::run(cli));
    // The tickets of a Kerberos directory, when this run had any.
    keyward_service::end_kerberos_environment();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            output::print_failure(format, &failure);
            ExitCode::from(failure.exit_code)
        }
    }
}
