//! What every use case works with: the store, the settings, the clock, the key-encryption key
//! the mail templates and the directories' password policies, passed around as one value instead of five fields copied into each
//! use case.

use keyward_store::Store;

use crate::directory_policy::PolicyCell;
use crate::mail::TemplatesCell;
use crate::passwords::PlanContext;
use crate::secrets::KekCell;
use crate::{Clock, Settings};

/// The shared parts of a [`crate::Keyward`] that the use cases (`Keys`, `Agent`, `Mail`,
/// `Passwords`) borrow.
#[derive(Clone, Copy)]
pub(crate) struct Context<'a> {
    pub(crate) store: &'a Store,
    pub(crate) settings: &'a Settings,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) kek: &'a KekCell,
    pub(crate) templates: &'a TemplatesCell,
    pub(crate) policies: &'a PolicyCell,
}

impl<'a> Context<'a> {
    /// What planning a rotation at `now` needs.
    pub(crate) fn plan_at(&self, now: chrono::DateTime<chrono::Utc>) -> PlanContext<'a> {
        PlanContext {
            store: self.store,
            settings: self.settings,
            kek: self.kek,
            policies: self.policies,
            now,
        }
    }
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}
