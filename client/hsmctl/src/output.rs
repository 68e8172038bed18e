//! How results reach the user: every command returns a value that renders both as text
//! for people and as one JSON document for scripts (`--output json`). Also the small
//! formatting pieces several commands share: tables and PEM.

use std::io::{self, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::ValueEnum;
use serde_json::Value;

/// The `--output` flag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

/// A command's result, printable either way.
pub(crate) trait Render {
    /// Text for a terminal, without a trailing newline.
    fn text(&self) -> String;
    /// The same facts as JSON.
    fn json(&self) -> Value;
}

/// Prints a result to stdout in the chosen format.
pub(crate) fn print(format: OutputFormat, result: &dyn Render) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    let text = render(format, result);
    writeln!(stdout, "{text}")?;
    stdout.flush()
}

/// The text `print` writes, without its final newline.
pub(crate) fn render(format: OutputFormat, result: &dyn Render) -> String {
    match format {
        OutputFormat::Text => result.text(),
        OutputFormat::Json => result.json().to_string(),
    }
}

/// Lays out rows under headers in left-aligned columns two spaces apart.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    std::iter::once(&header)
        .chain(rows)
        .map(|row| line(&widths, row))
        .collect::<Vec<_>>()
        .join("\n")
}

fn line(widths: &[usize], cells: &[String]) -> String {
    let padded: Vec<String> = widths
        .iter()
        .zip(cells)
        .map(|(width, cell)| format!("{cell:<width$}"))
        .collect();
    padded.join("  ").trim_end().to_string()
}

/// PEM text with the given label, base64 wrapped at 64 columns, ending in a newline.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(chunk));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

/// Standard base64, for bytes inside JSON.
pub(crate) fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A single-line message: newlines in `text` become spaces.
pub(crate) fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sample;

    impl Render for Sample {
        fn text(&self) -> String {
            "hello".into()
        }
        fn json(&self) -> Value {
            serde_json::json!({"greeting": "hello", "n": 2})
        }
    }

    #[test]
    fn render_picks_text_or_compact_json() {
        assert_eq!(render(OutputFormat::Text, &Sample), "hello");
        let json: Value = serde_json::from_str(&render(OutputFormat::Json, &Sample)).unwrap();
        assert_eq!(json["greeting"], "hello");
        assert_eq!(json["n"], 2);
        assert!(!render(OutputFormat::Json, &Sample).contains('\n'));
    }

    #[test]
    fn table_aligns_columns_and_trims_line_ends() {
        let rows = vec![
            vec!["1".to_string(), "az-a".to_string(), "leader".to_string()],
            vec!["10".to_string(), "az-bb".to_string(), "".to_string()],
        ];
        let text = table(&["ID", "AZ", "ROLE"], &rows);
        assert_eq!(text, "ID  AZ     ROLE\n1   az-a   leader\n10  az-bb");
    }

    #[test]
    fn pem_wraps_base64_at_64_columns() {
        let text = pem("PUBLIC KEY", &[0u8; 60]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN PUBLIC KEY-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2], "A".repeat(16));
        assert_eq!(lines[3], "-----END PUBLIC KEY-----");
        assert!(text.ends_with("-----\n"));
    }

    #[test]
    fn one_line_joins_lines_with_spaces() {
        assert_eq!(one_line("a\nb\r\nc\n"), "a b c");
    }
}
