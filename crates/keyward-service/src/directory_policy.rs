//! The directory's own password policy for an account, read when a rotation is planned so that
//! the candidate meets the stricter of keyward's policy and the domain's (docs/product.md §3.1).
//!
//! A directory's policies (the domain's default and its fine-grained ones) are read once per
//! [`POLICY_CACHE_SECS`] and process; which fine-grained policy applies to an account
//! (`msDS-ResultantPSO`) is read per account, and only when the domain has any. Reading is
//! bounded by [`POLICY_READ_SECS`]: a directory that does not answer in time leaves keyward's own
//! policy alone in force, and the directory step's refusal and roll-back remain the safety net.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use keyward_directory::{DomainPolicies, FineGrained};
use keyward_password::DirectoryRules;

use crate::{Directories, Settings};

/// How long a directory's policies are kept before they are read again.
pub const POLICY_CACHE_SECS: u64 = 600;

/// The most a plan waits for the directory's policy.
pub const POLICY_READ_SECS: u64 = 5;

/// After a failed read, how long plans of that directory go on without trying again.
pub const POLICY_RETRY_SECS: u64 = 60;

/// What is known of an account's directory policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountPolicy {
    /// The directory's rules for the account.
    Known(DirectoryRules),
    /// Not known: why, in one line (keyward's own policy alone applies).
    Unknown(String),
}

/// The cached policies of every directory of one [`crate::Keyward`].
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyCell(std::sync::Arc<tokio::sync::Mutex<Cache>>);

#[derive(Debug, Default)]
struct Cache {
    read: HashMap<String, Cached>,
    /// The last failed read of a directory: when, and why.
    failed: HashMap<String, (Instant, String)>,
}

#[derive(Debug, Clone)]
struct Cached {
    read_at: Instant,
    policies: DomainPolicies,
    /// msDS-ResultantPSO by lower-cased account DN.
    resultant: HashMap<String, Option<String>>,
}

impl PolicyCell {
    /// The policy the directory applies to the account `dn`.
    pub(crate) async fn for_account(
        &self,
        settings: &Settings,
        directory: &str,
        dn: &str,
    ) -> AccountPolicy {
        let key = dn.to_lowercase();
        let cached = {
            let cache = self.0.lock().await;
            if let Some((at, why)) = cache.failed.get(directory)
                && at.elapsed() < Duration::from_secs(POLICY_RETRY_SECS)
            {
                return AccountPolicy::Unknown(format!(
                    "{why} (read again after {POLICY_RETRY_SECS} s)"
                ));
            }
            cache
                .read
                .get(directory)
                .filter(|c| c.read_at.elapsed() < Duration::from_secs(POLICY_CACHE_SECS))
                .cloned()
        };
        if let Some(c) = &cached
            && let Some(resultant) = known_resultant(c, &key)
        {
            return applying(&c.policies, resultant.as_deref());
        }
        let read = tokio::time::timeout(
            Duration::from_secs(POLICY_READ_SECS),
            read(settings, directory, dn, cached.map(|c| c.policies)),
        )
        .await;
        let failure = match read {
            Err(_) => format!("directory {directory} did not answer within {POLICY_READ_SECS} s"),
            Ok(Err(e)) => e.to_string(),
            Ok(Ok((policies, resultant, fresh))) => {
                let answer = applying(&policies, resultant.as_deref());
                let mut cache = self.0.lock().await;
                cache.failed.remove(directory);
                let entry = cache
                    .read
                    .entry(directory.to_owned())
                    .or_insert_with(|| Cached {
                        read_at: Instant::now(),
                        policies: policies.clone(),
                        resultant: HashMap::new(),
                    });
                if fresh {
                    entry.read_at = Instant::now();
                    entry.policies = policies;
                    entry.resultant.clear();
                }
                entry.resultant.insert(key, resultant);
                return answer;
            }
        };
        let mut cache = self.0.lock().await;
        cache
            .failed
            .insert(directory.to_owned(), (Instant::now(), failure.clone()));
        AccountPolicy::Unknown(failure)
    }
}

/// The account's msDS-ResultantPSO when the cache can answer without a read: always when the
/// domain has no fine-grained policy.
#[allow(
    clippy::option_option,
    reason = "outer: whether the cache knows; inner: the account's PSO, if any"
)]
fn known_resultant(cached: &Cached, key: &str) -> Option<Option<String>> {
    if has_no_pso(&cached.policies) {
        Some(None)
    } else {
        cached.resultant.get(key).cloned()
    }
}

/// True when the domain has no fine-grained policy at all (and they are readable): the
/// domain's policy then applies to every account.
pub(crate) fn has_no_pso(policies: &DomainPolicies) -> bool {
    matches!(&policies.fine_grained, FineGrained::Readable(all) if all.is_empty())
}

/// Reads what the cache lacks: the policies (unless `cached` still holds them) and the
/// account's resultant PSO (only when the domain has fine-grained policies or they cannot be
/// read). The `bool` says whether the policies were read now.
async fn read(
    settings: &Settings,
    directory: &str,
    dn: &str,
    cached: Option<DomainPolicies>,
) -> crate::Result<(DomainPolicies, Option<String>, bool)> {
    let client = Directories::new(settings).client(directory)?;
    let mut session = client.connect().await?;
    let outcome = async {
        let (policies, fresh) = if let Some(p) = cached {
            (p, false)
        } else {
            let root = session.root_dse().await?;
            let read = session
                .domain_policies(&root.default_naming_context)
                .await?;
            (read, true)
        };
        let resultant = if has_no_pso(&policies) {
            None
        } else {
            session.resultant_pso(dn).await?
        };
        Ok::<_, keyward_directory::Error>((policies, resultant, fresh))
    }
    .await;
    session.close().await;
    Ok(outcome?)
}

fn applying(policies: &DomainPolicies, resultant: Option<&str>) -> AccountPolicy {
    match policies.applying(resultant) {
        Some(settings) => AccountPolicy::Known(settings.rules()),
        None => AccountPolicy::Unknown(format!(
            "the fine-grained password policy {} applies, but the service account cannot read it",
            resultant.unwrap_or("?")
        )),
    }
}
