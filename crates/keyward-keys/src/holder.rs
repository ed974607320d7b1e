//! Which workstation holds a key, after each event.
//!
//! A key's holder is the workstation that proved it has the key in hand: the activation code
//! was typed on it, or it presented the key proof stored on the key. Passwords go only to the
//! holder of an Active key. The holder is part of the key's state, so every event says what
//! becomes of it, in the same write as the status: nothing of a holder survives a change it
//! did not take part in, and an administrator's action never makes a workstation the holder.

use crate::EventKind;

/// What an event does to the key's holder and to its key proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderRule {
    /// The key changes hands: no workstation holds it and its proof is forgotten, so nothing
    /// of the previous holder carries over.
    Forget,
    /// No workstation holds the key, but the proof stays on record: the workstation that has
    /// the key in hand proves it again by presenting the proof.
    Release,
    /// The workstation on which the activation code was typed holds the key and gets a new
    /// proof. When the code came through an administrator, no workstation proved anything and
    /// the rule is [`HolderRule::Release`].
    ProverHolds,
}

/// The rule for `event`, one arm per event and no wildcard, so a new event must say what it
/// does to the holder.
pub const fn holder_rule(event: EventKind) -> HolderRule {
    match event {
        EventKind::Import
        | EventKind::Assign
        | EventKind::CancelIssuance
        | EventKind::ConfirmWipe
        | EventKind::MarkCompromised
        | EventKind::Delete => HolderRule::Forget,
        EventKind::FailActivation
        | EventKind::Lock
        | EventKind::Suspend
        | EventKind::Unlock
        | EventKind::Deactivate => HolderRule::Release,
        EventKind::Activate | EventKind::Resume => HolderRule::ProverHolds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, KeyFacts, KeyStatus, transition};

    /// Every event that leads to Active is one where the holder proves possession, so an
    /// Active key is never held by a workstation that only carried over from before.
    #[test]
    fn only_a_prover_can_hold_a_key_that_becomes_active() {
        let owner = keyward_model::EmployeeId::new_v7();
        let events = [
            Event::Import,
            Event::Assign { employee: owner },
            Event::CancelIssuance,
            Event::Activate,
            Event::FailActivation,
            Event::Lock {
                reason: crate::Reason::Admin,
            },
            Event::Suspend {
                description: String::new(),
            },
            Event::Resume,
            Event::Unlock,
            Event::Deactivate {
                reason: crate::Reason::Withdrawal,
            },
            Event::ConfirmWipe,
            Event::MarkCompromised {
                reason: crate::Reason::Lost,
            },
            Event::Delete,
        ];
        let statuses = [None]
            .into_iter()
            .chain(KeyStatus::ALL.into_iter().map(Some));
        for from in statuses {
            for event in &events {
                let Ok(t) = transition(from, event, KeyFacts::default()) else {
                    continue;
                };
                let rule = holder_rule(t.event);
                if t.to == Some(KeyStatus::Active) {
                    assert_eq!(rule, HolderRule::ProverHolds, "{from:?} {:?}", t.event);
                } else {
                    assert_ne!(rule, HolderRule::ProverHolds, "{from:?} {:?}", t.event);
                }
                // A key that leaves or returns to stock, or is compromised, keeps nothing.
                if matches!(t.to, None | Some(KeyStatus::Ready | KeyStatus::Compromised))
                    || t.event == crate::EventKind::Assign
                {
                    assert_eq!(rule, HolderRule::Forget, "{from:?} {:?}", t.event);
                }
            }
        }
    }
}
