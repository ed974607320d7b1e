//! The entry point: one value that holds the store and hands out the use cases.

use std::sync::Arc;

use keyward_store::{SchemaState, SchemaStatus, Store};

use crate::{
    Clock, Directories, Employees, Error, Keys, Mail, Result, Settings, SyncRuns, SystemClock,
    Tokens,
};

/// An open keyward installation: its settings and its database.
#[derive(Debug, Clone)]
pub struct Keyward {
    store: Store,
    settings: Settings,
    clock: Arc<dyn Clock>,
    kek: crate::secrets::KekCell,
    templates: crate::mail::TemplatesCell,
    policies: crate::directory_policy::PolicyCell,
}

/// What `migrate` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Migrations that were already applied before this call.
    pub already_applied: Vec<String>,
    /// Migrations this call applied.
    pub applied_now: Vec<String>,
}

/// How [`Keyward::open_with`] treats the database's schema. No mode migrates a schema that
/// holds anything: only [`Keyward::migrate`] (`keyward migrate`) does, so that a newer keyward
/// run somewhere (a CLI on a jump box) never moves a shared database ahead of the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Use the schema as it is: refuse an empty database, and a schema older or newer than
    /// this keyward. The CLI's commands open this way.
    Existing,
    /// As [`OpenMode::Existing`], except that an empty database (no table at all, no
    /// migration recorded) gets the whole schema: `keyward-server` opens this way, so that its
    /// first start on a new SQLite file or a new PostgreSQL database works. A database with
    /// any table in it is never migrated here.
    CreateIfEmpty,
}

impl Keyward {
    /// Connects to the configured database and checks its schema: refuses an empty database
    /// and a schema older or newer than this keyward ([`OpenMode::Existing`]). Changes nothing.
    pub async fn open(settings: &Settings) -> Result<Self> {
        Self::open_with(settings, OpenMode::Existing).await
    }

    /// Connects and checks the schema as `mode` says; only [`OpenMode::CreateIfEmpty`] on an
    /// empty database changes anything.
    pub async fn open_with(settings: &Settings, mode: OpenMode) -> Result<Self> {
        let keyward = Self::connect(settings).await?;
        let status = keyward.schema_status().await?;
        match (status.state(), mode) {
            (SchemaState::Empty, OpenMode::CreateIfEmpty) => {
                let report = keyward.migrate().await?;
                tracing::info!(
                    migrations = report.applied_now.len(),
                    "created the schema in an empty database"
                );
            }
            _ => check_schema(&status)?,
        }
        Ok(keyward)
    }

    /// Connects without reading or touching the schema (`keyward migrate`, and commands that
    /// do not use the database).
    pub async fn connect(settings: &Settings) -> Result<Self> {
        let store = Store::connect(&settings.database_url).await?;
        Ok(Self {
            store,
            settings: settings.clone(),
            clock: Arc::new(SystemClock),
            kek: crate::secrets::KekCell::default(),
            templates: crate::mail::TemplatesCell::default(),
            policies: crate::directory_policy::PolicyCell::default(),
        })
    }

    /// The same installation reading time from `clock` (tests move time with a
    /// [`ManualClock`](crate::ManualClock) instead of waiting).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Applies pending migrations and says which. Refuses, and changes nothing, when the
    /// schema was migrated by a newer keyward.
    pub async fn migrate(&self) -> Result<MigrationReport> {
        let status = self.schema_status().await?;
        if status.state() == SchemaState::Ahead {
            return Err(Error::SchemaAhead {
                unknown: status.unknown,
            });
        }
        self.store.migrate().await?;
        Ok(MigrationReport {
            already_applied: status.applied,
            applied_now: status.pending,
        })
    }

    /// The schema compared with this keyward's migrations, read without changing anything.
    pub async fn schema_status(&self) -> Result<SchemaStatus> {
        Ok(self.store.schema_status().await?)
    }

    /// Checks that the database answers.
    pub async fn ready(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    /// Console administrators: enrollment, passkey sign-in, sessions.
    pub fn admins(&self) -> crate::Admins<'_> {
        crate::Admins::new(&self.store, &self.settings, self.clock.as_ref())
    }

    /// Counts of employees, keys, workstations and mail by status (the console's dashboard).
    pub async fn overview(&self) -> Result<keyward_store::Overview> {
        Ok(self.store.overview().await?)
    }

    /// Rotations in flight that are stalled, as `passwords status` marks them `overdue`:
    /// waiting for their key longer than `passwords.key_wait_warn_hours`, or failed at the
    /// directory `passwords.max_attempts` times.
    pub async fn stalled_rotations(&self) -> Result<u64> {
        let p = &self.settings.passwords;
        let cutoff = self.clock.now() - chrono::Duration::hours(i64::from(p.key_wait_warn_hours));
        Ok(self.store.stalled_rotations(cutoff, p.max_attempts).await?)
    }

    /// The audit log: search and export.
    pub fn audit(&self) -> crate::Audit<'_> {
        crate::Audit::new(&self.store)
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.store.backend().as_str()
    }

    /// The settings this installation was opened with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The store, for the use cases that live beside this type.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The key-encryption key, loaded on first use.
    pub(crate) fn kek_cell(&self) -> &crate::secrets::KekCell {
        &self.kek
    }

    /// The clock's now.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Employee operations.
    pub fn employees(&self) -> Employees<'_> {
        Employees::new(&self.store)
    }

    /// The configured directories.
    pub fn directories(&self) -> Directories<'_> {
        Directories::new(&self.settings)
    }

    /// Directory sync runs.
    pub fn sync(&self) -> SyncRuns<'_> {
        SyncRuns::new(&self.store, &self.settings, self.clock.as_ref())
    }

    /// Outgoing mail and invitations.
    pub fn mail(&self) -> Mail<'_> {
        Mail::new(self.context())
    }

    /// Hardware-key operations.
    pub fn keys(&self) -> Keys<'_> {
        Keys::new(self.context())
    }

    /// Password rotation: requests, status and the directory step.
    pub fn passwords(&self) -> crate::Passwords<'_> {
        crate::Passwords::new(self.context())
    }

    /// Workstations and the agent API's operations.
    pub fn agent(&self) -> crate::Agent<'_> {
        crate::Agent::new(self.context())
    }

    /// Loads and checks the key-encryption key now (the server does at start when one is
    /// configured, so a wrong key is refused at once).
    pub async fn check_secrets(&self) -> Result<String> {
        let kek = self.kek.get(&self.settings, &self.store).await?;
        Ok(kek.fingerprint().to_owned())
    }

    /// Admin API token operations.
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens::new(&self.store, self.clock.as_ref())
    }

    /// What the use cases borrow.
    fn context(&self) -> crate::context::Context<'_> {
        crate::context::Context {
            store: &self.store,
            settings: &self.settings,
            clock: self.clock.as_ref(),
            kek: &self.kek,
            templates: &self.templates,
            policies: &self.policies,
        }
    }

    /// Closes the database pool.
    pub async fn close(self) -> Result<()> {
        Ok(self.store.close().await?)
    }
}

/// `Ok` for a current schema; otherwise the error that says what to run: `keyward migrate` for
/// an empty or older schema, a matching keyward for a newer one.
pub fn check_schema(status: &SchemaStatus) -> Result<()> {
    match status.state() {
        SchemaState::Current => Ok(()),
        SchemaState::Empty => Err(Error::SchemaEmpty),
        SchemaState::Behind => Err(Error::SchemaBehind {
            pending: status.pending.clone(),
        }),
        SchemaState::Ahead => Err(Error::SchemaAhead {
            unknown: status.unknown.clone(),
        }),
    }
}
