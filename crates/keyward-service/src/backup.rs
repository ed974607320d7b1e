//! `keyward backup FILE` and `keyward restore FILE`: a logical backup of the whole database
//! into one file, and its restore into a new database of either backend (the format and its
//! guarantees: `keyward_store`'s backup module). The file is the database's data: sealed
//! values stay sealed (the same key-encryption key opens them after a restore), and token,
//! session and code secrets are there only as the hashes the database holds. It is written
//! readable by its owner only, under a temporary name renamed when complete.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use keyward_store::{BackupHeader, BackupProgress};

use crate::{Error, Keyward, Result};

/// What a backup or a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The backup file.
    pub file: PathBuf,
    /// Its header: schema, and each table with its rows.
    pub header: BackupHeader,
}

impl BackupReport {
    /// Rows in the whole backup.
    pub fn rows(&self) -> u64 {
        self.header.tables.iter().map(|t| t.rows).sum()
    }
}

impl Keyward {
    /// Writes a backup of the database to `file`, which must not exist. Safe beside running
    /// servers: the rows are read in one snapshot.
    pub async fn backup_to(
        &self,
        file: &Path,
        progress: &mut (dyn FnMut(BackupProgress<'_>) + Send),
    ) -> Result<BackupReport> {
        if file.exists() {
            return Err(Error::InvalidInput(format!(
                "{} exists already: a backup never overwrites a file",
                file.display()
            )));
        }
        let partial = partial_path(file);
        let opened = open_private(&partial).map_err(|e| {
            Error::InvalidInput(format!("cannot create {}: {e}", partial.display()))
        })?;
        let mut out = BufWriter::new(opened);
        let written = self
            .store()
            .write_backup(&mut out, progress)
            .await
            .map_err(Error::from);
        let finished = written.and_then(|header| {
            let file_error = |e: std::io::Error| {
                Error::InvalidInput(format!("cannot write {}: {e}", partial.display()))
            };
            out.flush().map_err(file_error)?;
            out.get_ref().sync_all().map_err(file_error)?;
            std::fs::rename(&partial, file).map_err(file_error)?;
            Ok(header)
        });
        match finished {
            Ok(header) => Ok(BackupReport {
                file: file.to_owned(),
                header,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    }

    /// Restores the backup in `file` into this database, which must be empty and migrated to
    /// the backup's schema, with no server running on it. All or nothing.
    pub async fn restore_from(
        &self,
        file: &Path,
        progress: &mut (dyn FnMut(BackupProgress<'_>) + Send),
    ) -> Result<BackupReport> {
        self.refuse_beside_live_servers().await?;
        let opened = File::open(file)
            .map_err(|e| Error::InvalidInput(format!("cannot open {}: {e}", file.display())))?;
        let mut input = BufReader::new(opened);
        let header = self
            .store()
            .restore_backup(&mut input, progress)
            .await
            .map_err(|e| match Error::from(e) {
                Error::InvalidInput(why) => {
                    Error::InvalidInput(format!("{}: {why}; nothing was restored", file.display()))
                }
                other => other,
            })?;
        Ok(BackupReport {
            file: file.to_owned(),
            header,
        })
    }
}

/// `FILE.partial` beside `file`.
fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Creates `path` for writing, readable by its owner only (a leftover of an interrupted
/// backup is replaced).
fn open_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}
