//! Printing results and failures in the chosen format.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressStyle};
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

/// A spinner with `message` on stderr while long work runs; hidden for JSON output and when
/// stderr is not a terminal (scripts and logs get no control characters).
pub fn spinner(format: OutputFormat, message: String) -> ProgressBar {
    if format == OutputFormat::Json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}") {
        bar.set_style(style);
    }
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
