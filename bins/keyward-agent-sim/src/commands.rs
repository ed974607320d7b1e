//! The commands: each loads the state file, calls the server and prints one JSON document.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::cli::{Cli, Command, PasswordMode};
use crate::client::{Client, Server};
use crate::failure::{self, Failure};
use crate::secret::Secret;
use crate::state::{Registration, SimKey, StateError, StateFile};
use crate::wire::{PasswordChange, PasswordChanged, WorkstationView, credential_fingerprint};

/// The reason a simulated key gives when it locks itself.
const LOCK_REASON: &str = "locked_by_invalid_pin";

/// What `sync` did to one key. Never a password.
#[derive(Debug, Default, Serialize)]
struct SyncReport {
    serial: String,
    status: String,
    written: usize,
    removed: usize,
    wiped: bool,
    acknowledged: u64,
}

/// Runs `cli`'s command.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::ManPages { dir } = &cli.command {
        return write_man_pages(dir);
    }
    let mut file = StateFile::load(&cli.state_file)?;
    let server = cli.server();
    match cli.command {
        Command::Register {
            name,
            force,
            registration_secret_file,
        } => {
            let secret = registration_secret_file
                .as_deref()
                .map(read_registration_secret)
                .transpose()?;
            register(&server, &mut file, &name, force, secret.as_ref()).await
        }
        Command::Status => print(&client(&server, &file)?.me().await?),
        Command::Activate { serial, code } => activate(&server, &mut file, &serial, &code).await,
        Command::Sync { no_ack } => sync(&server, &mut file, no_ack).await,
        Command::Lock { serial } => {
            let client = client(&server, &file)?;
            report_with_proof(&client, &mut file, &serial).await?;
            print(&client.lock(&serial, LOCK_REASON).await?)
        }
        Command::RenewProof { serial } => renew_proof(&server, &mut file, &serial).await,
        Command::ChangePassword {
            serial,
            directory,
            object_guid,
            mode,
            password_file,
        } => {
            let password = password_file.as_deref().map(read_password).transpose()?;
            change_password(
                &server,
                &mut file,
                &serial,
                &directory,
                &object_guid,
                mode,
                password,
            )
            .await
        }
        Command::Dump { serial } => print(&file.key(&serial)?.dump(&serial)),
        Command::ManPages { dir } => write_man_pages(&dir),
    }
}

/// keyward-agent-sim.1 and a page per visible command, generated from the grammar.
fn write_man_pages(dir: &Path) -> Result<(), Failure> {
    /// The page of `command`, then those of its visible subcommands.
    fn write(command: &clap::Command, dir: &Path) -> std::io::Result<()> {
        clap_mangen::Man::new(command.clone())
            .source(concat!("keyward-agent-sim ", env!("CARGO_PKG_VERSION")))
            .manual("keyward")
            .generate_to(dir)?;
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            write(sub, dir)?;
        }
        Ok(())
    }
    // Built first, so that each subcommand has its full name (`keyward-agent-sim-sync`).
    let mut command = <Cli as clap::CommandFactory>::command().disable_help_subcommand(true);
    command.build();
    std::fs::create_dir_all(dir)
        .and_then(|()| write(&command, dir))
        .map_err(|e| {
            Failure::new(
                failure::USAGE,
                format!("cannot write the manual pages into {}: {e}", dir.display()),
            )
        })
}

/// A client with the registration's credential.
fn client(server: &Server, file: &StateFile) -> Result<Client, Failure> {
    let credential = file.registration()?.credential.clone();
    Ok(Client::new(server, Some(credential))?)
}

/// The first line of the registration secret file.
fn read_registration_secret(path: &Path) -> Result<Secret, Failure> {
    let text = Secret::new(std::fs::read_to_string(path).map_err(|e| {
        Failure::new(
            failure::USAGE,
            format!(
                "cannot read the registration secret file {}: {e}",
                path.display()
            ),
        )
    })?);
    let first = text.expose().lines().next().unwrap_or_default().trim();
    if first.is_empty() {
        return Err(Failure::new(
            failure::USAGE,
            format!("the registration secret file {} is empty", path.display()),
        ));
    }
    Ok(Secret::new(first))
}

async fn register(
    server: &Server,
    file: &mut StateFile,
    name: &str,
    force: bool,
    registration_secret: Option<&Secret>,
) -> Result<(), Failure> {
    // Checked before the call, so that a refusal leaves no stray workstation on the server.
    if let (Some(existing), false) = (&file.state.registration, force) {
        return Err(StateError::AlreadyRegistered {
            path: file.path().to_owned(),
            workstation_id: existing.workstation_id,
        }
        .into());
    }
    let registered = Client::new(server, None)?
        .register(name, registration_secret)
        .await?;
    // Computed here from the credential received, so that it does not depend on what the
    // server says: an administrator compares it with `keyward workstations list`.
    let fingerprint = credential_fingerprint(&registered.credential);
    if let Some(theirs) = &registered.credential_fingerprint
        && *theirs != fingerprint
    {
        eprintln!(
            "keyward-agent-sim: warning: the server shows the fingerprint {theirs} for this \
             credential, not {fingerprint}"
        );
    }
    file.state.registration = Some(Registration {
        workstation_id: registered.workstation_id,
        name: registered.name.clone(),
        credential: registered.credential,
    });
    // The credential is shown once: losing it here means registering again, so say so.
    file.save().map_err(|e| {
        Failure::new(
            failure::STATE,
            format!(
                "registered workstation {} but {e}; register again with --force",
                registered.workstation_id
            ),
        )
    })?;
    print(&WorkstationView {
        workstation_id: registered.workstation_id,
        name: &registered.name,
        status: &registered.status,
        credential_fingerprint: &fingerprint,
        source_address: registered.source_address.as_deref(),
    })
}

async fn activate(
    server: &Server,
    file: &mut StateFile,
    serial: &str,
    code: &Secret,
) -> Result<(), Failure> {
    let client = client(server, file)?;
    // Plugging the key in makes it part of the simulated set, whatever the server says next.
    if !file.state.keys.contains_key(serial) {
        file.state.keys.insert(serial.to_owned(), SimKey::default());
        file.save()?;
    }
    let proof = file.key_mut(serial)?.key_proof.clone();
    client.seen(serial, proof.as_ref()).await?;
    let answer = client.activate(serial, code.expose()).await?;
    // The key proof goes onto the key, like everything the server gives the key, and is never
    // printed (only `dump` shows what a key holds).
    print(&keep_proof(file, serial, answer)?)
}

/// Stores the key proof of an answer on the key; returns the answer without it, for printing.
fn keep_proof(
    file: &mut StateFile,
    serial: &str,
    mut answer: serde_json::Value,
) -> Result<serde_json::Value, Failure> {
    if let Some(proof) = answer
        .as_object_mut()
        .and_then(|fields| fields.remove("key_proof"))
        .and_then(|proof| proof.as_str().map(Secret::new))
    {
        file.key_mut(serial)?.key_proof = Some(proof);
        file.save()?;
    }
    Ok(answer)
}

async fn renew_proof(server: &Server, file: &mut StateFile, serial: &str) -> Result<(), Failure> {
    let client = client(server, file)?;
    file.key_mut(serial)?;
    let answer = client.renew_proof(serial).await?;
    print(&keep_proof(file, serial, answer)?)
}

async fn sync(server: &Server, file: &mut StateFile, no_ack: bool) -> Result<(), Failure> {
    let client = client(server, file)?;
    let serials: Vec<String> = file.state.keys.keys().cloned().collect();
    let mut reports = Vec::with_capacity(serials.len());
    for serial in serials {
        let seen = report_with_proof(&client, file, &serial).await?;
        if seen.get("held").and_then(Value::as_bool) == Some(false) {
            // Not held (the key has no proof yet, or the server forgot it): nothing to fetch.
            reports.push(SyncReport {
                serial,
                status: seen
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                ..SyncReport::default()
            });
            continue;
        }
        let pending = client.pending(&serial).await?;
        // Another key's work applied to this one would put passwords on the wrong key.
        if !pending.serial.eq_ignore_ascii_case(&serial) {
            return Err(Failure::new(
                failure::SERVER,
                format!(
                    "the pending work fetched for key {serial} is for key {}",
                    pending.serial
                ),
            ));
        }
        let applied = file.key_mut(&serial)?.apply(&pending);
        // What the key stored must be durable before the server hears it was stored: the
        // server changes AD only after the acknowledgement.
        file.save()?;
        let nothing_to_ack = !applied.ack.wiped && applied.ack.accounts.is_empty();
        let acknowledged = if no_ack || nothing_to_ack {
            0
        } else {
            let wipe_proof = if applied.ack.wiped {
                file.key_mut(&serial)?.wipe_proof.clone()
            } else {
                None
            };
            let answer = client
                .ack(&serial, &applied.ack, wipe_proof.as_ref())
                .await?;
            if applied.ack.wiped {
                file.key_mut(&serial)?.wipe_proof = None;
                file.save()?;
            }
            answer.accepted
        };
        reports.push(SyncReport {
            serial,
            status: pending.status,
            written: applied.written,
            removed: applied.removed,
            wiped: applied.ack.wiped,
            acknowledged,
        });
    }
    print(&reports)
}

/// Reports the key with the proof it carries, as an agent does before acting on it: after a
/// status change the server holds the key for the workstation that proves it has it.
async fn report_with_proof(
    client: &Client,
    file: &mut StateFile,
    serial: &str,
) -> Result<Value, Failure> {
    let proof = file.key_mut(serial)?.key_proof.clone();
    Ok(client.seen(serial, proof.as_ref()).await?)
}

async fn change_password(
    server: &Server,
    file: &mut StateFile,
    serial: &str,
    directory: &str,
    object_guid: &str,
    mode: PasswordMode,
    password: Option<Secret>,
) -> Result<(), Failure> {
    let client = client(server, file)?;
    report_with_proof(&client, file, serial).await?;
    let change = match (mode, &password) {
        (PasswordMode::KeyOnly, _) => {
            // The user changed what the key holds: the account must be on the key.
            account_exists(file, serial, directory, object_guid)?;
            PasswordChange::KeyOnly
        }
        (PasswordMode::KeyAndDomain, Some(password)) => PasswordChange::KeyAndDomain {
            password: password.expose(),
        },
        (PasswordMode::KeyAndDomain, None) => {
            return Err(Failure::new(
                failure::USAGE,
                "--mode key_and_domain needs --password-file",
            ));
        }
    };
    let answer = client
        .change_password(serial, directory, object_guid, &change)
        .await?;
    if mode == PasswordMode::KeyOnly {
        let changed: PasswordChanged = serde_json::from_value(answer.clone()).map_err(|e| {
            Failure::new(
                failure::SERVER,
                format!("unexpected answer to the password change: {e}"),
            )
        })?;
        let account = file
            .key_mut(serial)?
            .account_mut(directory, object_guid)
            .ok_or_else(|| unknown_account(serial, directory, object_guid))?;
        account.version = changed.version;
        if let Some(password) = password {
            account.password = password;
        }
        file.save()?;
    }
    // For key_and_domain the key gets the password through `sync`, like any rotation.
    print(&answer)
}

fn account_exists(
    file: &StateFile,
    serial: &str,
    directory: &str,
    object_guid: &str,
) -> Result<(), Failure> {
    file.key(serial)?
        .account(directory, object_guid)
        .map(|_| ())
        .ok_or_else(|| unknown_account(serial, directory, object_guid).into())
}

fn unknown_account(serial: &str, directory: &str, object_guid: &str) -> StateError {
    StateError::UnknownAccount {
        serial: serial.to_owned(),
        directory: directory.to_owned(),
        object_guid: object_guid.to_owned(),
    }
}

/// The password in `path`, without one trailing newline.
fn read_password(path: &Path) -> Result<Secret, Failure> {
    let mut text = std::fs::read_to_string(path).map_err(|e| {
        Failure::new(
            failure::USAGE,
            format!("cannot read the password file {}: {e}", path.display()),
        )
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(Failure::new(
            failure::USAGE,
            format!("the password file {} is empty", path.display()),
        ));
    }
    Ok(Secret::new(text))
}

/// Prints `value` as pretty JSON on stdout.
fn print<T: Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::new(failure::SERVER, format!("cannot print the answer: {e}")))?;
    println!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::read_password;

    #[test]
    fn one_trailing_newline_is_not_part_of_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("pw\n", "pw"),
            ("pw\r\n", "pw"),
            ("pw", "pw"),
            ("pw \n\n", "pw \n"),
        ];
        for (content, expected) in cases {
            let path = dir.path().join("pw");
            std::fs::write(&path, content).unwrap();
            assert_eq!(
                read_password(&path).unwrap().expose(),
                expected,
                "{content:?}"
            );
        }
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        assert_eq!(
            read_password(&dir.path().join("empty"))
                .unwrap_err()
                .exit_code,
            2
        );
        assert_eq!(
            read_password(&dir.path().join("missing"))
                .unwrap_err()
                .exit_code,
            2
        );
    }
}
