//! Stage 1: decide whether a run reads everything or only what changed since the cursor. Pure.

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
}

/// The mode of a run: incremental only when nothing asks for a full read and the cursor was
/// written by this very domain controller (same invocationId) at or below its current USN.
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
}
