//! Printing results and failures in the chosen format.

use serde::Serialize;

use crate::cli::OutputFormat;
use crate::exit::Failure;

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("keyward: cannot serialize output: {e}"),
    }
}

/// Prints a failure on stderr: one line of text, or a JSON error object.
pub fn print_failure(format: OutputFormat, failure: &Failure) {
    match format {
        OutputFormat::Text => eprintln!("keyward: {}", failure.message),
        OutputFormat::Json => eprintln!(
            "{}",
            serde_json::json!({ "error": { "code": failure.code, "message": failure.message } })
        ),
    }
}

/// Left-aligned columns for text tables.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(headers.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
}
