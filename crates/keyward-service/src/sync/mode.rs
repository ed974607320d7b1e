//! Stage 1: decide whether a run reads everything or only what changed since the cursor. Pure.

use chrono::{DateTime, Duration, Utc};
use keyward_directory::DomainInfo;
use keyward_store::SyncCursor;

/// How a run reads the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Every user in scope, and the whole rotation group.
    Full {
        /// Why (shown in the report).
        reason: String,
    },
    /// Users changed since the cursor's USN on the same domain controller.
    Incremental {
        /// The cursor's USN.
        since: i64,
    },
}

impl Mode {
    /// The mode as reports show it.
    pub fn run_mode(&self) -> super::RunMode {
        match self {
            Self::Full { .. } => super::RunMode::Full,
            Self::Incremental { .. } => super::RunMode::Incremental,
        }
    }
}

/// What the mode depends on.
#[derive(Debug, Clone, Copy)]
pub(super) struct ModeInputs<'a> {
    /// The caller asked for a full run.
    pub full_requested: bool,
    /// The run confirms removals an earlier run held (that needs a complete read).
    pub confirming_removals: bool,
    /// The server evaluates `LDAP_MATCHING_RULE_IN_CHAIN` (Active Directory does).
    pub in_chain: bool,
    /// Where the last run of this directory stopped.
    pub cursor: Option<&'a SyncCursor>,
    /// The domain controller answering now.
    pub info: &'a DomainInfo,
    /// Now.
    pub now: DateTime<Utc>,
}

/// The mode of a run: incremental only when nothing asks for a full read, the cursor was
/// written by this very domain controller (same invocationId) at or below its current USN,
/// and it is young enough that every deletion since still has its tombstone (a day short of
/// the domain's deleted-object lifetime: the garbage collection runs every 12 hours).
pub(super) fn decide(inputs: &ModeInputs<'_>) -> Mode {
    let full = |reason: &str| Mode::Full {
        reason: reason.to_owned(),
    };
    if inputs.full_requested {
        return full("a full run was requested");
    }
    if inputs.confirming_removals {
        return full("confirming held removals needs a complete read");
    }
    if !inputs.in_chain {
        return full("incremental runs need LDAP_MATCHING_RULE_IN_CHAIN (Active Directory)");
    }
    let Some(cursor) = inputs.cursor else {
        return full("no previous run of this directory");
    };
    let invocation = inputs
        .info
        .invocation_id
        .map(|u| u.to_string())
        .unwrap_or_default();
    if invocation.is_empty() || cursor.invocation_id != invocation {
        return Mode::Full {
            reason: format!(
                "the domain controller is not the one of the last run ({} then, {} now) or was restored",
                cursor.dc_host,
                inputs.info.root.dns_host_name.as_deref().unwrap_or("?")
            ),
        };
    }
    if cursor.highest_usn > inputs.info.root.highest_committed_usn.unwrap_or(0) {
        return full("the domain controller's USN is below the cursor (restored from backup)");
    }
    if let Some(days) = inputs.info.deleted_object_lifetime_days {
        let age = inputs.now - cursor.updated_at;
        if age >= Duration::days(i64::from(days)) - Duration::days(1) {
            return Mode::Full {
                reason: format!(
                    "the last run is {} days old and the domain keeps deleted objects {days} \
                     days: deletions since may have left no tombstone",
                    age.num_days()
                ),
            };
        }
    }
    Mode::Incremental {
        since: cursor.highest_usn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_directory::RootDse;
    use keyward_model::DirectoryName;
    use uuid::Uuid;

    fn info(invocation: Option<u128>, usn: i64) -> DomainInfo {
        DomainInfo {
            root: RootDse {
                default_naming_context: "DC=corp,DC=test".into(),
                configuration_naming_context: None,
                dns_host_name: Some("dc1.corp.test".into()),
                ds_service_name: None,
                highest_committed_usn: Some(usn),
                supported_controls: vec![],
                supported_capabilities: vec![],
            },
            base_dn: "DC=corp,DC=test".into(),
            netbios_name: None,
            invocation_id: invocation.map(Uuid::from_u128),
            deleted_object_lifetime_days: Some(180),
        }
    }

    fn cursor(invocation: u128, usn: i64) -> SyncCursor {
        SyncCursor {
            directory: DirectoryName::parse("corp").unwrap(),
            invocation_id: Uuid::from_u128(invocation).to_string(),
            dc_host: "dc0.corp.test".into(),
            highest_usn: usn,
            updated_at: chrono::Utc::now(),
        }
    }

    fn decide_with(cursor: Option<&SyncCursor>, info: &DomainInfo) -> Mode {
        decide(&ModeInputs {
            full_requested: false,
            confirming_removals: false,
            in_chain: true,
            cursor,
            info,
            now: chrono::Utc::now(),
        })
    }

    #[test]
    fn the_same_controller_at_or_above_the_cursor_runs_incrementally() {
        let c = cursor(7, 100);
        assert_eq!(
            decide_with(Some(&c), &info(Some(7), 100)),
            Mode::Incremental { since: 100 }
        );
        assert_eq!(
            decide_with(Some(&c), &info(Some(7), 250)),
            Mode::Incremental { since: 100 }
        );
    }

    #[test]
    fn anything_uncertain_reads_everything_with_its_reason() {
        let c = cursor(7, 100);
        let reason = |m: Mode| match m {
            Mode::Full { reason } => reason,
            Mode::Incremental { .. } => panic!("expected a full run"),
        };
        assert_eq!(
            reason(decide_with(None, &info(Some(7), 100))),
            "no previous run of this directory"
        );
        assert!(
            reason(decide_with(Some(&c), &info(Some(8), 500)))
                .contains("dc0.corp.test then, dc1.corp.test now")
        );
        assert!(
            reason(decide_with(Some(&c), &info(None, 500))).contains("not the one of the last run")
        );
        assert!(reason(decide_with(Some(&c), &info(Some(7), 99))).contains("restored from backup"));
        let i = info(Some(7), 100);
        let base = ModeInputs {
            full_requested: false,
            confirming_removals: false,
            in_chain: true,
            cursor: Some(&c),
            info: &i,
            now: chrono::Utc::now(),
        };
        assert_eq!(
            reason(decide(&ModeInputs {
                full_requested: true,
                ..base
            })),
            "a full run was requested"
        );
        assert!(
            reason(decide(&ModeInputs {
                confirming_removals: true,
                ..base
            }))
            .contains("held removals")
        );
        assert!(
            reason(decide(&ModeInputs {
                in_chain: false,
                ..base
            }))
            .contains("IN_CHAIN")
        );
    }

    #[test]
    fn a_cursor_older_than_the_tombstones_reads_everything() {
        let mut c = cursor(7, 100);
        let written = c.updated_at;
        let i = info(Some(7), 100);
        let at = |days: i64| ModeInputs {
            full_requested: false,
            confirming_removals: false,
            in_chain: true,
            cursor: None,
            info: &i,
            now: written + chrono::Duration::days(days),
        };
        let run = |days: i64, c: &SyncCursor| {
            decide(&ModeInputs {
                cursor: Some(c),
                ..at(days)
            })
        };
        assert_eq!(run(178, &c), Mode::Incremental { since: 100 });
        match run(179, &c) {
            Mode::Full { reason } => assert!(
                reason.contains("179 days old") && reason.contains("180 days"),
                "{reason}"
            ),
            Mode::Incremental { .. } => {
                panic!("a cursor a day short of 180 days read only changes")
            }
        }
        // A directory that keeps no tombstones to speak of (not AD): the age plays no part.
        let plain = DomainInfo {
            deleted_object_lifetime_days: None,
            ..info(Some(7), 100)
        };
        c.updated_at -= chrono::Duration::days(1000);
        assert_eq!(
            decide(&ModeInputs {
                cursor: Some(&c),
                info: &plain,
                ..at(0)
            }),
            Mode::Incremental { since: 100 }
        );
    }
}
