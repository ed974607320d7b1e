//! The transition table of docs/product.md §2 as one exhaustive function.

use std::fmt;

use keyward_model::EmployeeId;
use serde::{Deserialize, Serialize};

use crate::{Error, KeyStatus, Reason};

/// Something that happens to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new key enters stock.
    Import,
    /// An administrator hands the key to an employee.
    Assign {
        /// The new owner.
        employee: EmployeeId,
    },
    /// An administrator takes back a key that was assigned but never linked to a workstation.
    CancelIssuance,
    /// The owner entered the right activation code on a Reserved key.
    Activate,
    /// The last allowed activation attempt was wrong.
    FailActivation,
    /// The key is blocked, e.g. the agent reported too many wrong PINs.
    Lock {
        /// `locked_by_invalid_pin` or `admin`.
        reason: Reason,
    },
    /// An administrator suspends an active key.
    Suspend {
        /// Why, for people.
        description: String,
    },
    /// The owner entered the right activation code on a Suspended key.
    Resume,
    /// An administrator removes the Locked status.
    Unlock,
    /// The key is taken from its owner.
    Deactivate {
        /// `withdrawal`, `broken`, `lost`, `stolen` or `admin`.
        reason: Reason,
    },
    /// The agent confirmed the key was wiped.
    ConfirmWipe,
    /// The key is lost or stolen.
    MarkCompromised {
        /// `lost` or `stolen`.
        reason: Reason,
    },
    /// The key leaves the inventory.
    Delete,
}

/// The name of an event, without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// See [`Event::Import`].
    Import,
    /// See [`Event::Assign`].
    Assign,
    /// See [`Event::CancelIssuance`].
    CancelIssuance,
    /// See [`Event::Activate`].
    Activate,
    /// See [`Event::FailActivation`].
    FailActivation,
    /// See [`Event::Lock`].
    Lock,
    /// See [`Event::Suspend`].
    Suspend,
    /// See [`Event::Resume`].
    Resume,
    /// See [`Event::Unlock`].
    Unlock,
    /// See [`Event::Deactivate`].
    Deactivate,
    /// See [`Event::ConfirmWipe`].
    ConfirmWipe,
    /// See [`Event::MarkCompromised`].
    MarkCompromised,
    /// See [`Event::Delete`].
    Delete,
}

impl EventKind {
    /// Every event kind.
    pub const ALL: [Self; 13] = [
        Self::Import,
        Self::Assign,
        Self::CancelIssuance,
        Self::Activate,
        Self::FailActivation,
        Self::Lock,
        Self::Suspend,
        Self::Resume,
        Self::Unlock,
        Self::Deactivate,
        Self::ConfirmWipe,
        Self::MarkCompromised,
        Self::Delete,
    ];

    /// The stable encoding, used in audit records and error messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Assign => "assign",
            Self::CancelIssuance => "cancel_issuance",
            Self::Activate => "activate",
            Self::FailActivation => "fail_activation",
            Self::Lock => "lock",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::Unlock => "unlock",
            Self::Deactivate => "deactivate",
            Self::ConfirmWipe => "confirm_wipe",
            Self::MarkCompromised => "mark_compromised",
            Self::Delete => "delete",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Event {
    /// The event's name.
    pub const fn kind(&self) -> EventKind {
        match self {
            Self::Import => EventKind::Import,
            Self::Assign { .. } => EventKind::Assign,
            Self::CancelIssuance => EventKind::CancelIssuance,
            Self::Activate => EventKind::Activate,
            Self::FailActivation => EventKind::FailActivation,
            Self::Lock { .. } => EventKind::Lock,
            Self::Suspend { .. } => EventKind::Suspend,
            Self::Resume => EventKind::Resume,
            Self::Unlock => EventKind::Unlock,
            Self::Deactivate { .. } => EventKind::Deactivate,
            Self::ConfirmWipe => EventKind::ConfirmWipe,
            Self::MarkCompromised { .. } => EventKind::MarkCompromised,
            Self::Delete => EventKind::Delete,
        }
    }
}

/// Facts about the key that guards need and the status does not carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyFacts {
    /// A workstation agent has reported this key (it is linked to a workstation).
    pub linked_to_workstation: bool,
}

/// Work the service must do, in the same transaction as the status change where it can.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Record this employee as the owner.
    SetOwner(EmployeeId),
    /// Clear the owner.
    RemoveOwner,
    /// Issue a new activation code (replacing any live one) and show it once.
    IssueActivationCode,
    /// The live code was used successfully; delete it.
    ConsumeActivationCode,
    /// Delete any live code.
    CancelActivationCode,
    /// Start the first password rotation for the owner's rotation-group accounts.
    StartFirstRotation,
    /// Queue a wipe command for the key's agent.
    QueueWipe,
    /// Drop every delivery waiting for this key (status commands, passwords).
    DropPendingDeliveries,
    /// Rotate every password the key held, since someone else may have it now.
    RotateHeldPasswords,
    /// Remove the key record.
    DeleteKey,
}

/// An allowed step: where the key goes and what must happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The status before; `None` for an import.
    pub from: Option<KeyStatus>,
    /// The event.
    pub event: EventKind,
    /// The status after; `None` when the key is deleted.
    pub to: Option<KeyStatus>,
    /// The reason recorded with the new status, if any.
    pub reason: Option<Reason>,
    /// Work to carry out.
    pub effects: Vec<Effect>,
}

const LOCK_REASONS: &[Reason] = &[Reason::LockedByInvalidPin, Reason::Admin];
const DEACTIVATE_REASONS: &[Reason] = &[
    Reason::Withdrawal,
    Reason::Broken,
    Reason::Lost,
    Reason::Stolen,
    Reason::Admin,
];
const COMPROMISE_REASONS: &[Reason] = &[Reason::Lost, Reason::Stolen];

/// The longest suspension description kept.
const MAX_DESCRIPTION_CHARS: usize = 500;

/// The one transition function: what `event` does to a key in status `from` (`None` when no
/// key with the serial exists).
// One table, read top to bottom, one block of rows per event: splitting it or merging equal
// arms across events would hide rows.
#[allow(clippy::too_many_lines, clippy::match_same_arms)]
pub fn transition(
    from: Option<KeyStatus>,
    event: &Event,
    facts: KeyFacts,
) -> crate::Result<Transition> {
    use Effect as E;
    use KeyStatus::{Active, Compromised, Deactivated, Locked, Ready, Reserved, Suspended};

    let kind = event.kind();
    let invalid = || Err(Error::InvalidTransition { from, event: kind });
    let to = |status: KeyStatus, reason: Option<Reason>, effects: Vec<Effect>| {
        Ok(Transition {
            from,
            event: kind,
            to: Some(status),
            reason,
            effects,
        })
    };

    match (from, event) {
        (None, Event::Import) => to(Ready, None, vec![]),
        (
            Some(Ready | Reserved | Active | Locked | Suspended | Deactivated | Compromised),
            Event::Import,
        ) => invalid(),

        (Some(Ready), Event::Assign { employee }) => to(
            Reserved,
            None,
            vec![E::SetOwner(*employee), E::IssueActivationCode],
        ),
        (
            None | Some(Reserved | Active | Locked | Suspended | Deactivated | Compromised),
            Event::Assign { .. },
        ) => invalid(),

        (Some(Reserved), Event::CancelIssuance) => {
            if facts.linked_to_workstation {
                return Err(Error::GuardFailed {
                    from: Reserved,
                    event: kind,
                    guard: "the key is already linked to a workstation; deactivate it instead",
                });
            }
            to(Ready, None, vec![E::RemoveOwner, E::CancelActivationCode])
        }
        (
            None | Some(Ready | Active | Locked | Suspended | Deactivated | Compromised),
            Event::CancelIssuance,
        ) => invalid(),

        (Some(Reserved), Event::Activate) => to(
            Active,
            None,
            vec![E::ConsumeActivationCode, E::StartFirstRotation],
        ),
        (
            None | Some(Ready | Active | Locked | Suspended | Deactivated | Compromised),
            Event::Activate,
        ) => invalid(),

        (Some(Reserved | Suspended), Event::FailActivation) => to(
            Locked,
            Some(Reason::InvalidActivationCode),
            vec![E::CancelActivationCode],
        ),
        (
            None | Some(Ready | Active | Locked | Deactivated | Compromised),
            Event::FailActivation,
        ) => invalid(),

        (Some(Active), Event::Lock { reason }) => {
            check_reason(kind, *reason, LOCK_REASONS, "locked_by_invalid_pin, admin")?;
            to(Locked, Some(*reason), vec![])
        }
        (
            None | Some(Ready | Reserved | Locked | Suspended | Deactivated | Compromised),
            Event::Lock { .. },
        ) => invalid(),

        (Some(Active), Event::Suspend { description }) => {
            if description.chars().count() > MAX_DESCRIPTION_CHARS {
                return Err(Error::InvalidInput(format!(
                    "the suspension description is longer than {MAX_DESCRIPTION_CHARS} characters"
                )));
            }
            to(Suspended, Some(Reason::Admin), vec![E::IssueActivationCode])
        }
        (
            None | Some(Ready | Reserved | Locked | Suspended | Deactivated | Compromised),
            Event::Suspend { .. },
        ) => invalid(),

        (Some(Suspended), Event::Resume) => to(Active, None, vec![E::ConsumeActivationCode]),
        (
            None | Some(Ready | Reserved | Active | Locked | Deactivated | Compromised),
            Event::Resume,
        ) => invalid(),

        (Some(Locked), Event::Unlock) => {
            to(Suspended, Some(Reason::Admin), vec![E::IssueActivationCode])
        }
        (
            None | Some(Ready | Reserved | Active | Suspended | Deactivated | Compromised),
            Event::Unlock,
        ) => invalid(),

        (Some(Reserved | Active | Locked | Suspended), Event::Deactivate { reason }) => {
            check_reason(
                kind,
                *reason,
                DEACTIVATE_REASONS,
                "withdrawal, broken, lost, stolen, admin",
            )?;
            to(
                Deactivated,
                Some(*reason),
                vec![E::RemoveOwner, E::CancelActivationCode, E::QueueWipe],
            )
        }
        (None | Some(Ready | Deactivated | Compromised), Event::Deactivate { .. }) => invalid(),

        (Some(Deactivated), Event::ConfirmWipe) => to(Ready, None, vec![]),
        (
            None | Some(Ready | Reserved | Active | Locked | Suspended | Compromised),
            Event::ConfirmWipe,
        ) => invalid(),

        (
            Some(Ready | Reserved | Active | Locked | Suspended | Deactivated),
            Event::MarkCompromised { reason },
        ) => {
            check_reason(kind, *reason, COMPROMISE_REASONS, "lost, stolen")?;
            to(
                Compromised,
                Some(*reason),
                vec![
                    E::RemoveOwner,
                    E::CancelActivationCode,
                    E::DropPendingDeliveries,
                    E::RotateHeldPasswords,
                ],
            )
        }
        (None | Some(Compromised), Event::MarkCompromised { .. }) => invalid(),

        (Some(Ready | Compromised), Event::Delete) => Ok(Transition {
            from,
            event: kind,
            to: None,
            reason: None,
            effects: vec![
                E::CancelActivationCode,
                E::DropPendingDeliveries,
                E::DeleteKey,
            ],
        }),
        (None | Some(Reserved | Active | Locked | Suspended | Deactivated), Event::Delete) => {
            invalid()
        }
    }
}

fn check_reason(
    event: EventKind,
    reason: Reason,
    allowed: &[Reason],
    allowed_text: &'static str,
) -> crate::Result<()> {
    if allowed.contains(&reason) {
        Ok(())
    } else {
        Err(Error::InvalidReason {
            event,
            reason,
            allowed: allowed_text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeyStatus::{Active, Compromised, Deactivated, Locked, Ready, Reserved, Suspended};
    use proptest::prelude::*;

    /// A representative event of each kind, with a reason that fits.
    pub(crate) fn sample(kind: EventKind, employee: EmployeeId) -> Event {
        match kind {
            EventKind::Import => Event::Import,
            EventKind::Assign => Event::Assign { employee },
            EventKind::CancelIssuance => Event::CancelIssuance,
            EventKind::Activate => Event::Activate,
            EventKind::FailActivation => Event::FailActivation,
            EventKind::Lock => Event::Lock {
                reason: Reason::LockedByInvalidPin,
            },
            EventKind::Suspend => Event::Suspend {
                description: "on leave".into(),
            },
            EventKind::Resume => Event::Resume,
            EventKind::Unlock => Event::Unlock,
            EventKind::Deactivate => Event::Deactivate {
                reason: Reason::Withdrawal,
            },
            EventKind::ConfirmWipe => Event::ConfirmWipe,
            EventKind::MarkCompromised => Event::MarkCompromised {
                reason: Reason::Lost,
            },
            EventKind::Delete => Event::Delete,
        }
    }

    /// docs/product.md §2, written out independently of `transition`: (from, event) → to.
    fn table() -> Vec<(Option<KeyStatus>, EventKind, Option<KeyStatus>)> {
        use EventKind as K;
        let mut rows = vec![
            (None, K::Import, Some(Ready)),
            (Some(Ready), K::Assign, Some(Reserved)),
            (Some(Reserved), K::CancelIssuance, Some(Ready)),
            (Some(Reserved), K::Activate, Some(Active)),
            (Some(Reserved), K::FailActivation, Some(Locked)),
            (Some(Suspended), K::FailActivation, Some(Locked)),
            (Some(Active), K::Lock, Some(Locked)),
            (Some(Active), K::Suspend, Some(Suspended)),
            (Some(Suspended), K::Resume, Some(Active)),
            (Some(Locked), K::Unlock, Some(Suspended)),
            (Some(Deactivated), K::ConfirmWipe, Some(Ready)),
            (Some(Ready), K::Delete, None),
            (Some(Compromised), K::Delete, None),
        ];
        for s in [Reserved, Active, Locked, Suspended] {
            rows.push((Some(s), K::Deactivate, Some(Deactivated)));
        }
        for s in [Ready, Reserved, Active, Locked, Suspended, Deactivated] {
            rows.push((Some(s), K::MarkCompromised, Some(Compromised)));
        }
        rows
    }

    #[test]
    fn every_pair_matches_the_table() {
        let employee = EmployeeId::new_v7();
        let table = table();
        let mut allowed = 0;
        let froms: Vec<Option<KeyStatus>> = std::iter::once(None)
            .chain(KeyStatus::ALL.into_iter().map(Some))
            .collect();
        for from in froms {
            for kind in EventKind::ALL {
                let result = transition(from, &sample(kind, employee), KeyFacts::default());
                let expected = table.iter().find(|(f, k, _)| *f == from && *k == kind);
                match (result, expected) {
                    (Ok(t), Some((_, _, want))) => {
                        assert_eq!(t.to, *want, "{from:?} {kind}");
                        allowed += 1;
                    }
                    (Err(Error::InvalidTransition { from: f, event }), None) => {
                        assert_eq!((f, event), (from, kind));
                    }
                    (other, want) => {
                        panic!("{from:?} + {kind}: got {other:?}, table says {want:?}")
                    }
                }
            }
        }
        assert_eq!(allowed, table.len());
    }

    #[test]
    fn errors_name_status_and_event() {
        let err = transition(Some(Compromised), &Event::Unlock, KeyFacts::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a key in status compromised cannot take the event 'unlock'"
        );
        let err = transition(None, &Event::Activate, KeyFacts::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a key that does not exist cannot take the event 'activate'"
        );
    }

    #[test]
    fn guards_and_reasons() {
        let linked = KeyFacts {
            linked_to_workstation: true,
        };
        assert!(matches!(
            transition(Some(Reserved), &Event::CancelIssuance, linked),
            Err(Error::GuardFailed { .. })
        ));
        assert!(matches!(
            transition(
                Some(Active),
                &Event::MarkCompromised {
                    reason: Reason::Broken
                },
                KeyFacts::default()
            ),
            Err(Error::InvalidReason { .. })
        ));
        assert!(matches!(
            transition(
                Some(Active),
                &Event::Lock {
                    reason: Reason::Stolen
                },
                KeyFacts::default()
            ),
            Err(Error::InvalidReason { .. })
        ));
        assert!(matches!(
            transition(
                Some(Active),
                &Event::Deactivate {
                    reason: Reason::InvalidActivationCode
                },
                KeyFacts::default()
            ),
            Err(Error::InvalidReason { .. })
        ));
        let t = transition(Some(Reserved), &Event::FailActivation, KeyFacts::default()).unwrap();
        assert_eq!(t.reason, Some(Reason::InvalidActivationCode));
        let t = transition(Some(Active), &Event::Activate, KeyFacts::default());
        assert!(t.is_err());
        let t = transition(Some(Reserved), &Event::Activate, KeyFacts::default()).unwrap();
        assert!(t.effects.contains(&Effect::StartFirstRotation));
        let t = transition(
            Some(Active),
            &Event::MarkCompromised {
                reason: Reason::Stolen,
            },
            KeyFacts::default(),
        )
        .unwrap();
        assert!(t.effects.contains(&Effect::RotateHeldPasswords));
        assert!(t.effects.contains(&Effect::DropPendingDeliveries));
        let t = transition(
            Some(Locked),
            &Event::Deactivate {
                reason: Reason::Broken,
            },
            KeyFacts::default(),
        )
        .unwrap();
        assert!(t.effects.contains(&Effect::QueueWipe));
    }

    fn any_event() -> impl Strategy<Value = Event> {
        (0..EventKind::ALL.len(), 0..Reason::ALL.len(), any::<bool>()).prop_map(|(k, r, flip)| {
            let reason = Reason::ALL[r];
            match EventKind::ALL[k] {
                EventKind::Lock if flip => Event::Lock { reason },
                EventKind::Deactivate if flip => Event::Deactivate { reason },
                EventKind::MarkCompromised if flip => Event::MarkCompromised { reason },
                kind => sample(kind, EmployeeId::new_v7()),
            }
        })
    }

    proptest! {
        #[test]
        fn owner_exists_exactly_in_owner_statuses(events in proptest::collection::vec(any_event(), 1..60), linked in any::<bool>()) {
            let mut status: Option<KeyStatus> = None;
            let mut owner: Option<EmployeeId> = None;
            let mut was_compromised = false;
            for event in &events {
                let before = status;
                let Ok(t) = transition(status, event, KeyFacts { linked_to_workstation: linked }) else {
                    continue;
                };
                prop_assert_eq!(t.from, before);
                if was_compromised && status.is_some() {
                    prop_assert_eq!(t.event, EventKind::Delete, "only deletion follows Compromised");
                }
                for effect in &t.effects {
                    match effect {
                        Effect::SetOwner(e) => owner = Some(*e),
                        Effect::RemoveOwner | Effect::DeleteKey => owner = None,
                        _ => {}
                    }
                }
                status = t.to;
                if status.is_none() {
                    was_compromised = false;
                }
                if status == Some(Compromised) {
                    was_compromised = true;
                }
                prop_assert_eq!(owner.is_some(), status.is_some_and(KeyStatus::has_owner), "after {:?} in {:?}", event, status);
            }
        }

        #[test]
        fn a_deleted_key_takes_no_event_but_a_new_import(event in any_event()) {
            let result = transition(None, &event, KeyFacts::default());
            prop_assert_eq!(result.is_ok(), event == Event::Import);
        }

        #[test]
        fn compromised_only_leaves_by_deletion(event in any_event()) {
            if let Ok(t) = transition(Some(Compromised), &event, KeyFacts::default()) {
                prop_assert_eq!(t.to, None);
            }
        }
    }
}

/// The operations an administrator may start on a key in `status` with `facts`, in the order
/// a console shows them: the events the transition table accepts from there, asked of
/// [`transition`] itself so that a screen never offers what the table refuses. Events that
/// only the system or an agent causes (import, activation, resume, wipe confirmation, a failed
/// activation) are left out.
pub fn admin_operations(status: KeyStatus, facts: KeyFacts) -> Vec<EventKind> {
    let samples = [
        Event::Assign {
            employee: EmployeeId::new_v7(),
        },
        Event::CancelIssuance,
        Event::Lock {
            reason: Reason::Admin,
        },
        Event::Suspend {
            description: "console".into(),
        },
        Event::Unlock,
        Event::Deactivate {
            reason: Reason::Admin,
        },
        Event::MarkCompromised {
            reason: Reason::Lost,
        },
        Event::Delete,
    ];
    samples
        .iter()
        .filter(|event| transition(Some(status), event, facts).is_ok())
        .map(Event::kind)
        .collect()
}

#[cfg(test)]
mod admin_operation_tests {
    use super::*;

    #[test]
    fn each_status_offers_exactly_what_the_table_accepts() {
        let facts = KeyFacts::default();
        assert_eq!(
            admin_operations(KeyStatus::Ready, facts),
            vec![
                EventKind::Assign,
                EventKind::MarkCompromised,
                EventKind::Delete
            ]
        );
        let active = admin_operations(KeyStatus::Active, facts);
        assert!(active.contains(&EventKind::Suspend), "{active:?}");
        assert!(active.contains(&EventKind::Lock), "{active:?}");
        assert!(!active.contains(&EventKind::Assign), "{active:?}");
        assert!(!active.contains(&EventKind::Unlock), "{active:?}");
        assert!(admin_operations(KeyStatus::Locked, facts).contains(&EventKind::Unlock));
        for status in KeyStatus::ALL {
            for kind in admin_operations(status, facts) {
                assert!(
                    !matches!(
                        kind,
                        EventKind::Import | EventKind::Activate | EventKind::Resume
                    ),
                    "{status:?} offers {kind:?}"
                );
            }
        }
    }
}
