//! The entry point: one value that holds the store and hands out the use cases.

use std::sync::Arc;

use keyward_store::Store;

use crate::{
    Clock, Directories, Employees, Keys, Mail, Result, Settings, SyncRuns, SystemClock, Tokens,
};

/// An open keyward installation: its settings and its database.
#[derive(Debug, Clone)]
pub struct Keyward {
    store: Store,
    settings: Settings,
    clock: Arc<dyn Clock>,
    kek: crate::secrets::KekCell,
}

/// What `migrate` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Migrations that were already applied before this call.
    pub already_applied: Vec<String>,
    /// Migrations this call applied.
    pub applied_now: Vec<String>,
}

impl Keyward {
    /// Connects to the configured database and brings its schema up to date.
    pub async fn open(settings: &Settings) -> Result<Self> {
        let keyward = Self::connect(settings).await?;
        keyward.migrate().await?;
        Ok(keyward)
    }

    /// Connects without touching the schema.
    pub async fn connect(settings: &Settings) -> Result<Self> {
        let store = Store::connect(&settings.database_url).await?;
        Ok(Self {
            store,
            settings: settings.clone(),
            clock: Arc::new(SystemClock),
            kek: crate::secrets::KekCell::default(),
        })
    }

    /// The same installation reading time from `clock` (tests move time with a
    /// [`ManualClock`](crate::ManualClock) instead of waiting).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Applies pending migrations and says which.
    pub async fn migrate(&self) -> Result<MigrationReport> {
        let (already_applied, pending) = self.store.migration_status().await?;
        self.store.migrate().await?;
        Ok(MigrationReport {
            already_applied,
            applied_now: pending,
        })
    }

    /// Checks that the database answers.
    pub async fn ready(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.store.backend().as_str()
    }

    /// The settings this installation was opened with.
    pub fn settings(&self) -> &Settings {
        &self.settings
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
        }
    }

    /// Closes the database pool.
    pub async fn close(self) -> Result<()> {
        Ok(self.store.close().await?)
    }
}
