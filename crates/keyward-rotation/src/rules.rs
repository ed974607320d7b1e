//! The rotation protocol of docs/product.md §3 as functions from one stored state to the next.
//! No IO here: the callers read a row, call one of these, and store the result version-checked.

use chrono::{DateTime, Utc};
use keyward_model::{Backoff, DomainController};

use crate::{LastCommit, Method, PasswordState, PendingRotation, RotationState};

/// A sealed candidate and why it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The candidate, sealed for version n+1.
    pub sealed: String,
    /// How the directory will receive it.
    pub method: Method,
    /// What started the rotation.
    pub reason: &'a str,
    /// Who started it.
    pub requested_by: String,
}

/// Starts a rotation: the sealed candidate becomes pending version n+1. Without a key it goes
/// straight to the directory (only for the accounts of a compromised key, whose holder must
/// lose access).
pub fn start(
    current: &PasswordState,
    key_serial: Option<String>,
    candidate: Candidate<'_>,
    now: DateTime<Utc>,
) -> PasswordState {
    let skip_key = key_serial.is_none();
    let Candidate {
        sealed,
        method,
        reason,
        requested_by,
    } = candidate;
    PasswordState {
        key_serial,
        state: if skip_key {
            RotationState::AwaitingDirectory
        } else {
            RotationState::AwaitingKey
        },
        pending: Some(PendingRotation {
            version: current.version + 1,
            sealed,
            method,
            reason: reason.to_owned(),
            requested_by,
            requested_at: now,
            acknowledged_at: None,
            controller: None,
        }),
        attempts: 0,
        next_attempt_at: skip_key.then_some(now),
        claimed_until: None,
        last_error: None,
        ..current.clone()
    }
}

/// The key acknowledged the pending candidate: the directory step is due now.
pub fn delivered(current: &PasswordState, now: DateTime<Utc>) -> PasswordState {
    let mut next = current.clone();
    next.state = RotationState::AwaitingDirectory;
    if let Some(p) = next.pending.as_mut() {
        p.acknowledged_at = Some(now);
    }
    next.attempts = 0;
    next.next_attempt_at = Some(now);
    next.claimed_until = None;
    next
}

/// Where the next directory step of a rotation may go (docs/product.md §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// No controller has been tried yet: the directory's URLs in order, and the first that
    /// answers is pinned ([`pinned`]) before the write is sent.
    AnyInOrder,
    /// Only this controller: a write may have landed there, and another controller (which may
    /// not have replicated it yet) must neither take a second write nor decide a refusal.
    /// Unreachable, the step is transient.
    Pinned(&'a DomainController),
    /// The pinned controller's URL is no longer configured: the administrator removed it, which
    /// says it is gone for good. The pin is released ([`released`]) and the step starts again
    /// on the configured URLs.
    Gone(&'a DomainController),
}

/// Where the next directory step of `current` may go, given the directory's URLs now.
pub fn route<'a>(current: &'a PasswordState, configured_urls: &[String]) -> Route<'a> {
    match current.pending.as_ref().and_then(|p| p.controller.as_ref()) {
        None => Route::AnyInOrder,
        Some(c) if configured_urls.contains(&c.url) => Route::Pinned(c),
        Some(c) => Route::Gone(c),
    }
}

/// The directory step reached `controller` and is about to write there: every further step of
/// this rotation goes to it. A pin already there is kept (the first write's controller wins).
pub fn pinned(current: &PasswordState, controller: DomainController) -> PasswordState {
    let mut next = current.clone();
    if let Some(p) = next.pending.as_mut()
        && p.controller.is_none()
    {
        p.controller = Some(controller);
    }
    next
}

/// The pin of the rotation in flight is released (its controller is gone for good): the next
/// step goes to the configured URLs in order, and pins again.
pub fn released(current: &PasswordState) -> PasswordState {
    let mut next = current.clone();
    if let Some(p) = next.pending.as_mut() {
        p.controller = None;
    }
    next
}

/// The directory took the candidate: it is the committed version now, and the previous one is
/// dropped. `written` is where and at which `unicodePwd` version, when the controller said;
/// without it the previous [`LastCommit`] stays (a lower bound is still a bound). `None` when
/// nothing is in flight.
pub fn committed(
    current: &PasswordState,
    now: DateTime<Utc>,
    written: Option<LastCommit>,
) -> Option<PasswordState> {
    let pending = current.pending.as_ref()?;
    // Idle at the committed version: nothing in flight, no attempts, no error.
    Some(PasswordState {
        version: pending.version,
        sealed_current: Some(pending.sealed.clone()),
        committed_at: Some(now),
        last_commit: written.or_else(|| current.last_commit.clone()),
        ..PasswordState::new(current.key_serial.clone())
    })
}

/// Whether `reached`, about to take the first write of a rotation, is behind the account's last
/// commit: another controller than the one that took it, holding a lower `unicodePwd` version
/// (`its_version`) than the one that controller gave the committed password. Then the last
/// commit is returned, and the write must wait: Active Directory settles two unreplicated
/// changes of one attribute by version before time, so the older committed password would win
/// once replication resumes and the key would hold a password the domain no longer has.
///
/// Not behind when nothing was recorded, when `its_version` could not be read, or when the last
/// commit's controller is no longer in `configured_urls` (removed by the administrator: gone
/// for good, so its unreplicated changes never arrive).
pub fn behind_last_commit<'a>(
    current: &'a PasswordState,
    reached: &DomainController,
    its_version: Option<u32>,
    configured_urls: &[String],
) -> Option<&'a LastCommit> {
    let last = current.last_commit.as_ref()?;
    let same = match (&last.controller.host, &reached.host) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => last.controller.url == reached.url,
    };
    if same || !configured_urls.contains(&last.controller.url) {
        return None;
    }
    (its_version? < last.password_version).then_some(last)
}

/// The directory refused the candidate for good: the key must go back to the committed value
/// (or drop the account when keyward never knew a committed value), see [`rollback_target`]. A
/// rotation that never reached a key (compromised key) has nothing to roll back and just ends.
pub fn refused(current: &PasswordState, error: String) -> PasswordState {
    let mut next = current.clone();
    next.claimed_until = None;
    next.next_attempt_at = None;
    next.last_error = Some(error);
    if current.key_serial.is_some() {
        next.state = RotationState::RollingBack;
    } else {
        next.state = RotationState::Idle;
        next.pending = None;
        next.attempts = 0;
    }
    next
}

/// A transient directory failure: try again after the exponential back-off
/// `base · 2^(attempts−1)`, at most `max` (and never less than `base`).
pub fn retry(
    current: &PasswordState,
    error: String,
    now: DateTime<Utc>,
    base_secs: u64,
    max_secs: u64,
) -> PasswordState {
    let backoff = Backoff {
        base_secs,
        max_secs: max_secs.max(base_secs),
    };
    let mut next = current.clone();
    next.attempts = current.attempts.saturating_add(1);
    next.next_attempt_at = Some(now + backoff.after(next.attempts));
    next.claimed_until = None;
    next.last_error = Some(error);
    next
}

/// What the key must hold after a roll-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollbackTarget<'a> {
    /// The version the key stores it under: one above the refused candidate's, so that no
    /// acknowledgement (a late duplicate of the refused candidate's, say) can ever be taken
    /// for that of another value. Version numbers are never reused.
    pub version: i64,
    /// The committed value, sealed; `None` when keyward never knew it (the key then drops
    /// the account).
    pub sealed: Option<&'a str>,
    /// The version `sealed` is sealed for (the committed one).
    pub sealed_version: i64,
}

/// What the key must hold while `current` rolls back.
pub fn rollback_target(current: &PasswordState) -> RollbackTarget<'_> {
    let refused = current
        .pending
        .as_ref()
        .map_or(current.version, |p| p.version);
    RollbackTarget {
        version: refused + 1,
        sealed: current.sealed_current.as_deref(),
        sealed_version: current.version,
    }
}

/// The key acknowledged the roll-back: it holds the committed value again, under the roll-back's
/// own version, for which the caller resealed that value (`resealed`).
pub fn rolled_back(current: &PasswordState, resealed: Option<String>) -> PasswordState {
    let mut next = cleared(current);
    next.version = rollback_target(current).version;
    next.sealed_current = resealed;
    next
}

/// Nothing in flight any more; the committed version is unchanged.
fn cleared(current: &PasswordState) -> PasswordState {
    let mut next = current.clone();
    next.state = RotationState::Idle;
    next.pending = None;
    next.attempts = 0;
    next.next_attempt_at = None;
    next.claimed_until = None;
    next
}

/// The key is gone (deactivated). A candidate the key already acknowledged goes on to the
/// directory without the key (the directory may hold it already, so dropping it could leave
/// keyward with the wrong committed value); anything earlier is dropped, since the directory
/// was never changed for it.
pub fn detached(current: &PasswordState, error: &str) -> PasswordState {
    if current.state == RotationState::AwaitingDirectory {
        let mut next = current.clone();
        next.key_serial = None;
        return next;
    }
    replaced(current, error)
}

/// Everything in flight is dropped because a new rotation replaces it (a compromised key).
/// The caller must not let the replacement's directory step run before a worker's live
/// claim on the dropped one has ended ([`not_before_claim_ends`]).
pub fn replaced(current: &PasswordState, error: &str) -> PasswordState {
    let mut next = cleared(current);
    next.key_serial = None;
    if current.pending.is_some() {
        next.last_error = Some(error.to_owned());
    }
    next
}

/// Delays the directory step of `next` until the claim `previous` held has ended, so that a
/// worker still writing the dropped candidate cannot overwrite the replacement.
pub fn not_before_claim_ends(
    previous: &PasswordState,
    mut next: PasswordState,
    now: DateTime<Utc>,
) -> PasswordState {
    if let (Some(until), Some(at)) = (previous.claimed_until, next.next_attempt_at)
        && until > now
        && until > at
    {
        next.next_attempt_at = Some(until);
    }
    next
}

/// The user changed the password on the key alone: keyward records a new version it does not
/// know the value of.
pub fn changed_on_key(current: &PasswordState, now: DateTime<Utc>) -> PasswordState {
    PasswordState {
        version: current.version + 1,
        sealed_current: None,
        committed_at: Some(now),
        last_error: None,
        ..current.clone()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn cand<'a>(sealed: &str, reason: &'a str) -> Candidate<'a> {
        Candidate {
            sealed: sealed.into(),
            method: Method::Reset,
            reason,
            requested_by: "cli".into(),
        }
    }

    fn idle() -> PasswordState {
        PasswordState::new(Some("HK-1".into()))
    }

    #[test]
    fn a_rotation_runs_pending_then_delivered_then_committed() {
        let now = Utc::now();
        let s = start(
            &idle(),
            Some("HK-1".into()),
            cand("sealed-1", "admin_generate"),
            now,
        );
        assert_eq!(s.state, RotationState::AwaitingKey);
        assert_eq!(s.pending.as_ref().unwrap().version, 1);
        assert_eq!(s.pending.as_ref().unwrap().method, Method::Reset);
        assert_eq!(s.version, 0);
        let s = delivered(&s, now);
        assert_eq!(s.state, RotationState::AwaitingDirectory);
        let s = committed(&s, now, None).unwrap();
        assert_eq!(
            (s.version, s.sealed_current.as_deref(), s.state),
            (1, Some("sealed-1"), RotationState::Idle)
        );
        assert!(s.pending.is_none());
    }

    #[test]
    fn without_a_key_the_candidate_goes_straight_to_the_directory() {
        let now = Utc::now();
        let s = start(&idle(), None, cand("c", "key_compromised"), now);
        assert_eq!(
            (s.state, s.next_attempt_at, s.key_serial.as_deref()),
            (RotationState::AwaitingDirectory, Some(now), None)
        );
        // Refused, it just ends: no key to roll back.
        let s = refused(&s, "policy".into());
        assert_eq!((s.state, s.pending.is_none()), (RotationState::Idle, true));
    }

    #[test]
    fn a_refused_candidate_rolls_the_key_back_to_the_committed_value() {
        let now = Utc::now();
        let mut base = idle();
        base.version = 4;
        base.sealed_current = Some("sealed-4".into());
        let s = start(&base, Some("HK-1".into()), cand("sealed-5", "max_age"), now);
        let s = refused(&delivered(&s, now), "policy".into());
        assert_eq!(s.state, RotationState::RollingBack);
        assert_eq!(
            rollback_target(&s),
            RollbackTarget {
                version: 6,
                sealed: Some("sealed-4"),
                sealed_version: 4
            }
        );
        let s = rolled_back(&s, Some("sealed-4-as-6".into()));
        assert_eq!((s.version, s.state), (6, RotationState::Idle));
        assert_eq!(s.sealed_current.as_deref(), Some("sealed-4-as-6"));
        assert_eq!(s.last_error.as_deref(), Some("policy"));
        // The next rotation's candidate is version 7: 5 (refused) is never used again.
        let next = start(&s, Some("HK-1".into()), cand("sealed-7", "max_age"), now);
        assert_eq!(next.pending.unwrap().version, 7);
    }

    #[test]
    fn a_first_rotation_rolls_back_to_nothing_on_the_key() {
        let s = refused(
            &start(
                &idle(),
                Some("HK-1".into()),
                cand("c", "key_activation"),
                Utc::now(),
            ),
            "e".into(),
        );
        assert_eq!(
            rollback_target(&s),
            RollbackTarget {
                version: 2,
                sealed: None,
                sealed_version: 0
            }
        );
    }

    #[test]
    fn retries_back_off_exponentially_and_never_below_the_base() {
        let now = Utc::now();
        let mut s = delivered(
            &start(&idle(), Some("HK-1".into()), cand("c", "max_age"), now),
            now,
        );
        let mut waits = Vec::new();
        for _ in 0..7 {
            s = retry(&s, "down".into(), now, 30, 900);
            waits.push((s.next_attempt_at.unwrap() - now).num_seconds());
        }
        assert_eq!(waits, [30, 60, 120, 240, 480, 900, 900]);
        assert_eq!(s.attempts, 7);
        // A maximum below the base is the base.
        let s = retry(&idle(), "down".into(), now, 600, 60);
        assert_eq!(s.next_attempt_at, Some(now + Duration::seconds(600)));
    }

    #[test]
    fn a_detached_key_keeps_only_an_acknowledged_candidate() {
        let now = Utc::now();
        let pending = start(&idle(), Some("HK-1".into()), cand("c", "max_age"), now);
        let dropped = detached(&pending, "cancelled");
        assert_eq!(
            (dropped.state, dropped.pending.is_none(), dropped.key_serial),
            (RotationState::Idle, true, None)
        );
        assert_eq!(dropped.last_error.as_deref(), Some("cancelled"));
        let acknowledged = delivered(&pending, now);
        let kept = detached(&acknowledged, "cancelled");
        assert_eq!(kept.state, RotationState::AwaitingDirectory);
        assert_eq!(kept.pending, acknowledged.pending);
        assert_eq!(kept.key_serial, None);
    }

    #[test]
    fn a_replacement_waits_for_a_live_claim_to_end() {
        let now = Utc::now();
        let mut previous = idle();
        previous.claimed_until = Some(now + Duration::seconds(60));
        let mut next = idle();
        next.next_attempt_at = Some(now);
        let next = not_before_claim_ends(&previous, next, now);
        assert_eq!(next.next_attempt_at, previous.claimed_until);
        // An expired claim delays nothing.
        previous.claimed_until = Some(now - Duration::seconds(1));
        let mut other = idle();
        other.next_attempt_at = Some(now);
        assert_eq!(
            not_before_claim_ends(&previous, other, now).next_attempt_at,
            Some(now)
        );
    }

    fn dc(url: &str, host: &str) -> DomainController {
        DomainController {
            url: url.into(),
            host: Some(host.into()),
        }
    }

    #[test]
    fn the_first_controller_tried_takes_every_further_step_until_the_commit() {
        let now = Utc::now();
        let urls = vec!["ldaps://dc1".to_owned(), "ldaps://dc2".to_owned()];
        let s = delivered(
            &start(&idle(), Some("HK-1".into()), cand("c", "max_age"), now),
            now,
        );
        assert_eq!(route(&s, &urls), Route::AnyInOrder);
        let s = pinned(&s, dc("ldaps://dc1", "dc1.corp"));
        let on_dc1 = Route::Pinned(s.pending.as_ref().unwrap().controller.as_ref().unwrap());
        assert_eq!(route(&s, &urls), on_dc1);
        // A second pin (a later attempt that failed over) never moves it.
        let s = pinned(&s, dc("ldaps://dc2", "dc2.corp"));
        assert_eq!(
            s.pending.as_ref().unwrap().controller,
            Some(dc("ldaps://dc1", "dc1.corp"))
        );
        // Retries, stalls and a detached key keep it; the order of the URLs does not matter.
        let s = retry(&s, "unreachable".into(), now, 1, 2);
        let s = retry(&s, "unreachable".into(), now, 1, 2);
        let s = detached(&s, "cancelled");
        let reordered = vec!["ldaps://dc2".to_owned(), "ldaps://dc1".to_owned()];
        assert_eq!(
            route(&s, &reordered),
            Route::Pinned(&dc("ldaps://dc1", "dc1.corp"))
        );
        // Its URL removed from the configuration: gone; released, the step starts again.
        let only_dc2 = vec!["ldaps://dc2".to_owned()];
        assert_eq!(
            route(&s, &only_dc2),
            Route::Gone(&dc("ldaps://dc1", "dc1.corp"))
        );
        let free = released(&s);
        assert_eq!(route(&free, &only_dc2), Route::AnyInOrder);
        assert_eq!(free.attempts, 2, "releasing a pin is not a new rotation");
        // The commit frees the account: the next rotation pins afresh.
        let done = committed(&s, now, None).unwrap();
        let next = delivered(
            &start(&done, Some("HK-1".into()), cand("d", "max_age"), now),
            now,
        );
        assert_eq!(route(&next, &urls), Route::AnyInOrder);
        // Nothing in flight: nothing to pin.
        assert_eq!(pinned(&idle(), dc("ldaps://dc1", "dc1.corp")), idle());
    }

    #[test]
    fn a_change_on_the_key_is_a_version_keyward_does_not_know() {
        let now = Utc::now();
        let mut base = idle();
        base.version = 3;
        base.sealed_current = Some("sealed-3".into());
        let s = changed_on_key(&base, now);
        assert_eq!(
            (s.version, s.sealed_current, s.committed_at),
            (4, None, Some(now))
        );
    }

    #[test]
    fn a_commit_records_where_it_was_written_and_keeps_the_last_bound_when_unknown() {
        let now = Utc::now();
        let first = LastCommit {
            controller: dc("ldaps://dc1", "dc1.corp"),
            password_version: 7,
        };
        let s = delivered(
            &start(&idle(), Some("HK-1".into()), cand("s1", "r"), now),
            now,
        );
        let s = committed(&s, now, Some(first.clone())).unwrap();
        assert_eq!(s.last_commit.as_ref(), Some(&first));
        // The next rotation keeps it in flight, and a commit whose version is unknown too.
        let s = delivered(&start(&s, Some("HK-1".into()), cand("s2", "r"), now), now);
        assert_eq!(s.last_commit.as_ref(), Some(&first));
        let s = committed(&s, now, None).unwrap();
        assert_eq!(s.last_commit, Some(first));
    }

    #[test]
    fn only_another_configured_controller_with_a_lower_version_is_behind() {
        let mut s = idle();
        let urls = vec!["ldaps://dc1".to_owned(), "ldaps://dc2".to_owned()];
        let dc2 = dc("ldaps://dc2", "dc2.corp");
        assert!(
            behind_last_commit(&s, &dc2, Some(1), &urls).is_none(),
            "nothing recorded"
        );
        s.last_commit = Some(LastCommit {
            controller: dc("ldaps://dc1", "DC1.corp"),
            password_version: 5,
        });
        assert!(behind_last_commit(&s, &dc2, Some(4), &urls).is_some());
        assert!(
            behind_last_commit(&s, &dc2, Some(5), &urls).is_none(),
            "replicated"
        );
        assert!(behind_last_commit(&s, &dc2, Some(9), &urls).is_none());
        assert!(
            behind_last_commit(&s, &dc2, None, &urls).is_none(),
            "version unread"
        );
        // The same controller, by host (another URL to it) or by URL when a host is unknown.
        let again = dc("ldaps://10.0.0.1", "dc1.CORP");
        assert!(behind_last_commit(&s, &again, Some(1), &urls).is_none());
        let no_host = DomainController {
            url: "ldaps://dc1".into(),
            host: None,
        };
        assert!(behind_last_commit(&s, &no_host, Some(1), &urls).is_none());
        // The last commit's controller removed from the configuration: gone for good.
        let only_dc2 = vec!["ldaps://dc2".to_owned()];
        assert!(behind_last_commit(&s, &dc2, Some(1), &only_dc2).is_none());
    }
}
