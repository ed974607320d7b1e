//! A domain controller, as a rotation pins it (docs/product.md §3.3): the URL keyward reached
//! it by and the name it gave for itself.

use std::fmt;

/// One domain controller of a directory: the URL it was reached by, exactly as configured, and
/// the `dnsHostName` its rootDSE gave. A rotation whose directory step has tried a write on a
/// controller keeps every further step of that account on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainController {
    /// The URL, as it stands in the directory's `urls`.
    pub url: String,
    /// The rootDSE's `dnsHostName`; `None` when the server did not say (not AD).
    pub host: Option<String>,
}

impl DomainController {
    /// True when `found` (the `dnsHostName` a connection to [`Self::url`] reports) is this
    /// controller: equal ignoring ASCII case, or either side unknown.
    pub fn is_host(&self, found: Option<&str>) -> bool {
        match (self.host.as_deref(), found) {
            (Some(pinned), Some(found)) => pinned.eq_ignore_ascii_case(found),
            _ => true,
        }
    }
}

impl fmt::Display for DomainController {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(host) => write!(f, "{host} ({})", self.url),
            None => f.write_str(&self.url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_controller_is_known_by_its_host_name_in_any_case() {
        let dc = DomainController {
            url: "ldaps://10.0.0.1".into(),
            host: Some("DC1.corp.example".into()),
        };
        assert!(dc.is_host(Some("dc1.corp.example")));
        assert!(!dc.is_host(Some("dc2.corp.example")));
        assert!(dc.is_host(None));
        assert_eq!(dc.to_string(), "DC1.corp.example (ldaps://10.0.0.1)");
        let bare = DomainController {
            url: "ldaps://x".into(),
            host: None,
        };
        assert!(bare.is_host(Some("anything")));
        assert_eq!(bare.to_string(), "ldaps://x");
    }
}
