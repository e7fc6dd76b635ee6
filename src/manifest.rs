//! `ingest --manifest study.csv`: a study's batch, one row per file, each with its own
//! participant, tags and consent grant. The whole file is checked before anything is
//! copied; [`crate::ingest::ingest_manifest`] then commits it in one transaction. Column
//! reference: docs/FORMAT.md.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use crate::consent::Grant;
use crate::error::Result;
use crate::table::Table;

/// The columns of a manifest besides `tag:KEY` ones.
pub const COLUMNS: [&str; 9] = [
    "path",
    "participant",
    "scopes",
    "by",
    "method",
    "date",
    "expires",
    "witness",
    "note",
];

/// Prefix of a tag column: `tag:site` holds each row's value of tag `site`.
pub const TAG_PREFIX: &str = "tag:";

/// One file of the manifest.
#[derive(Debug, Clone)]
pub struct Row {
    /// Its line in the manifest.
    pub line: u64,
    /// The file (the manifest's folder joined with the `path` column).
    pub path: PathBuf,
    /// Participant.
    pub participant: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// A consent grant.
    pub consent: Option<Grant>,
}

/// A manifest read and checked.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file, as given.
    pub path: PathBuf,
    /// Its rows, in file order.
    pub rows: Vec<Row>,
}

/// Reads and checks the manifest at `path`: every problem (unknown column, bad value,
/// missing, repeated or unsafe path) is listed in one [`crate::Error::BadCsv`].
pub fn read(path: &Path) -> Result<Manifest> {
    let known = |c: &str| {
        COLUMNS.contains(&c)
            || c.strip_prefix(TAG_PREFIX)
                .is_some_and(|k| crate::tags::check_key(k).is_ok())
    };
    let mut t = Table::read(path, &known, &["path"])?;
    t.check_header()?;
    let folder = path.parent().unwrap_or(Path::new("."));
    let folder = if folder.as_os_str().is_empty() {
        Path::new(".")
    } else {
        folder
    };
    let tag_keys: Vec<String> = t
        .header
        .iter()
        .filter_map(|c| c.strip_prefix(TAG_PREFIX).map(String::from))
        .collect();
    let rows = std::mem::take(&mut t.rows);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (line, f) in &rows {
        let line = *line;
        let before = t.problem_count();
        let rel = t.get(f, "path").unwrap_or_default().to_string();
        let file = folder.join(&rel);
        if rel.is_empty() {
            t.problem(line, "path is empty".into());
        } else if let Some(why) = unsafe_path(&rel) {
            t.problem(line, format!("path {rel:?} {why}"));
        } else if !seen.insert(rel.clone()) {
            t.problem(line, format!("path {rel:?} is listed twice"));
        } else {
            match std::fs::symlink_metadata(&file) {
                Ok(m) if m.file_type().is_symlink() => {
                    t.problem(line, format!("{rel:?} is a symbolic link (not followed)"))
                }
                Ok(m) if !m.is_file() => t.problem(line, format!("{rel:?} is not a regular file")),
                Ok(_) => {
                    if let Some(a) = crate::archive::enclosing_archive(&file) {
                        t.problem(
                            line,
                            format!(
                                "{rel:?} lies inside the visitrec archive {}: ingest the \
                                 phone's original files instead",
                                a.display()
                            ),
                        );
                    }
                }
                Err(e) => t.problem(
                    line,
                    format!("{rel:?}: {}", crate::failure::describe_io(&e)),
                ),
            }
        }
        let participant = t.get(f, "participant").map(String::from);
        if let Some(p) = &participant
            && let Err(e) = crate::tags::check_value("participant", p)
        {
            t.problem(line, e.to_string());
        }
        let mut tags = BTreeMap::new();
        for k in &tag_keys {
            if let Some(v) = t.get(f, &format!("{TAG_PREFIX}{k}")) {
                match crate::tags::check_value(&format!("value of tag {k}"), v) {
                    Ok(()) => {
                        tags.insert(k.clone(), v.to_string());
                    }
                    Err(e) => t.problem(line, e.to_string()),
                }
            }
        }
        let wants_consent = [
            "scopes", "by", "method", "date", "expires", "witness", "note",
        ]
        .iter()
        .any(|c| t.get(f, c).is_some());
        let consent = if wants_consent {
            crate::bulk::grant_columns(&mut t, line, f)
        } else {
            None
        };
        if t.problem_count() == before {
            out.push(Row {
                line,
                path: file,
                participant,
                tags,
                consent,
            });
        }
    }
    if out.is_empty() && t.problem_count() == 0 {
        t.problem(1, "no rows: nothing to ingest".into());
    }
    t.check()?;
    Ok(Manifest {
        path: path.to_path_buf(),
        rows: out,
    })
}

/// Why a manifest path is refused: absolute, or climbing out of the manifest's folder.
fn unsafe_path(rel: &str) -> Option<&'static str> {
    let p = Path::new(rel);
    if p.is_absolute() {
        return Some("is absolute: paths are relative to the manifest's folder");
    }
    p.components()
        .any(|c| c == Component::ParentDir)
        .then_some("climbs out with \"..\": paths stay inside the manifest's folder")
}
