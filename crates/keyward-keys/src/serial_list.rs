//! Lists of key serials, as an administrator exports them from a spreadsheet or types them: the
//! input of a key import (`keyward keys import --file`, the web console's upload).
//!
//! Two shapes are read, by the [`csv`] crate:
//! - a table whose header row has a column named `serial` (any case); the other columns are
//!   ignored. The separator is `,` or `;`, whichever the header line uses (outside quotes);
//!   fields may be quoted;
//! - a plain list, one serial per line, without a header.
//!
//! A UTF-8 byte order mark is dropped; blank lines, rows whose fields are all empty and lines
//! that start with `#` (comments; no serial starts with one) are skipped. The list is read whole before anything is imported:
//! any problem refuses it as a whole, with the line and what is wrong.
//!
//! On hostile input (any bytes) it never panics: the answer is serials, each once and each a
//! valid [`KeySerial`], or one [`SerialListError`] that names a line of the input (lines end
//! with LF, CRLF or CR alone, as the reader ends them) and quotes a value by at most its first
//! 64 characters. Property tests in this module check both.

use std::collections::HashMap;
use std::fmt;

use crate::KeySerial;

/// Why a serial list was refused. Line numbers count from 1, as an editor shows them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerialListError {
    /// The bytes are not UTF-8 text.
    #[error("line {line}: the list is not UTF-8 text; save it as UTF-8 (CSV UTF-8)")]
    NotUtf8 {
        /// The line of the first byte that is not UTF-8.
        line: u64,
    },
    /// A value in the serial column is not a key serial.
    #[error("line {line}: {value:?} is not a key serial: {problem}")]
    InvalidSerial {
        /// The line.
        line: u64,
        /// The value as written (trimmed; its first 64 characters, then `…`).
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The first line has several columns and none is named `serial`.
    #[error(
        "line {line}: no column is named `serial` (columns: {}); add a header row with a \
         `serial` column, or give one serial per line",
        Columns(.columns)
    )]
    NoSerialColumn {
        /// The header's line.
        line: u64,
        /// The columns the header names (the first 8, each its first 64 characters).
        columns: Vec<String>,
    },
    /// The header names the `serial` column more than once.
    #[error("line {line}: the header has more than one `serial` column")]
    SerialColumnTwice {
        /// The header's line.
        line: u64,
    },
    /// A row of a table is too short to have a value in the serial column.
    #[error("line {line}: no value in the `serial` column (column {column})")]
    MissingSerial {
        /// The row's line.
        line: u64,
        /// The serial column's number, from 1.
        column: usize,
    },
    /// A row of a plain list (no header) has more than one field.
    #[error(
        "line {line}: {fields} fields in a list without a header; give one serial per line, or \
         add a header row with a `serial` column"
    )]
    UnexpectedFields {
        /// The row's line.
        line: u64,
        /// How many fields it has.
        fields: usize,
    },
    /// The same serial (after upper-casing) twice.
    #[error("line {line}: serial {serial} is given twice (first on line {first_line})")]
    DuplicateSerial {
        /// The second occurrence's line.
        line: u64,
        /// The serial.
        serial: KeySerial,
        /// The first occurrence's line.
        first_line: u64,
    },
    /// The CSV reader could not read a row.
    #[error("line {line}: {detail}")]
    Malformed {
        /// The line where reading stopped.
        line: u64,
        /// The reader's message.
        detail: String,
    },
    /// Nothing but blank lines, comments or a header.
    #[error("the list holds no serial")]
    Empty,
}

/// Formats a header's columns for a message.
struct Columns<'a>(&'a [String]);

impl fmt::Display for Columns<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, column) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{column:?}")?;
        }
        Ok(())
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// At most this many of a header's columns are named in [`SerialListError::NoSerialColumn`].
const MAX_COLUMNS_SHOWN: usize = 8;

/// Reads a serial list (see the module docs): the serials in the order of the list,
/// upper-cased, each once.
///
/// ```
/// use keyward_keys::parse_serial_list;
///
/// let table = "\u{feff}Model;Serial\nHK2;\"st-100\"\n\nHK2;st-101\n";
/// let serials = parse_serial_list(table.as_bytes()).unwrap();
/// assert_eq!(serials.iter().map(|s| s.as_str()).collect::<Vec<_>>(), ["ST-100", "ST-101"]);
///
/// let plain = parse_serial_list(b"st-1\nst-2\n").unwrap();
/// assert_eq!(plain.len(), 2);
///
/// let twice = parse_serial_list(b"serial\nst-1\nST-1\n").unwrap_err();
/// assert_eq!(twice.to_string(), "line 3: serial ST-1 is given twice (first on line 2)");
/// ```
pub fn parse_serial_list(input: &[u8]) -> Result<Vec<KeySerial>, SerialListError> {
    let input = input.strip_prefix(BOM).unwrap_or(input);
    std::str::from_utf8(input).map_err(|e| SerialListError::NotUtf8 {
        line: line_of(&input[..e.valid_up_to()]),
    })?;
    // A `\r` alone ends a line (old Mac spreadsheets save so), but the reader ends a comment
    // only at `\n`: such a comment would swallow the rest of the list. Each lone `\r` becomes
    // a `\n`, byte for byte, so offsets and line numbers stay those of the input.
    let unified = unify_line_ends(input);
    let Ok(text) = std::str::from_utf8(&unified) else {
        return Err(SerialListError::NotUtf8 { line: 1 });
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator(text))
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    // The reader's own line count leaves out the blank lines it skips: lines are counted
    // here from the byte offset of each record, with the line ends the reader knows (`\n`,
    // `\r\n`, and `\r` alone, as old Mac spreadsheets save).
    let newlines = line_ends(text.as_bytes());
    let line_at = |byte: u64| {
        let start = past_skipped_lines(text, usize::try_from(byte).unwrap_or(usize::MAX));
        line_number(newlines.partition_point(|&n| n < start))
    };
    let mut shape: Option<Shape> = None;
    let mut seen: HashMap<KeySerial, u64> = HashMap::new();
    let mut serials = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| SerialListError::Malformed {
            line: e.position().map_or(0, |p| line_at(p.byte())),
            detail: e.to_string(),
        })?;
        let line = record.position().map_or(0, |p| line_at(p.byte()));
        if record.iter().all(str::is_empty) {
            continue;
        }
        let current = if let Some(current) = shape {
            current
        } else {
            let first = Shape::of_first_row(&record, line)?;
            shape = Some(first);
            if matches!(first, Shape::Table { .. }) {
                continue;
            }
            first
        };
        let value = match current {
            Shape::Plain if record.len() > 1 => {
                return Err(SerialListError::UnexpectedFields {
                    line,
                    fields: record.len(),
                });
            }
            Shape::Plain => record.get(0).unwrap_or_default(),
            Shape::Table { column } => record.get(column).filter(|value| !value.is_empty()).ok_or(
                SerialListError::MissingSerial {
                    line,
                    column: column + 1,
                },
            )?,
        };
        let serial = KeySerial::check(value).map_err(|problem| SerialListError::InvalidSerial {
            line,
            value: crate::serial::quoted(value),
            problem,
        })?;
        if let Some(&first_line) = seen.get(&serial) {
            return Err(SerialListError::DuplicateSerial {
                line,
                serial,
                first_line,
            });
        }
        seen.insert(serial.clone(), line);
        serials.push(serial);
    }
    if serials.is_empty() {
        return Err(SerialListError::Empty);
    }
    Ok(serials)
}

/// What the first row that is not blank says the list is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A header row with a `serial` column (its index); the other columns are ignored.
    Table { column: usize },
    /// One serial per line, without a header.
    Plain,
}

impl Shape {
    /// A row naming `serial` in one field is a header; a row of one field is the first serial
    /// of a plain list; any other row is a header without a serial column.
    fn of_first_row(record: &csv::StringRecord, line: u64) -> Result<Self, SerialListError> {
        let mut named = record
            .iter()
            .enumerate()
            .filter(|(_, field)| field.eq_ignore_ascii_case("serial"))
            .map(|(i, _)| i);
        match (named.next(), named.next()) {
            (Some(column), None) => Ok(Self::Table { column }),
            (Some(_), Some(_)) => Err(SerialListError::SerialColumnTwice { line }),
            (None, _) if record.len() == 1 => Ok(Self::Plain),
            (None, _) => Err(SerialListError::NoSerialColumn {
                line,
                columns: record
                    .iter()
                    .take(MAX_COLUMNS_SHOWN)
                    .map(crate::serial::quoted)
                    .collect(),
            }),
        }
    }
}

/// `;` when the first line that is not blank or a comment has more semicolons than commas
/// outside quotes, else `,`.
fn separator(text: &str) -> u8 {
    let Some(first) = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
    else {
        return b',';
    };
    let (mut commas, mut semicolons, mut quoted) = (0_usize, 0_usize, false);
    for c in first.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => commas += 1,
            ';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

/// The first byte from `at` that is not on an empty line or a comment line: a record's
/// position is where the reader started looking for it, before the lines it skipped.
fn past_skipped_lines(text: &str, mut at: usize) -> usize {
    while let Some(rest) = text.get(at..) {
        if rest.starts_with('\n') || rest.starts_with('\r') {
            at += 1;
        } else if rest.starts_with('#') {
            at += rest.find('\n').map_or(rest.len(), |n| n + 1);
        } else {
            break;
        }
    }
    at
}

/// `bytes` with every `\r` that no `\n` follows replaced by a `\n` (one byte for one: an ASCII
/// byte never occurs inside a UTF-8 sequence, so the text stays UTF-8).
fn unify_line_ends(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if b == b'\r' && bytes.get(i + 1) != Some(&b'\n') {
                b'\n'
            } else {
                b
            }
        })
        .collect()
}

/// Where each line ends: at a `\n`, or at a `\r` not followed by one.
fn line_ends(bytes: &[u8]) -> Vec<usize> {
    bytes
        .iter()
        .enumerate()
        .filter_map(|(i, &b)| {
            (b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))).then_some(i)
        })
        .collect()
}

/// The line (from 1) that follows `before`.
fn line_of(before: &[u8]) -> u64 {
    line_number(line_ends(before).len())
}

/// The line (from 1) after `newlines` line ends.
fn line_number(newlines: usize) -> u64 {
    u64::try_from(newlines).map_or(u64::MAX, |n| n.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parsed(input: &str) -> Vec<String> {
        parse_serial_list(input.as_bytes())
            .unwrap_or_else(|e| panic!("{input:?}: {e}"))
            .into_iter()
            .map(String::from)
            .collect()
    }

    fn refused(input: &[u8]) -> SerialListError {
        match parse_serial_list(input) {
            Ok(serials) => panic!("{input:?} was accepted: {serials:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_plain_list_one_serial_per_line() {
        assert_eq!(parsed("st-1\n  st-2  \r\nST_3"), ["ST-1", "ST-2", "ST_3"]);
    }

    #[test]
    fn a_header_names_the_serial_column_in_any_case_and_position() {
        assert_eq!(
            parsed("serial,model\nst-100,HK2\n# a comment\nst-101,HK2\n"),
            ["ST-100", "ST-101"]
        );
        assert_eq!(
            parsed("Model,SERIAL,Note\nHK2,st-1,first\nHK2,st-2,\n"),
            ["ST-1", "ST-2"]
        );
        assert_eq!(parsed("Serial\nst-1\n"), ["ST-1"]);
    }

    #[test]
    fn the_separator_is_the_one_the_header_line_uses() {
        assert_eq!(
            parsed("model;serial;note\nHK2;st-1;a, b and c\nHK2;st-2;x\n"),
            ["ST-1", "ST-2"]
        );
        // A separator inside quotes does not count.
        assert_eq!(
            parsed("\"a;b;c\",serial\nx,st-1\n"),
            ["ST-1"],
            "commas outside quotes win"
        );
    }

    #[test]
    fn quoted_fields_a_bom_and_blank_lines() {
        let input = "\u{feff}\"Serial\";\"Note\"\r\n\r\n\"st-1\";\"said \"\"hi\"\"; left\"\r\n;\r\n   \r\n\"st-2\";\"\"\r\n";
        assert_eq!(parsed(input), ["ST-1", "ST-2"]);
        assert_eq!(parsed("\u{feff}st-1\n"), ["ST-1"]);
    }

    #[test]
    fn an_invalid_serial_names_its_line_and_value() {
        let err = refused(b"serial,model\nst-1,HK2\nst 2,HK2\n");
        assert_eq!(
            err,
            SerialListError::InvalidSerial {
                line: 3,
                value: "st 2".into(),
                problem: "only letters, digits, '-' and '_' are allowed",
            }
        );
        assert_eq!(
            err.to_string(),
            "line 3: \"st 2\" is not a key serial: only letters, digits, '-' and '_' are allowed"
        );
        // A quoted field may span lines; the next record's line is still right.
        assert!(matches!(
            refused(b"serial,note\nst-1,\"two\nlines\"\n\nst/2,x\n"),
            SerialListError::InvalidSerial { line: 5, .. }
        ));
        let long = format!("{}\n", "A".repeat(65));
        assert!(matches!(
            refused(long.as_bytes()),
            SerialListError::InvalidSerial { line: 1, .. }
        ));
    }

    #[test]
    fn a_header_without_a_serial_column_is_refused() {
        let err = refused(b"\n# keys\nid;model\n1;HK2\n");
        assert_eq!(
            err,
            SerialListError::NoSerialColumn {
                line: 3,
                columns: vec!["id".into(), "model".into()],
            }
        );
        assert!(err.to_string().contains("\"id\", \"model\""), "{err}");
        assert_eq!(
            refused(b"serial,Serial\nst-1,st-2\n"),
            SerialListError::SerialColumnTwice { line: 1 }
        );
    }

    #[test]
    fn a_row_without_a_serial_and_a_plain_row_with_two_fields_are_refused() {
        assert_eq!(
            refused(b"model,serial\nHK2,st-1\nHK2\n"),
            SerialListError::MissingSerial { line: 3, column: 2 }
        );
        assert_eq!(
            refused(b"model,serial\nHK2,\"\"\n"),
            SerialListError::MissingSerial { line: 2, column: 2 }
        );
        assert_eq!(
            refused(b"st-1\nst-2,HK2\n"),
            SerialListError::UnexpectedFields { line: 2, fields: 2 }
        );
    }

    #[test]
    fn a_serial_given_twice_is_refused_with_both_lines() {
        assert_eq!(
            refused(b"serial\nst-1\nst-2\n\nST-1\n"),
            SerialListError::DuplicateSerial {
                line: 5,
                serial: KeySerial::parse("ST-1").unwrap(),
                first_line: 2,
            }
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_with_their_line() {
        // "Gerät" in Latin-1, as an old spreadsheet saves it.
        assert_eq!(
            refused(b"serial,model\nst-1,Ger\xe4t\n"),
            SerialListError::NotUtf8 { line: 2 }
        );
    }

    #[test]
    fn a_list_without_serials_is_refused() {
        for input in [
            "",
            "\n\n",
            "serial\n",
            "# only a comment\n",
            "\u{feff}serial;model\n;\n",
        ] {
            assert_eq!(
                refused(input.as_bytes()),
                SerialListError::Empty,
                "{input:?}"
            );
        }
    }

    #[test]
    fn lines_ended_by_a_carriage_return_alone_are_lines() {
        assert_eq!(
            parsed("serial\rst-1\r# spare keys\rst-2\r"),
            ["ST-1", "ST-2"]
        );
        assert_eq!(
            refused(b"st-1\r# note\r\rst 3\r"),
            SerialListError::InvalidSerial {
                line: 4,
                value: "st 3".into(),
                problem: "only letters, digits, '-' and '_' are allowed",
            }
        );
    }

    #[test]
    fn a_huge_value_or_header_is_quoted_short() {
        let huge = format!("serial\n{}\n", "S".repeat(1 << 20));
        let err = refused(huge.as_bytes()).to_string();
        assert!(
            err.starts_with("line 2: ") && err.contains('…') && err.len() < 300,
            "{err}"
        );
        let wide = format!("{}\n", vec!["column"; 10_000].join(","));
        let err = refused(wide.as_bytes()).to_string();
        assert!(err.len() < 300, "{err}");
        let err = KeySerial::parse(&"k".repeat(1 << 20))
            .unwrap_err()
            .to_string();
        assert!(err.len() < 300, "{err}");
    }

    #[test]
    fn the_errors_fold_into_the_crate_error() {
        let err: crate::Error = refused(b"x y\n").into();
        assert!(err.to_string().starts_with("line 1: "), "{err}");
    }

    /// Distinct serials (distinct once upper-cased), in a random order.
    fn serials() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::btree_map("[A-Z0-9_-]{1,64}", "[a-z]{0,1}", 1..40).prop_map(|m| {
            m.into_iter()
                .map(|(serial, case)| {
                    if case.is_empty() {
                        serial
                    } else {
                        serial.to_ascii_lowercase()
                    }
                })
                .collect()
        })
    }

    proptest! {
        /// Whatever the csv crate writes (either separator, quoted or not, with or without a
        /// BOM, with other columns or none) reads back as the same serials in the same order.
        #[test]
        fn serial_lists_round_trip_through_csv(
            serials in serials(),
            semicolon in any::<bool>(),
            bom in any::<bool>(),
            quote_all in any::<bool>(),
            header in any::<bool>(),
            notes in proptest::collection::vec("[ -~]{0,12}", 40),
        ) {
            let mut writer = csv::WriterBuilder::new()
                .delimiter(if semicolon { b';' } else { b',' })
                .quote_style(if quote_all { csv::QuoteStyle::Always } else { csv::QuoteStyle::Necessary })
                .from_writer(Vec::new());
            if header {
                writer.write_record(["Model", "Serial", "Note"]).unwrap();
                for (serial, note) in serials.iter().zip(&notes) {
                    writer.write_record(["HK2", serial, note.as_str()]).unwrap();
                }
            } else {
                for serial in &serials {
                    writer.write_record([serial]).unwrap();
                }
            }
            let mut bytes = if bom { BOM.to_vec() } else { Vec::new() };
            bytes.extend(writer.into_inner().unwrap());
            let read: Vec<String> = parse_serial_list(&bytes)
                .map_err(|e| TestCaseError::fail(format!("{e}: {:?}", String::from_utf8_lossy(&bytes))))?
                .into_iter()
                .map(String::from)
                .collect();
            let expected: Vec<String> = serials.iter().map(|s| s.to_ascii_uppercase()).collect();
            prop_assert_eq!(read, expected);
        }
    }

    /// Lines of a list, each a serial, a note, a blank, a comment or garbage.
    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => "[a-zA-Z0-9_-]{1,64}",
            1 => "[ -~]{0,20}",
            1 => "\\PC{0,12}",
            1 => Just(String::new()),
            1 => Just("# note".to_owned()),
            1 => "\"[^\"]{0,8}\"?[,;]?[a-z]{0,4}",
            1 => (0usize..3).prop_map(|n| "\u{feff}".repeat(n)),
            1 => (70usize..5000).prop_map(|n| "Z".repeat(n)),
        ]
    }

    /// How lines end: LF, CRLF, or CR alone (spreadsheets on old Macs).
    fn line_end() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("\n"), Just("\r\n"), Just("\r")]
    }

    fn physical_lines(bytes: &[u8]) -> u64 {
        let mut n = 1;
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'\n' || (*b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                n += 1;
            }
        }
        n
    }

    fn line_of_error(e: &SerialListError) -> Option<u64> {
        match e {
            SerialListError::NotUtf8 { line }
            | SerialListError::InvalidSerial { line, .. }
            | SerialListError::NoSerialColumn { line, .. }
            | SerialListError::SerialColumnTwice { line }
            | SerialListError::MissingSerial { line, .. }
            | SerialListError::UnexpectedFields { line, .. }
            | SerialListError::DuplicateSerial { line, .. }
            | SerialListError::Malformed { line, .. } => Some(*line),
            SerialListError::Empty => None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any bytes: no panic; a list read is serials each once, and a refusal is one short
        /// line naming a line of the input.
        #[test]
        fn any_bytes_are_serials_or_one_refusal_naming_a_line(
            lines in proptest::collection::vec(line(), 0..12),
            end in line_end(),
            noise in proptest::collection::vec(any::<u8>(), 0..3),
            bom in any::<bool>(),
        ) {
            let mut bytes = if bom { BOM.to_vec() } else { Vec::new() };
            bytes.extend_from_slice(lines.join(end).as_bytes());
            bytes.extend_from_slice(&noise);
            match parse_serial_list(&bytes) {
                Ok(serials) => {
                    let distinct: std::collections::HashSet<_> = serials.iter().collect();
                    prop_assert_eq!(distinct.len(), serials.len());
                    for s in &serials {
                        prop_assert_eq!(KeySerial::parse(s.as_str()).ok(), Some(s.clone()));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    prop_assert!(!message.contains('\n') && message.len() <= 1024, "{}", message);
                    if let Some(line) = line_of_error(&e) {
                        prop_assert!((1..=physical_lines(&bytes)).contains(&line), "{}", message);
                    }
                }
            }
        }

        /// One bad value among good ones, under a header or not, whatever the line ends: the
        /// refusal names exactly its line.
        #[test]
        fn a_bad_serial_is_refused_at_its_line(
            serials in serials(),
            bad in prop_oneof!["[a-z]{1,3} [a-z]{1,3}", "[a-z]{1,3}/", (65usize..3000).prop_map(|n| "Q".repeat(n))],
            at in any::<proptest::sample::Index>(),
            header in any::<bool>(),
            end in line_end(),
            blank_lines in proptest::collection::vec(any::<bool>(), 40),
        ) {
            let mut lines: Vec<String> = Vec::new();
            if header {
                lines.push("Serial;Model".into());
            }
            let mut bad_line = 0;
            let k = at.index(serials.len());
            for (i, serial) in serials.iter().enumerate() {
                if blank_lines[i] {
                    lines.push(if i % 2 == 0 { String::new() } else { "# a comment".into() });
                }
                let value = if i == k { bad.clone() } else { serial.clone() };
                if i == k {
                    bad_line = lines.len() + 1;
                }
                lines.push(if header { format!("{value};HK2") } else { value });
            }
            let text = lines.join(end);
            let err = parse_serial_list(text.as_bytes()).unwrap_err();
            prop_assert!(
                matches!(err, SerialListError::InvalidSerial { line, .. } if line == bad_line as u64),
                "expected line {}: {} in {:?}", bad_line, err, text
            );
            prop_assert!(err.to_string().len() <= 1024);
        }

        /// Any text as one serial: no panic; accepted is 1 to 64 of letters, digits, `-` and
        /// `_`, upper-cased, and parses again as itself; a refusal is short.
        #[test]
        fn a_serial_is_refused_or_normalized_for_good(raw in prop_oneof!["\\PC{0,80}", ".{0,70}", (60usize..5000).prop_map(|n| "k".repeat(n))]) {
            match KeySerial::parse(&raw) {
                Ok(serial) => {
                    let s = serial.as_str();
                    prop_assert!((1..=64).contains(&s.len()));
                    prop_assert!(s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_'));
                    prop_assert_eq!(s, raw.trim().to_ascii_uppercase());
                    prop_assert_eq!(KeySerial::parse(s).ok(), Some(serial.clone()));
                }
                Err(e) => prop_assert!(e.to_string().len() <= 1024, "{} bytes", e.to_string().len()),
            }
        }
    }
}
