//! An LDIF (RFC 2849) file as a source of users, for offline import of an `ldifde -f` or
//! `ldapsearch` export and for the quick start. Content records only: change records are
//! refused with a clear error.

use std::collections::HashMap;
use std::io::BufRead;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::entry::RawEntry;
use crate::users::Read;
use crate::{Error, Result};

/// Reads LDIF records one at a time from `input`.
pub struct LdifReader<R: BufRead> {
    lines: std::iter::Peekable<std::io::Lines<R>>,
    line_no: usize,
    failed: bool,
}

impl<R: BufRead> LdifReader<R> {
    /// Wraps a buffered reader.
    pub fn new(input: R) -> Self {
        Self {
            lines: input.lines().peekable(),
            line_no: 0,
            failed: false,
        }
    }

    /// The next logical line (folded continuation lines joined), with its first line number.
    fn logical_line(&mut self) -> Option<Result<(usize, String)>> {
        let first = match self.lines.next()? {
            Ok(l) => l,
            Err(source) => {
                return Some(Err(Error::Io {
                    path: "LDIF input".into(),
                    source,
                }));
            }
        };
        self.line_no += 1;
        let start = self.line_no;
        let mut line = first.trim_end_matches('\r').to_owned();
        while let Some(Ok(next)) = self.lines.peek() {
            if let Some(rest) = next.strip_prefix(' ') {
                line.push_str(rest.trim_end_matches('\r'));
                self.lines.next();
                self.line_no += 1;
            } else {
                break;
            }
        }
        Some(Ok((start, line)))
    }

    fn next_record(&mut self) -> Option<Result<RawEntry>> {
        let mut dn: Option<String> = None;
        let mut attrs: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
        loop {
            let (no, line) = match self.logical_line() {
                None => break,
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(pair)) => pair,
            };
            if line.is_empty() {
                if dn.is_some() {
                    break;
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let fail = |reason: &str| Error::Ldif {
                line: no,
                reason: reason.to_owned(),
            };
            let Some((name, rest)) = line.split_once(':') else {
                return Some(Err(fail("expected 'attribute: value'")));
            };
            let name_lower = name.trim().to_ascii_lowercase();
            let value = if let Some(b64) = rest.strip_prefix(':') {
                match STANDARD.decode(b64.trim()) {
                    Ok(v) => v,
                    Err(_) => return Some(Err(fail("invalid base64 value"))),
                }
            } else if rest.starts_with('<') {
                return Some(Err(fail("URL values (attr:< url) are not supported")));
            } else {
                rest.trim_start().as_bytes().to_vec()
            };
            if dn.is_none() {
                if name_lower == "version" {
                    continue;
                }
                if name_lower != "dn" {
                    return Some(Err(fail("a record must start with dn:")));
                }
                match String::from_utf8(value) {
                    Ok(d) => dn = Some(d),
                    Err(_) => return Some(Err(fail("the DN is not UTF-8"))),
                }
                continue;
            }
            if name_lower == "changetype" {
                return Some(Err(fail(
                    "change records are not supported; export entries (ldifde -f, ldapsearch) instead",
                )));
            }
            attrs.entry(name_lower).or_default().push(value);
        }
        dn.map(|dn| Ok(RawEntry { dn, attrs }))
    }
}

impl<R: BufRead> Iterator for LdifReader<R> {
    type Item = Result<Read>;

    /// Users only: entries whose objectClass includes `user` but not `computer` (entries without
    /// objectClass are taken as users). A record without uSNChanged gets 0.
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let mut raw = match self.next_record()? {
                Ok(raw) => raw,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            };
            let classes: Vec<String> = raw
                .texts("objectClass")
                .iter()
                .map(|c| c.to_ascii_lowercase())
                .collect();
            let is_user = classes.is_empty()
                || (classes.iter().any(|c| c == "user")
                    && !classes.iter().any(|c| c == "computer"));
            if !is_user {
                continue;
            }
            raw.attrs
                .entry("usnchanged".into())
                .or_insert_with(|| vec![b"0".to_vec()]);
            return Some(Ok(match raw.into_user() {
                Ok(user) => Read::User(Box::new(user)),
                Err(bad) => Read::Skipped(bad),
            }));
        }
    }
}

/// The users of an LDIF file as the same stream the LDAP connector yields.
pub fn users_from_ldif(
    path: &std::path::Path,
) -> Result<impl futures_util::Stream<Item = Result<Read>>> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(futures_util::stream::iter(LdifReader::new(
        std::io::BufReader::new(file),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(text: &str) -> Vec<Result<Read>> {
        LdifReader::new(std::io::Cursor::new(text.to_owned())).collect()
    }

    const GUID_B64: &str = "BAMCAQYFCAcJCgsMDQ4PEA==";

    #[test]
    fn reads_users_with_base64_folding_and_comments() {
        let text = format!(
            "version: 1\n# export\ndn: CN=Ada Lovelace,OU=Lab,\n DC=corp,DC=test\nobjectClass: top\nobjectClass: user\nobjectGUID:: {GUID_B64}\nmail: ada@example.com\ndisplayName:: w4lsb2lzZQ==\nuSNChanged: 12\n\ndn: CN=WS1,DC=corp,DC=test\nobjectClass: user\nobjectClass: computer\nobjectGUID:: {GUID_B64}\n\ndn: CN=G,DC=corp,DC=test\nobjectClass: group\n"
        );
        let read = users(&text);
        assert_eq!(read.len(), 1, "computers and groups are not accounts");
        let Ok(Read::User(user)) = &read[0] else {
            panic!("{:?}", read[0])
        };
        assert_eq!(user.dn, "CN=Ada Lovelace,OU=Lab,DC=corp,DC=test");
        assert_eq!(user.display_name.as_deref(), Some("Éloise"));
        assert_eq!(user.usn_changed, 12);
        assert_eq!(
            user.object_guid.to_string(),
            "01020304-0506-0708-090a-0b0c0d0e0f10"
        );
    }

    #[test]
    fn a_bad_entry_is_skipped_and_a_bad_file_is_an_error() {
        let read = users("dn: CN=NoGuid,DC=x\nobjectClass: user\n\n");
        assert!(matches!(&read[0], Ok(Read::Skipped(b)) if b.dn == "CN=NoGuid,DC=x"));
        let read = users("dn: CN=X,DC=x\nchangetype: modify\nreplace: mail\n");
        assert!(
            matches!(&read[0], Err(Error::Ldif { line: 2, .. })),
            "{read:?}"
        );
        let read = users("dn: CN=X,DC=x\nobjectGUID:: !!!\n");
        assert!(matches!(&read[0], Err(Error::Ldif { .. })));
        let read = users("mail: x@example.com\n");
        assert!(matches!(&read[0], Err(Error::Ldif { line: 1, .. })));
    }
}
