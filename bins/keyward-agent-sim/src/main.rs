//! `keyward-agent-sim`: a simulated workstation agent with simulated hardware keys.
//!
//! It plays an approved workstation against `keyward-server`'s agent API
//! (`docs/agent-api.md`) so that tests and demos can drive the whole key and rotation protocol
//! without hardware: it registers, reports keys, activates them, fetches what a key must store,
//! "writes" it into a simulated key and acknowledges it.
//!
//! # Not for real keys
//!
//! The simulated keys are a JSON state file (mode 0600) that holds the workstation's credential
//! and every password in clear text. It must never be used with real keys or real users'
//! accounts. It never prints a password except in `dump`, whose whole purpose is to show the
//! simulated key's memory so that a test can bind to AD with what the key holds.
//!
//! # Place in the workspace
//!
//! A binary that speaks HTTP/JSON only: it depends on no keyward crate, so it sees the API the
//! way an independent agent would, and a change of the wire format breaks its tests.
//!
//! # Exit codes
//!
//! See [`failure`]: `0` success, `1` server or network error, `2` usage, `3` workstation not
//! approved, `4` state file problem.
//!
//! # Example
//!
//! ```sh
//! keyward-agent-sim register --name WS-042
//! keyward workstations approve 0193…
//! keyward-agent-sim activate HK-0001 12345678
//! keyward-agent-sim sync
//! keyward-agent-sim dump HK-0001
//! ```

mod cli;
mod client;
mod commands;
mod failure;
mod secret;
mod state;
mod wire;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("keyward-agent-sim: cannot start the async runtime: {e}");
            return ExitCode::from(failure::SERVER);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // One line, whatever the server put in its message.
            let message = failure.message.replace(['\n', '\r'], " ");
            eprintln!("keyward-agent-sim: {message}");
            ExitCode::from(failure.exit_code)
        }
    }
}
