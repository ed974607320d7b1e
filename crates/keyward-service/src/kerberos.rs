//! The process environment of Kerberos directories (`bind_method = "kerberos"`).
//!
//! MIT Kerberos takes the client keytab, the credential cache and its configuration from
//! environment variables, and a Rust program may not change its own environment once threads
//! run. So a binary calls [`enter_kerberos_environment`] right after loading its settings: when
//! a directory binds with Kerberos and the process lacks the variables, it starts itself again
//! (the same program, arguments and process id, through `exec`) with them and a new private
//! credential cache directory, which [`end_kerberos_environment`] removes when it ends. Nothing
//! happens for a configuration without Kerberos directories.

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;

use keyward_directory::{CCACHE_DIR_PREFIX, KerberosEnvironment, private_ccache_dir};

use crate::{Error, Result, Settings};

/// Set in the process started again, so that it never starts itself a second time. Not a
/// `KEYWARD_` variable: those are settings.
const STARTED: &str = "_KEYWARD_KRB5_STARTED";

/// The environment the Kerberos directories of `settings` need, `None` without any. Two
/// Kerberos directories that name different keytabs or krb5.conf files are a configuration
/// error (one process has one of each).
pub fn kerberos_environment(settings: &Settings) -> Result<Option<KerberosEnvironment>> {
    KerberosEnvironment::for_directories(&settings.directories)
        .map_err(|e| Error::Config(format!("[[directories]]: {e}")))
}

/// Makes sure this process runs with the Kerberos environment its settings need: returns at
/// once when none is needed or it is there already, and otherwise starts the program again with
/// it (it does not return then). Call it from `main` after loading the settings and before
/// starting anything: whatever was started is gone after the `exec`.
pub fn enter_kerberos_environment(settings: &Settings) -> Result<()> {
    let Some(env) = kerberos_environment(settings)? else {
        return Ok(());
    };
    // Started again and still not right: the check at connect names the variable.
    if env.is_current() || std::env::var_os(STARTED).is_some() {
        return Ok(());
    }
    let dir = private_ccache_dir().map_err(|e| {
        Error::Config(format!(
            "cannot create a private Kerberos credential cache directory in {}: {e}",
            std::env::temp_dir().display()
        ))
    })?;
    let exe = std::env::current_exe().map_err(|e| {
        Error::Config(format!(
            "cannot find this program to start it with Kerberos: {e}"
        ))
    });
    let exe = match exe {
        Ok(exe) => exe,
        Err(e) => {
            let _ = std::fs::remove_dir(&dir);
            return Err(e);
        }
    };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        command.arg0(arg0);
    }
    command
        .args(args)
        .envs(env.variables(&dir))
        .env(STARTED, OsString::from("1"));
    let e = command.exec();
    let _ = std::fs::remove_dir(&dir);
    Err(Error::Config(format!(
        "cannot start again with the Kerberos environment: {e}"
    )))
}

/// Removes the credential cache directory (the tickets) [`enter_kerberos_environment`] made for
/// this process, if it made one. A binary calls it as it ends.
pub fn end_kerberos_environment() {
    if let Some(dir) = own_ccache_dir() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The credential cache directory of this process when [`enter_kerberos_environment`] made it.
fn own_ccache_dir() -> Option<PathBuf> {
    std::env::var_os(STARTED)?;
    let ccache = std::env::var_os(keyward_directory::ENV_CCACHE)?;
    let dir = PathBuf::from(ccache.to_str()?.strip_prefix("DIR:")?);
    dir.file_name()?
        .to_str()?
        .starts_with(CCACHE_DIR_PREFIX)
        .then_some(dir)
}
