//! The rootDSE and the domain facts derived from it.

use ldap3::Scope;
use uuid::Uuid;

use crate::entry::RawEntry;
use crate::{Error, Result, Session, decode};

/// Paged results (RFC 2696).
pub const OID_PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";
/// Virtual list view.
pub const OID_VLV: &str = "2.16.840.1.113730.3.4.9";
/// Active Directory DirSync.
pub const OID_DIRSYNC: &str = "1.2.840.113556.1.4.841";
/// The server is Active Directory (`LDAP_CAP_ACTIVE_DIRECTORY_OID`), which implies
/// `LDAP_MATCHING_RULE_IN_CHAIN`.
pub const OID_CAP_ACTIVE_DIRECTORY: &str = "1.2.840.113556.1.4.800";
/// `LDAP_MATCHING_RULE_IN_CHAIN`.
pub const OID_MATCHING_RULE_IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
/// The tombstone lifetime of a forest whose `tombstoneLifetime` is not set (forests created
/// before Windows Server 2003 SP1; later ones set 180 days explicitly, as Samba does).
pub const DEFAULT_TOMBSTONE_LIFETIME_DAYS: u32 = 60;

/// `LDAP_SERVER_SHOW_DELETED_OID`: a search also returns tombstones (deleted objects).
pub const OID_SHOW_DELETED: &str = "1.2.840.113556.1.4.417";

/// What the domain controller says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootDse {
    /// defaultNamingContext, e.g. `DC=corp1,DC=test`.
    pub default_naming_context: String,
    /// configurationNamingContext.
    pub configuration_naming_context: Option<String>,
    /// dnsHostName of the DC.
    pub dns_host_name: Option<String>,
    /// dsServiceName: the DN of the DC's NTDS Settings object.
    pub ds_service_name: Option<String>,
    /// highestCommittedUSN on this DC.
    pub highest_committed_usn: Option<i64>,
    /// supportedControl OIDs.
    pub supported_controls: Vec<String>,
    /// supportedCapabilities OIDs.
    pub supported_capabilities: Vec<String>,
}

impl RootDse {
    /// RFC 2696 paged results.
    pub fn supports_paged_results(&self) -> bool {
        self.supported_controls
            .iter()
            .any(|c| c == OID_PAGED_RESULTS)
    }
    /// Virtual list view.
    pub fn supports_vlv(&self) -> bool {
        self.supported_controls.iter().any(|c| c == OID_VLV)
    }
    /// DirSync.
    pub fn supports_dirsync(&self) -> bool {
        self.supported_controls.iter().any(|c| c == OID_DIRSYNC)
    }
    /// Active Directory, and so `LDAP_MATCHING_RULE_IN_CHAIN`.
    pub fn is_active_directory(&self) -> bool {
        self.supported_capabilities
            .iter()
            .any(|c| c == OID_CAP_ACTIVE_DIRECTORY)
    }
}

impl Session {
    /// Reads the rootDSE.
    pub async fn root_dse(&mut self) -> Result<RootDse> {
        let attrs = vec![
            "defaultNamingContext".to_owned(),
            "configurationNamingContext".into(),
            "dnsHostName".into(),
            "dsServiceName".into(),
            "highestCommittedUSN".into(),
            "supportedControl".into(),
            "supportedCapabilities".into(),
        ];
        let entries = self
            .search_small("", Scope::Base, "(objectClass=*)", attrs)
            .await?;
        let root = entries.into_iter().next().ok_or(Error::Search {
            code: 32,
            detail: "the rootDSE returned no entry".into(),
        })?;
        Ok(RootDse {
            default_naming_context: root.text("defaultNamingContext").ok_or(
                Error::Unsupported {
                    what: "defaultNamingContext in the rootDSE",
                    hint: "set base_dn in the directory's configuration",
                },
            )?,
            configuration_naming_context: root.text("configurationNamingContext"),
            dns_host_name: root.text("dnsHostName"),
            ds_service_name: root.text("dsServiceName"),
            highest_committed_usn: root
                .text("highestCommittedUSN")
                .and_then(|t| t.parse().ok()),
            supported_controls: root.texts("supportedControl"),
            supported_capabilities: root.texts("supportedCapabilities"),
        })
    }

    /// The invocationId of the DC (its database identity; it changes when the DC is restored
    /// from backup). `None` when the server has no NTDS Settings object (not AD).
    pub async fn invocation_id(&mut self, root: &RootDse) -> Result<Option<Uuid>> {
        let Some(dsa) = &root.ds_service_name else {
            return Ok(None);
        };
        let entries = self
            .search_small(
                dsa,
                Scope::Base,
                "(objectClass=*)",
                vec!["invocationId".into()],
            )
            .await?;
        Ok(entries
            .first()
            .and_then(|e| e.bytes("invocationId"))
            .and_then(decode::object_guid))
    }

    /// The domain's NetBIOS name from its crossRef object, when the server has one.
    pub async fn netbios_name(&mut self, root: &RootDse) -> Result<Option<String>> {
        let Some(config_nc) = &root.configuration_naming_context else {
            return Ok(None);
        };
        let filter = format!(
            "(&(objectClass=crossRef)(nCName={}))",
            ldap3::ldap_escape(&root.default_naming_context)
        );
        let base = format!("CN=Partitions,{config_nc}");
        let entries = self
            .search_small(&base, Scope::OneLevel, &filter, vec!["nETBIOSName".into()])
            .await?;
        Ok(entries.first().and_then(|e| e.text("nETBIOSName")))
    }

    /// How many days the domain keeps a deleted object visible to a Show Deleted search: the
    /// forest's `msDS-DeletedObjectLifetime` (with the Recycle Bin, after which an object is
    /// "recycled" and a Show Deleted search no longer returns it) or `tombstoneLifetime`, the
    /// shorter when both are set, and [`DEFAULT_TOMBSTONE_LIFETIME_DAYS`] when neither is (AD's
    /// rule for forests without the attribute). `None` for a directory that is not AD (no
    /// configuration naming context).
    pub async fn deleted_object_lifetime_days(&mut self, root: &RootDse) -> Result<Option<u32>> {
        let Some(config_nc) = &root.configuration_naming_context else {
            return Ok(None);
        };
        let base = format!("CN=Directory Service,CN=Windows NT,CN=Services,{config_nc}");
        let entries = match self
            .search_small(
                &base,
                Scope::Base,
                "(objectClass=*)",
                vec![
                    "tombstoneLifetime".into(),
                    "msDS-DeletedObjectLifetime".into(),
                ],
            )
            .await
        {
            Ok(entries) => entries,
            // 32 noSuchObject: not readable or not there; AD's default applies.
            Err(Error::Search { code: 32, .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        let days = |attr: &str| {
            entries
                .first()
                .and_then(|e| e.text(attr))
                .and_then(|v| v.trim().parse::<u32>().ok())
                .filter(|d| *d > 0)
        };
        Ok(Some(
            match (
                days("tombstoneLifetime"),
                days("msDS-DeletedObjectLifetime"),
            ) {
                (Some(t), Some(d)) => t.min(d),
                (Some(t), None) => t,
                (None, Some(d)) => d,
                (None, None) => DEFAULT_TOMBSTONE_LIFETIME_DAYS,
            },
        ))
    }

    /// A search expected to return few entries (rootDSE, groups), without paging. Any result
    /// code but success is an error.
    pub(crate) async fn search_small(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: Vec<String>,
    ) -> Result<Vec<RawEntry>> {
        let result = self
            .ldap
            .with_timeout(self.operation_timeout)
            .search(base, scope, filter, attrs)
            .await?;
        let (entries, res) = (result.0, result.1);
        if res.rc != 0 {
            return Err(Error::Search {
                code: res.rc,
                detail: crate::error::one_line(&res.text),
            });
        }
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            if entry.is_ref() || entry.is_intermediate() {
                continue;
            }
            match RawEntry::from_result(entry) {
                Ok(raw) => out.push(raw),
                Err(bad) => {
                    return Err(Error::Search {
                        code: 1,
                        detail: format!("malformed entry {}: {}", bad.dn, bad.reason),
                    });
                }
            }
        }
        Ok(out)
    }
}
