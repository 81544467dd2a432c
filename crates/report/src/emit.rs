//! One interface for every output format of every kind of result (as ruff's emitters): a
//! format is a unit struct, and it implements [`Emitter`] for each result it can show.

use std::io;

/// Writes a whole document for `result` to `out`.
pub trait Emitter<T: ?Sized> {
    fn emit(&self, out: &mut dyn io::Write, result: &T) -> io::Result<()>;
}

/// Aligned columns for people: cells escaped, separated by two spaces, the last column
/// unpadded, trailing blanks trimmed.
pub struct Table;

/// Pretty-printed JSON with the project's escapes, and a final newline.
pub struct Json;

/// Comma-separated values (RFC 4180), a header line first.
pub struct Csv;

/// A Markdown table.
pub struct Markdown;

/// A Graphviz DOT graph (`| dot -Tsvg`).
pub struct Dot;

/// Lines of prose for people, escaped.
pub struct Text;

/// Writes `value` as [`Json`] does (pretty, escaped), and a newline.
pub(crate) fn write_json<T: serde::Serialize + ?Sized>(
    out: &mut dyn io::Write,
    value: &T,
) -> io::Result<()> {
    // serde_json writes in many small pieces (a bracket, an indent, a key): a buffer of a known
    // type takes each without a virtual call, and hands `out` large writes (a scan's JSON report
    // -5% instructions).
    use io::Write;
    let mut buffered = io::BufWriter::with_capacity(1 << 16, out);
    kubevigil_model::text::json::to_writer(&mut buffered, value, true)?;
    writeln!(buffered)?;
    buffered.flush()
}

/// Writes `header` and `rows` in aligned columns; cells hold names and messages from the
/// input, so every cell is escaped.
pub(crate) fn write_columns(
    out: &mut dyn io::Write,
    header: &[&str],
    rows: &[Vec<String>],
) -> io::Result<()> {
    let rows: Vec<Vec<std::borrow::Cow<'_, str>>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| kubevigil_model::escape_controls(c))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for r in &rows {
        writeln!(out, "{}", line(r.iter().map(|c| c.as_ref()).collect()))?;
    }
    Ok(())
}
