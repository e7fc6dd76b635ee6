//! Reading the CSV files of `consent --from` and `ingest --manifest`: at most
//! [`MAX_BYTES`], UTF-8 (a byte-order mark is tolerated), a header row naming only known
//! columns, each at most once. Every problem is collected with its line, so the whole file
//! is refused at once with all of them listed.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// The largest CSV file accepted.
pub const MAX_BYTES: u64 = 16 * 1024 * 1024;

/// A CSV file read: its header and rows, with line numbers.
#[derive(Debug)]
pub struct Table {
    /// The file, as given.
    pub path: PathBuf,
    /// Column name → index.
    columns: HashMap<String, usize>,
    /// The column names in file order.
    pub header: Vec<String>,
    /// (line, fields) of each data row.
    pub rows: Vec<(u64, Vec<String>)>,
    /// Problems found so far, as `FILE:LINE: reason`.
    problems: Vec<String>,
    /// Whether the header (or the file as a whole) is wrong, so no row can be read.
    unreadable: bool,
}

impl Table {
    /// Reads `path`; `known` says whether a column name is accepted, `required` lists
    /// columns that must be present. A file that cannot be read at all fails at once.
    pub fn read(path: &Path, known: &dyn Fn(&str) -> bool, required: &[&str]) -> Result<Table> {
        let meta = std::fs::metadata(path).at(path)?;
        if !meta.is_file() {
            return Err(Error::BadCsv {
                path: path.to_path_buf(),
                problems: vec![format!("{}: not a regular file", path.display())],
            });
        }
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .at(path)?
            .take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .at(path)?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(Error::BadCsv {
                path: path.to_path_buf(),
                problems: vec![format!(
                    "{}: larger than {} MiB: split it into several files",
                    path.display(),
                    MAX_BYTES >> 20
                )],
            });
        }
        let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
        let mut t = Table {
            path: path.to_path_buf(),
            columns: HashMap::new(),
            header: Vec::new(),
            rows: Vec::new(),
            problems: Vec::new(),
            unreadable: false,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(body);
        let mut first = true;
        for record in reader.records() {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    t.problem(
                        line,
                        format!("not readable as UTF-8 CSV: {}", csv_reason(&e)),
                    );
                    if first {
                        first = false;
                        t.unreadable = true;
                    }
                    continue;
                }
            };
            let line = record.position().map_or(0, |p| p.line());
            let fields: Vec<String> = record.iter().map(str::to_string).collect();
            if first {
                first = false;
                t.set_header(line, fields, known, required);
                continue;
            }
            if fields.iter().all(String::is_empty) {
                continue;
            }
            if fields.len() != t.header.len() {
                t.problem(
                    line,
                    format!(
                        "{} fields, but the header has {} columns",
                        fields.len(),
                        t.header.len()
                    ),
                );
                continue;
            }
            t.rows.push((line, fields));
        }
        if first {
            t.problem(1, "empty: a header row is required".into());
            t.unreadable = true;
        }
        Ok(t)
    }

    fn set_header(
        &mut self,
        line: u64,
        names: Vec<String>,
        known: &dyn Fn(&str) -> bool,
        required: &[&str],
    ) {
        let before = self.problems.len();
        for (i, name) in names.iter().enumerate() {
            if !known(name) {
                self.problem(line, format!("unknown column {name:?}"));
            } else if self.columns.insert(name.clone(), i).is_some() {
                self.problem(line, format!("column {name:?} appears twice"));
            }
        }
        for r in required {
            if !self.columns.contains_key(*r) {
                self.problem(
                    line,
                    format!("no {r:?} column (the header row is required)"),
                );
            }
        }
        self.header = names;
        self.unreadable = self.problems.len() > before;
    }

    /// Whether the file has column `name`.
    pub fn has(&self, name: &str) -> bool {
        self.columns.contains_key(name)
    }

    /// The non-empty value of column `name` in `fields`.
    pub fn get<'f>(&self, fields: &'f [String], name: &str) -> Option<&'f str> {
        let i = *self.columns.get(name)?;
        fields.get(i).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// Records a problem at `line`.
    pub fn problem(&mut self, line: u64, reason: String) {
        self.problems
            .push(format!("{}:{line}: {reason}", self.path.display()));
    }

    /// How many problems were recorded so far.
    pub fn problem_count(&self) -> usize {
        self.problems.len()
    }

    /// Fails with every problem recorded if the header is wrong (then no row can be read).
    pub fn check_header(&mut self) -> Result<()> {
        if self.unreadable {
            self.check()?;
        }
        Ok(())
    }

    /// Fails with every problem recorded, if any.
    pub fn check(&mut self) -> Result<()> {
        if self.problems.is_empty() {
            return Ok(());
        }
        Err(Error::BadCsv {
            path: self.path.clone(),
            problems: std::mem::take(&mut self.problems),
        })
    }
}

/// A CSV error without its position (the line is shown separately).
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".into(),
        _ => e.to_string(),
    }
}
