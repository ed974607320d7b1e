//! The sync schedule: incremental runs of every directory every `sync.incremental_interval_secs`,
//! and a full reconciliation every `sync.full_interval_secs`. With several server instances on
//! one database, each directory's lease lets exactly one of them run it at a time; the others
//! log that it is busy and try again at their next tick.

use std::time::{Duration, Instant};

use keyward_service::{Actor, Keyward, SyncOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Starts the schedule when there is something to schedule.
pub(crate) fn spawn(keyward: keyward_service::Keyward) -> Option<JoinHandle<()>> {
    let sync = keyward.settings().sync.clone();
    if sync.incremental_interval_secs == 0 || keyward.settings().directories.is_empty() {
        return None;
    }
    Some(tokio::spawn(run(
        keyward,
        sync.incremental_interval_secs,
        sync.full_interval_secs,
    )))
}

async fn run(keyward: Keyward, every_secs: u64, full_every_secs: u64) {
    let mut ticker = tokio::time::interval(Duration::from_secs(every_secs));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_full: Option<Instant> = None;
    loop {
        ticker.tick().await;
        let full = full_every_secs > 0
            && last_full.is_none_or(|t| t.elapsed() >= Duration::from_secs(full_every_secs));
        let options = SyncOptions {
            full,
            ..SyncOptions::default()
        };
        for (directory, outcome) in keyward
            .sync()
            .run_all(&options, &Actor::System, &|_| {})
            .await
        {
            match outcome {
                Ok(r) => tracing::info!(
                    %directory, mode = %r.mode, created = r.created, updated = r.updated,
                    missing = r.missing, removed = r.removed, held = r.held,
                    skipped = r.skipped.len(), "scheduled sync done"
                ),
                Err(e) => tracing::warn!(%directory, error = %e, "scheduled sync failed"),
            }
        }
        if full {
            last_full = Some(Instant::now());
        }
    }
}

/// Starts the outbox worker when mail is configured: every `mail.send_interval_secs` it sends
/// what is due. Several servers may run it: a message is claimed by one sender at a time. When
/// `stop` turns true it finishes the message in hand and returns, so a restart sends each
/// message exactly once.
pub(crate) fn spawn_mailer(
    keyward: Keyward,
    stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    let mail = keyward.settings().mail.clone();
    if mail.smtp_host.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut stop_wait = stop.clone();
        let every = Duration::from_secs(mail.send_interval_secs.max(1));
        while !*stop.borrow() {
            let keep_going = || !*stop.borrow();
            match keyward.mail().send_due_while(&keep_going).await {
                Ok(r) if r.sent + r.failed + r.cancelled > 0 => {
                    tracing::info!(
                        sent = r.sent,
                        failed = r.failed,
                        cancelled = r.cancelled,
                        "outbox run"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox run failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop_wait.changed() => {}
            }
        }
    }))
}

/// Starts the rotation worker when a key-encryption key is configured: it runs the due
/// directory steps every `passwords.poll_interval_secs` (at once when an agent acknowledged a
/// candidate), and once an hour starts the rotations that `max_password_age_days` makes due.
/// Several servers may run it: each directory step is claimed by one worker at a time.
pub(crate) fn spawn_rotation(
    keyward: Keyward,
    wake: std::sync::Arc<tokio::sync::Notify>,
    stop: watch::Receiver<bool>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) -> Option<JoinHandle<()>> {
    let secrets = &keyward.settings().secrets;
    if secrets.key_file.is_none() && secrets.passphrase_env.is_none() {
        tracing::info!("no key-encryption key configured: password rotation is off");
        return None;
    }
    let every = Duration::from_secs(keyward.settings().passwords.poll_interval_secs.max(1));
    Some(tokio::spawn(async move {
        let mut stop_wait = stop.clone();
        let mut last_expiry_check: Option<Instant> = None;
        while !*stop.borrow() {
            if last_expiry_check.is_none_or(|t| t.elapsed() >= Duration::from_hours(1)) {
                match keyward.passwords().rotate_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(started = n, "rotations started for expired passwords"),
                    Err(e) => tracing::warn!(error = %e, "expired-password check failed"),
                }
                last_expiry_check = Some(Instant::now());
            }
            let pass = keyward.passwords().advance_due().await;
            if let Ok(r) = &pass {
                metrics.count_rotation_steps(r.committed, r.refused, r.retried);
            }
            match pass {
                Ok(r) if r.committed + r.refused + r.retried > 0 => tracing::info!(
                    committed = r.committed,
                    refused = r.refused,
                    retried = r.retried,
                    "rotation directory steps"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "rotation worker pass failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = wake.notified() => {}
                _ = stop_wait.changed() => {}
            }
        }
    }))
}
