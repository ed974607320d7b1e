//! The domain's own password policies: the default one on the domain object (minPwdLength,
//! pwdProperties, pwdHistoryLength, ages, lockout) and the fine-grained ones (password settings
//! objects, PSOs) in `CN=Password Settings Container,CN=System`, with the one that applies to an
//! account (its constructed `msDS-ResultantPSO`).
//!
//! Fine-grained policies are readable by Domain Admins only unless delegated; a container that
//! cannot be read is reported as such ([`FineGrained::Unreadable`]), never as "no PSOs".

use keyward_password::DirectoryRules;
use ldap3::Scope;

use crate::{Error, RawEntry, Result, Session};

/// pwdProperties: `DOMAIN_PASSWORD_COMPLEX`.
const DOMAIN_PASSWORD_COMPLEX: u32 = 0x1;

/// Where a [`DirectoryPasswordPolicy`] comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyKind {
    /// The domain's default policy (attributes of the domain object).
    Domain,
    /// A password settings object; the lowest precedence wins among those that apply.
    FineGrained {
        /// msDS-PasswordSettingsPrecedence.
        precedence: u32,
    },
}

/// One password policy of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryPasswordPolicy {
    /// The domain object's DN, or the PSO's.
    pub dn: String,
    /// Domain default or fine-grained.
    pub kind: PolicyKind,
    /// Minimum length.
    pub min_length: u32,
    /// Complexity required.
    pub complexity: bool,
    /// Passwords remembered.
    pub history_length: u32,
    /// Minimum age in seconds (a user's own change is refused before it).
    pub min_age_secs: u64,
    /// Maximum age in seconds; `None`: passwords never expire.
    pub max_age_secs: Option<u64>,
    /// Wrong passwords before a lockout; 0: never locked out.
    pub lockout_threshold: u32,
}

impl DirectoryPasswordPolicy {
    /// What it demands of a password, for keyward's generator and checks.
    pub fn rules(&self) -> DirectoryRules {
        DirectoryRules {
            source: match self.kind {
                PolicyKind::Domain => format!("the domain password policy of {}", self.dn),
                PolicyKind::FineGrained { .. } => {
                    format!("the fine-grained password policy {}", self.dn)
                }
            },
            min_length: self.min_length,
            complexity: self.complexity,
            history_length: self.history_length,
        }
    }
}

/// The fine-grained policies, as far as the bound account can read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FineGrained {
    /// Every PSO of the domain (possibly none).
    Readable(Vec<DirectoryPasswordPolicy>),
    /// The container or its objects cannot be read: why, in one line.
    Unreadable(String),
}

/// The domain's policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainPolicies {
    /// The default policy.
    pub domain: DirectoryPasswordPolicy,
    /// The password settings objects.
    pub fine_grained: FineGrained,
}

impl DomainPolicies {
    /// The policy that applies to an account whose `msDS-ResultantPSO` is `resultant`: that PSO
    /// when it is known, else the domain's. A PSO DN this list does not hold (created since, or
    /// unreadable) gives `None`: the caller cannot know what it demands.
    pub fn applying(&self, resultant: Option<&str>) -> Option<&DirectoryPasswordPolicy> {
        match resultant {
            None => Some(&self.domain),
            Some(dn) => match &self.fine_grained {
                FineGrained::Readable(all) => all.iter().find(|p| p.dn.eq_ignore_ascii_case(dn)),
                FineGrained::Unreadable(_) => None,
            },
        }
    }
}

impl Session {
    /// Reads the domain's default policy from the domain object `naming_context` (the
    /// defaultNamingContext) and every password settings object under it.
    pub async fn domain_policies(&mut self, naming_context: &str) -> Result<DomainPolicies> {
        let attrs = [
            "minPwdLength",
            "pwdProperties",
            "pwdHistoryLength",
            "minPwdAge",
            "maxPwdAge",
            "lockoutThreshold",
        ];
        let domain = self
            .search_small(
                naming_context,
                Scope::Base,
                "(objectClass=*)",
                attrs.iter().map(|a| (*a).to_owned()).collect(),
            )
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Search {
                code: 32,
                detail: format!("the domain object {naming_context} cannot be read"),
            })?;
        let number = |name: &str| -> Result<i64> { required_number(&domain, name) };
        let domain = DirectoryPasswordPolicy {
            dn: naming_context.to_owned(),
            kind: PolicyKind::Domain,
            min_length: to_u32(number("minPwdLength")?),
            complexity: to_u32(number("pwdProperties")?) & DOMAIN_PASSWORD_COMPLEX != 0,
            history_length: to_u32(number("pwdHistoryLength")?),
            min_age_secs: interval_secs(number("minPwdAge")?).unwrap_or(0),
            max_age_secs: interval_secs(number("maxPwdAge")?),
            lockout_threshold: to_u32(number("lockoutThreshold")?),
        };
        let fine_grained = self.fine_grained(naming_context).await?;
        Ok(DomainPolicies {
            domain,
            fine_grained,
        })
    }

    async fn fine_grained(&mut self, naming_context: &str) -> Result<FineGrained> {
        let container = format!("CN=Password Settings Container,CN=System,{naming_context}");
        let attrs = [
            "msDS-PasswordSettingsPrecedence",
            "msDS-MinimumPasswordLength",
            "msDS-PasswordComplexityEnabled",
            "msDS-PasswordHistoryLength",
            "msDS-MinimumPasswordAge",
            "msDS-MaximumPasswordAge",
            "msDS-LockoutThreshold",
        ];
        let unreadable = |why: String| {
            Ok(FineGrained::Unreadable(format!(
                "{why}; grant the service account List Contents and Read on {container} and its \
                 objects (docs/operations.md, \"The service account\")"
            )))
        };
        match self
            .search_small(
                &container,
                Scope::Base,
                "(objectClass=*)",
                vec!["1.1".into()],
            )
            .await
        {
            Ok(found) if !found.is_empty() => {}
            Ok(_) | Err(Error::Search { code: 32 | 50, .. }) => {
                return unreadable(format!("{container} is not visible to the bound account"));
            }
            Err(e) => return Err(e),
        }
        let entries = match self
            .search_small(
                &container,
                Scope::OneLevel,
                "(objectClass=msDS-PasswordSettings)",
                attrs.iter().map(|a| (*a).to_owned()).collect(),
            )
            .await
        {
            Ok(entries) => entries,
            Err(Error::Search { code: 50, .. }) => {
                return unreadable(format!("listing {container} is refused"));
            }
            Err(e) => return Err(e),
        };
        let mut all = Vec::with_capacity(entries.len());
        for pso in &entries {
            let number = |name: &str| required_number(pso, name);
            let Ok(min_length) = number("msDS-MinimumPasswordLength") else {
                return unreadable(format!("the attributes of {} cannot be read", pso.dn));
            };
            all.push(DirectoryPasswordPolicy {
                dn: pso.dn.clone(),
                kind: PolicyKind::FineGrained {
                    precedence: to_u32(number("msDS-PasswordSettingsPrecedence")?),
                },
                min_length: to_u32(min_length),
                complexity: pso
                    .text("msDS-PasswordComplexityEnabled")
                    .is_some_and(|t| t.eq_ignore_ascii_case("TRUE")),
                history_length: to_u32(number("msDS-PasswordHistoryLength")?),
                min_age_secs: interval_secs(number("msDS-MinimumPasswordAge")?).unwrap_or(0),
                max_age_secs: interval_secs(number("msDS-MaximumPasswordAge")?),
                lockout_threshold: to_u32(number("msDS-LockoutThreshold")?),
            });
        }
        all.sort_by(|a, b| a.dn.cmp(&b.dn));
        Ok(FineGrained::Readable(all))
    }

    /// The DN of the password settings object that applies to the account `dn`
    /// (`msDS-ResultantPSO`); `None` when the domain's default policy applies.
    pub async fn resultant_pso(&mut self, dn: &str) -> Result<Option<String>> {
        let entry = self
            .search_small(
                dn,
                Scope::Base,
                "(objectClass=*)",
                vec!["msDS-ResultantPSO".into()],
            )
            .await?;
        Ok(entry.first().and_then(|e| e.text("msDS-ResultantPSO")))
    }
}

/// An integer attribute that must be there: its absence means the bound account cannot read it.
fn required_number(entry: &RawEntry, name: &str) -> Result<i64> {
    entry
        .text(name)
        .ok_or_else(|| Error::Search {
            code: 50,
            detail: format!("{} has no readable {name}", entry.dn),
        })?
        .parse()
        .map_err(|_| Error::Search {
            code: 1,
            detail: format!("{name} of {} is not a number", entry.dn),
        })
}

fn to_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

/// An AD interval (negative 100-nanosecond units) in seconds; `None` for "never" (0 or the
/// most negative value).
fn interval_secs(value: i64) -> Option<u64> {
    if value == 0 || value == i64::MIN {
        return None;
    }
    Some(value.unsigned_abs() / 10_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_negative_hundreds_of_nanoseconds() {
        assert_eq!(interval_secs(-864_000_000_000), Some(86_400));
        assert_eq!(interval_secs(0), None);
        assert_eq!(interval_secs(i64::MIN), None);
        assert_eq!(to_u32(-5), 0);
    }

    #[test]
    fn the_applying_policy_is_the_resultant_pso_or_the_domain() {
        let settings = |dn: &str, kind| DirectoryPasswordPolicy {
            dn: dn.into(),
            kind,
            min_length: 7,
            complexity: true,
            history_length: 0,
            min_age_secs: 0,
            max_age_secs: None,
            lockout_threshold: 0,
        };
        let pso = settings(
            "CN=Long,CN=Password Settings Container",
            PolicyKind::FineGrained { precedence: 1 },
        );
        let mut policies = DomainPolicies {
            domain: settings("DC=corp1", PolicyKind::Domain),
            fine_grained: FineGrained::Readable(vec![pso.clone()]),
        };
        assert_eq!(policies.applying(None).unwrap().dn, "DC=corp1");
        assert_eq!(
            policies.applying(Some("cn=long,cn=password settings container")),
            Some(&pso)
        );
        assert_eq!(policies.applying(Some("CN=Other")), None);
        policies.fine_grained = FineGrained::Unreadable("no".into());
        assert_eq!(policies.applying(Some("CN=Long")), None);
        assert!(
            pso.rules()
                .source
                .starts_with("the fine-grained password policy CN=Long")
        );
    }
}
