//! An LDIF (RFC 2849) file as a source of users, for offline import of an `ldifde -f` or
//! `ldapsearch` export and for the quick start. Content records only: change records are
//! refused with a clear error.
//!
//! On hostile input the reader guarantees: it never panics and never holds more than one record
//! and one line of at most [`MAX_LDIF_LINE_BYTES`]; the input is read as bytes, so a fold that
//! splits a UTF-8 character, CRLF line ends, NUL bytes or bytes that are not UTF-8 in a value
//! are data, decided on by the decoding of the entry (a bad entry is [`Read::Skipped`] with its
//! reason); a file that is not LDIF (a line without `:`, a name that is not an attribute name,
//! broken base64, a record that does not start with `dn:`, a second `dn:` in one record, a
//! continuation line after nothing, a change record, a DN that is not UTF-8, a line over the
//! limit) is one [`Error::Ldif`] naming its line, after which the reader yields nothing more.

use std::collections::HashMap;
use std::io::BufRead;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::entry::{RawEntry, shown};
use crate::users::Read;
use crate::{Error, Result};

/// The longest line the reader holds (a physical line, or a logical one with its folded
/// continuation lines), in bytes: far above any value keyward keeps, and above the photos and
/// certificates an `ldifde` export may carry (a thumbnailPhoto is at most 100 KB).
pub const MAX_LDIF_LINE_BYTES: usize = 4 * 1024 * 1024;

/// Reads LDIF records one at a time from `input`.
pub struct LdifReader<R: BufRead> {
    input: R,
    /// The next physical line and its number, read ahead to see whether it continues the
    /// current one.
    ahead: Option<(usize, Vec<u8>)>,
    /// Physical lines read so far.
    lines_read: usize,
    max_line: usize,
    failed: bool,
}

/// An attribute description (RFC 4512: a name or an OID, then `;options`).
fn is_attribute_name(name: &[u8]) -> bool {
    name.first().is_some_and(u8::is_ascii_alphanumeric)
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b';' | b'.'))
}

impl<R: BufRead> LdifReader<R> {
    /// Wraps a buffered reader.
    pub fn new(input: R) -> Self {
        Self::with_max_line(input, MAX_LDIF_LINE_BYTES)
    }

    /// A reader with a smaller line limit, for tests.
    fn with_max_line(input: R, max_line: usize) -> Self {
        Self {
            input,
            ahead: None,
            lines_read: 0,
            max_line,
            failed: false,
        }
    }

    fn too_long(&self, line: usize) -> Error {
        Error::Ldif {
            line,
            reason: format!("the line is longer than {} bytes", self.max_line),
        }
    }

    /// The next physical line without its line end (`\n` or `\r\n`), with its number.
    fn read_physical(&mut self) -> Option<Result<(usize, Vec<u8>)>> {
        let no = self.lines_read + 1;
        let mut line = Vec::new();
        loop {
            let buf = match self.input.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Some(Err(Error::Io {
                        path: "LDIF input".into(),
                        source,
                    }));
                }
            };
            if buf.is_empty() {
                if line.is_empty() {
                    return None;
                }
                break;
            }
            let (take, end) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            // Two more for the line end.
            if line.len() + take > self.max_line + 2 {
                return Some(Err(self.too_long(no)));
            }
            line.extend_from_slice(&buf[..take]);
            self.input.consume(take);
            if end {
                line.pop();
                break;
            }
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.len() > self.max_line {
            return Some(Err(self.too_long(no)));
        }
        self.lines_read = no;
        Some(Ok((no, line)))
    }

    fn next_physical(&mut self) -> Option<Result<(usize, Vec<u8>)>> {
        match self.ahead.take() {
            Some(line) => Some(Ok(line)),
            None => self.read_physical(),
        }
    }

    /// The next logical line (folded continuation lines joined), with its first line number. A
    /// line of spaces alone is an empty line.
    fn logical_line(&mut self) -> Option<Result<(usize, Vec<u8>)>> {
        let (start, mut line) = match self.next_physical()? {
            Ok(pair) => pair,
            Err(e) => return Some(Err(e)),
        };
        if line.first() == Some(&b' ') {
            if line.iter().all(|&b| b == b' ') {
                return Some(Ok((start, Vec::new())));
            }
            return Some(Err(Error::Ldif {
                line: start,
                reason: "a continuation line (starting with a space) follows no line".into(),
            }));
        }
        if line.is_empty() {
            return Some(Ok((start, line)));
        }
        loop {
            match self.read_physical() {
                Some(Ok((no, next))) if next.first() == Some(&b' ') => {
                    if line.len() + next.len() - 1 > self.max_line {
                        return Some(Err(self.too_long(no)));
                    }
                    line.extend_from_slice(&next[1..]);
                }
                Some(Ok(next)) => {
                    self.ahead = Some(next);
                    break;
                }
                // The line read ahead is broken (too long, or the input failed): that error
                // names its own line and ends the reading.
                Some(Err(e)) => {
                    self.failed = true;
                    return Some(Err(e));
                }
                None => break,
            }
        }
        Some(Ok((start, line)))
    }

    /// The next record, or `None` at the end of the input.
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
            if line.starts_with(b"#") {
                continue;
            }
            let fail = |reason: String| Some(Err(Error::Ldif { line: no, reason }));
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return fail("expected 'attribute: value'".into());
            };
            let (name, rest) = (&line[..colon], &line[colon + 1..]);
            if !is_attribute_name(name) {
                return fail(format!(
                    "{} is not an attribute name",
                    shown(&format!("{:?}", String::from_utf8_lossy(name)))
                ));
            }
            let name_lower = String::from_utf8_lossy(name).to_ascii_lowercase();
            let value = if let Some(b64) = rest.strip_prefix(b":") {
                match STANDARD.decode(b64.trim_ascii()) {
                    Ok(v) => v,
                    Err(_) => return fail(format!("invalid base64 value of {name_lower}")),
                }
            } else if rest.starts_with(b"<") {
                return fail("URL values (attr:< url) are not supported".into());
            } else {
                let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
                rest[start..].to_vec()
            };
            if name_lower == "dn" {
                if dn.is_some() {
                    return fail(
                        "a second dn: in one record; separate records with an empty line".into(),
                    );
                }
                match String::from_utf8(value) {
                    Ok(d) => dn = Some(d),
                    Err(_) => return fail("the DN is not UTF-8".into()),
                }
                continue;
            }
            if dn.is_none() {
                if name_lower == "version" {
                    continue;
                }
                return fail("a record must start with dn:".into());
            }
            if name_lower == "changetype" {
                return fail(
                    "change records are not supported; export entries (ldifde -f, ldapsearch) \
                     instead"
                        .into(),
                );
            }
            attrs.entry(name_lower).or_default().push(value);
        }
        dn.map(|dn| Ok(RawEntry { dn, attrs }))
    }

    /// The records, as raw entries; after an error, nothing more.
    #[cfg(test)]
    fn records(mut self) -> impl Iterator<Item = Result<RawEntry>> {
        std::iter::from_fn(move || {
            if self.failed {
                return None;
            }
            let record = self.next_record();
            if matches!(record, Some(Err(_))) {
                self.failed = true;
            }
            record
        })
    }
}

impl<R: BufRead> Iterator for LdifReader<R> {
    type Item = Result<Read>;

    /// Users only: entries whose objectClass includes `user` but not `computer` (entries without
    /// objectClass are taken as users). A record without uSNChanged gets 0.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
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

    fn lines(text: &[u8]) -> Vec<Result<RawEntry>> {
        LdifReader::new(std::io::Cursor::new(text.to_vec()))
            .records()
            .collect()
    }

    fn error_line(read: &[Result<RawEntry>]) -> Option<usize> {
        match read.last() {
            Some(Err(Error::Ldif { line, .. })) => Some(*line),
            _ => None,
        }
    }

    #[test]
    fn not_ldif_is_an_error_naming_its_line() {
        for (text, line, says) in [
            (&b"dn: CN=A\n mail: x\n"[..], None, ""),
            (b" dn: CN=A\n", Some(1), "follows no line"),
            (b"dn: CN=A\n\n continued\n", Some(3), "follows no line"),
            (b"dn: CN=A\nmail x\n", Some(2), "attribute: value"),
            (b"dn: CN=A\nmy mail: x\n", Some(2), "not an attribute name"),
            (b"dn: CN=A\n: x\n", Some(2), "not an attribute name"),
            (b"dn: CN=A\nmail: a\ndn: CN=B\n", Some(3), "second dn"),
            (b"dn:: /w==\n", Some(1), "not UTF-8"),
            (
                b"dn: CN=A\r\nobjectGUID:: AAA\r\n",
                Some(2),
                "base64 value of objectguid",
            ),
            (b"dn: CN=A\nmail:< file:///etc/passwd\n", Some(2), "URL"),
        ] {
            let read = lines(text);
            assert_eq!(
                error_line(&read),
                line,
                "{:?}: {read:?}",
                String::from_utf8_lossy(text)
            );
            if let Some(Err(e)) = read.last() {
                assert!(e.to_string().contains(says), "{e}");
            }
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_crlf_and_nul_are_values_not_errors() {
        // A fold may split a UTF-8 character: the value is joined before it is decoded.
        let read = lines("dn: CN=Zoë\r\ndisplayName: Zo\u{e9}\r\n".as_bytes());
        assert!(read.iter().all(Result::is_ok), "{read:?}");
        let mut split = b"dn: CN=A\ndisplayName: Zo\xc3\n \xab\nmail: a\0b\ntitle: \xff\n".to_vec();
        split.extend_from_slice(b"\n");
        let read = lines(&split);
        let Ok(entry) = &read[0] else {
            panic!("{read:?}")
        };
        assert_eq!(entry.attrs["displayname"], [b"Zo\xc3\xab".to_vec()]);
        assert_eq!(entry.attrs["mail"], [b"a\0b".to_vec()]);
        // As users: the NUL and the byte that is not UTF-8 each skip their entry, by name.
        let users = users(&format!(
            "dn: CN=A\nobjectGUID:: {GUID_B64}\nmail: a\0b@example.com\n\ndn: CN=B\nobjectGUID:: {GUID_B64}\ndisplayName:: /w==\n\ndn: CN=C\nobjectGUID:: {GUID_B64}\ndisplayName: C\n"
        ));
        let reasons: Vec<String> = users
            .iter()
            .map(|r| match r {
                Ok(Read::Skipped(bad)) => {
                    assert!(bad.object_guid.is_some(), "{bad:?}");
                    bad.reason.clone()
                }
                Ok(Read::User(u)) => format!("user {}", u.dn),
                Err(e) => panic!("{e}"),
            })
            .collect();
        assert_eq!(
            reasons,
            [
                "mail contains a NUL character",
                "displayName is not UTF-8 text (at byte 0)",
                "user CN=C"
            ]
        );
    }

    #[test]
    fn a_huge_value_skips_its_entry_and_a_huge_line_is_an_error() {
        let display = "d".repeat(1 << 20);
        let read = users(&format!(
            "dn: CN=A\nobjectGUID:: {GUID_B64}\ndisplayName: {display}\n"
        ));
        assert!(
            matches!(&read[..], [Ok(Read::Skipped(b))] if b.reason.contains("displayName is 1048576 bytes")),
            "{:?}",
            read.iter()
                .map(|r| r.as_ref().map(|_| ()))
                .collect::<Vec<_>>()
        );
        let huge = "x".repeat(MAX_LDIF_LINE_BYTES + 1);
        let read = users(&format!(
            "dn: CN=A\nobjectGUID:: {GUID_B64}\ndescription: {huge}\n"
        ));
        assert!(
            matches!(&read[..], [Err(Error::Ldif { line: 3, .. })]),
            "{:?}",
            read.iter()
                .map(|r| r.as_ref().map(|_| ()))
                .collect::<Vec<_>>()
        );
        // Folded into a line over the limit: the same.
        let half = "x".repeat(MAX_LDIF_LINE_BYTES / 2 + 1);
        let read = users(&format!("dn: CN=A\ndescription: {half}\n {half}\n"));
        assert!(matches!(&read[..], [Err(Error::Ldif { line: 3, .. })]));
    }

    #[test]
    fn a_record_with_a_duplicate_single_valued_attribute_is_skipped() {
        let read = users(&format!(
            "dn: CN=A\nobjectGUID:: {GUID_B64}\nmail: a@example.com\nmail: b@example.com\n"
        ));
        assert!(
            matches!(&read[..], [Ok(Read::Skipped(b))] if b.reason.contains("mail has 2 values")),
            "{read:?}"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// One record as written.
        #[derive(Debug, Clone)]
        struct Record {
            dn: String,
            attrs: Vec<(String, Vec<u8>)>,
        }

        /// What one logical line of a written file is.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Kind {
            Version,
            Comment,
            Blank,
            Dn(usize),
            Attr(usize, usize),
        }

        /// A written file: logical lines, each as its physical lines.
        #[derive(Debug, Clone)]
        struct File {
            lines: Vec<(Kind, Vec<Vec<u8>>)>,
            crlf: bool,
        }

        impl File {
            fn bytes(&self) -> Vec<u8> {
                let end: &[u8] = if self.crlf { b"\r\n" } else { b"\n" };
                let mut out = Vec::new();
                for (_, physical) in &self.lines {
                    for p in physical {
                        out.extend_from_slice(p);
                        out.extend_from_slice(end);
                    }
                }
                out
            }

            /// The line number of the first physical line of logical line `i`.
            fn line_of(&self, i: usize) -> usize {
                1 + self.lines[..i].iter().map(|(_, p)| p.len()).sum::<usize>()
            }

            fn find(&self, kind: Kind) -> Option<usize> {
                self.lines.iter().position(|(k, _)| *k == kind)
            }
        }

        /// A value the reader takes as written in plain form.
        fn plain_safe(v: &[u8]) -> bool {
            !v.contains(&b'\n')
                && !v.contains(&b'\r')
                && !matches!(v.first(), Some(b' ' | b':' | b'<'))
        }

        fn fold(line: &[u8], width: usize) -> Vec<Vec<u8>> {
            let mut out = vec![line[..line.len().min(width)].to_vec()];
            let mut rest = &line[line.len().min(width)..];
            while !rest.is_empty() {
                let take = rest.len().min(width - 1);
                let mut p = vec![b' '];
                p.extend_from_slice(&rest[..take]);
                out.push(p);
                rest = &rest[take..];
            }
            out
        }

        fn logical(name: &str, value: &[u8], base64: bool) -> Vec<u8> {
            let mut line = name.as_bytes().to_vec();
            if base64 || !plain_safe(value) {
                line.extend_from_slice(b":: ");
                line.extend_from_slice(STANDARD.encode(value).as_bytes());
            } else {
                line.extend_from_slice(b": ");
                line.extend_from_slice(value);
            }
            line
        }

        fn record() -> impl Strategy<Value = Record> {
            let name = "[a-zA-Z][a-zA-Z0-9-]{0,8}(;[a-z]{1,4})?"
                .prop_filter("dn and changetype are not attributes", |n| {
                    !n.eq_ignore_ascii_case("dn") && !n.eq_ignore_ascii_case("changetype")
                });
            let value = prop_oneof![
                "[ -~]{0,20}".prop_map(String::into_bytes),
                "\\PC{0,8}".prop_map(String::into_bytes),
                proptest::collection::vec(any::<u8>(), 0..20),
            ];
            ("\\PC{0,20}", proptest::collection::vec((name, value), 0..6))
                .prop_map(|(dn, attrs)| Record { dn, attrs })
        }

        /// A file of `records`: folded at `width` bytes, base64 where `b64` says (or where the
        /// value needs it), comments, an optional version line, LF or CRLF.
        fn file() -> impl Strategy<Value = (Vec<Record>, File)> {
            (
                proptest::collection::vec(record(), 0..5),
                2usize..40,
                any::<bool>(),
                any::<bool>(),
                proptest::collection::vec(any::<(bool, bool)>(), 64),
            )
                .prop_map(|(records, width, crlf, version, coins)| {
                    let mut coin = coins.into_iter().cycle();
                    let mut lines = Vec::new();
                    if version {
                        lines.push((Kind::Version, vec![b"version: 1".to_vec()]));
                    }
                    for (r, record) in records.iter().enumerate() {
                        if r > 0 {
                            lines.push((Kind::Blank, vec![Vec::new()]));
                        }
                        let (b64, _) = coin.next().unwrap();
                        lines.push((
                            Kind::Dn(r),
                            fold(&logical("dn", record.dn.as_bytes(), b64), width),
                        ));
                        for (a, (name, value)) in record.attrs.iter().enumerate() {
                            let (b64, comment) = coin.next().unwrap();
                            if comment {
                                lines
                                    .push((Kind::Comment, fold(b"# a comment, folded too", width)));
                            }
                            lines.push((Kind::Attr(r, a), fold(&logical(name, value, b64), width)));
                        }
                    }
                    (records, File { lines, crlf })
                })
        }

        fn raw(record: &Record) -> RawEntry {
            let mut attrs: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
            for (name, value) in &record.attrs {
                attrs
                    .entry(name.to_ascii_lowercase())
                    .or_default()
                    .push(value.clone());
            }
            RawEntry {
                dn: record.dn.clone(),
                attrs,
            }
        }

        fn read(file: &File) -> Vec<Result<RawEntry>> {
            lines(&file.bytes())
        }

        fn oks(read: &[Result<RawEntry>]) -> Vec<RawEntry> {
            read.iter()
                .filter_map(|r| r.as_ref().ok().cloned())
                .collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any bytes: no panic, at most one error, last, naming a line of the input.
            #[test]
            fn any_bytes_read_or_fail_at_a_line(
                bytes in proptest::collection::vec((0usize..20, any::<u8>()), 0..400).prop_map(|v| {
                    // Mostly the bytes LDIF is made of, so that the input often gets far.
                    const LDIF: &[u8] = b"\n\r :#<=\0\xff\xc3dn:a";
                    v.into_iter().map(|(i, b)| LDIF.get(i).copied().unwrap_or(b)).collect::<Vec<u8>>()
                }),
                limit in 8usize..64,
            ) {
                let read: Vec<_> = LdifReader::with_max_line(std::io::Cursor::new(bytes.clone()), limit)
                    .records()
                    .collect();
                let physical = bytes.split(|&b| b == b'\n').count();
                for (i, r) in read.iter().enumerate() {
                    match r {
                        Ok(_) => {}
                        Err(Error::Ldif { line, .. }) => {
                            prop_assert_eq!(i, read.len() - 1, "an error is last");
                            prop_assert!((1..=physical).contains(line), "line {} of {}", line, physical);
                        }
                        Err(other) => prop_assert!(false, "{other}"),
                    }
                }
            }

            /// What a writer that folds, base64-encodes, comments and ends lines with LF or CRLF
            /// writes is read back as the same records.
            #[test]
            fn written_records_read_back((records, file) in file()) {
                let read = read(&file);
                let expected: Vec<RawEntry> = records.iter().map(raw).collect();
                prop_assert!(read.iter().all(Result::is_ok), "{:?}", read);
                prop_assert_eq!(oks(&read), expected);
            }

            /// One mutation of a valid file: an error at exactly the broken line, with the
            /// records before it read; or, for a duplicated attribute, the value twice.
            #[test]
            fn a_broken_file_fails_at_the_broken_line(
                (records, file) in file().prop_filter("an attribute to break", |(records, _)| {
                    records.iter().any(|r| !r.attrs.is_empty())
                }),
                which in any::<proptest::sample::Index>(),
                mutation in 0..5u8,
            ) {
                let attrs: Vec<(usize, usize)> = records
                    .iter()
                    .enumerate()
                    .flat_map(|(r, rec)| (0..rec.attrs.len()).map(move |a| (r, a)))
                    .collect();
                let (r, a) = attrs[which.index(attrs.len())];
                // The first record has no blank line before it to drop: drop its dn instead.
                let mutation = if mutation == 3 && r == 0 { 2 } else { mutation };
                let mut broken = file.clone();
                let at = broken.find(Kind::Attr(r, a)).unwrap();
                // The records read before the error: those before the broken one (the blank line
                // dropped joins record r to the one before it).
                let before = if mutation == 3 { r.saturating_sub(1) } else { r };
                let expected_line = match mutation {
                    // Broken base64.
                    0 => {
                        let name = &records[r].attrs[a].0;
                        broken.lines[at].1 = vec![format!("{name}:: AA=A").into_bytes()];
                        Some(broken.line_of(at))
                    }
                    // Not an attribute name.
                    1 => {
                        broken.lines[at].1 = vec![b"no name: x".to_vec()];
                        Some(broken.line_of(at))
                    }
                    // The record's dn line dropped: its first attribute starts it.
                    2 => {
                        let dn = broken.find(Kind::Dn(r)).unwrap();
                        broken.lines.remove(dn);
                        let first = broken.find(Kind::Attr(r, 0)).unwrap();
                        Some(broken.line_of(first))
                    }
                    // The blank line before the record dropped: a second dn.
                    3 => {
                        let dn = broken.find(Kind::Dn(r)).unwrap();
                        broken.lines.remove(dn - 1);
                        Some(broken.line_of(dn - 1))
                    }
                    // An attribute line written twice.
                    _ => {
                        let line = broken.lines[at].clone();
                        broken.lines.insert(at, line);
                        None
                    }
                };
                let read = read(&broken);
                let expected: Vec<RawEntry> = records.iter().map(raw).collect();
                if let Some(line) = expected_line {
                    prop_assert_eq!(error_line(&read), Some(line), "{:?}", read);
                    prop_assert_eq!(oks(&read), expected[..before].to_vec());
                } else {
                    let mut twice = expected;
                    let (name, value) = &records[r].attrs[a];
                    let values = twice[r].attrs.get_mut(&name.to_ascii_lowercase()).unwrap();
                    let first = values.iter().position(|v| v == value).unwrap();
                    values.insert(first, value.clone());
                    prop_assert_eq!(oks(&read), twice);
                    prop_assert!(read.iter().all(Result::is_ok));
                }
            }

            /// A line limit is a limit: a file whose longest logical line fits reads, one byte
            /// less fails on a physical line of the first logical line that does not fit.
            #[test]
            fn the_line_limit_holds(
                (_records, file) in file().prop_filter("a record", |(records, _)| !records.is_empty()),
            ) {
                let logical: Vec<usize> = file
                    .lines
                    .iter()
                    .map(|(_, p)| p.iter().map(Vec::len).sum::<usize>() - (p.len() - 1))
                    .collect();
                let longest = *logical.iter().max().unwrap();
                let bytes = file.bytes();
                let with = |limit| -> Vec<Result<RawEntry>> {
                    LdifReader::with_max_line(std::io::Cursor::new(bytes.clone()), limit)
                        .records()
                        .collect()
                };
                prop_assert!(with(longest).iter().all(Result::is_ok));
                let first = logical.iter().position(|&l| l == longest).unwrap();
                let lines = file.line_of(first)..file.line_of(first) + file.lines[first].1.len();
                let line = error_line(&with(longest - 1));
                prop_assert!(line.is_some_and(|l| lines.contains(&l)), "{:?} not in {:?}", line, lines);
            }
        }
    }
}
