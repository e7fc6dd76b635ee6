//! The chunk-and-commit loop shared by `ingest` and the pipeline (`normalize`, `segment`):
//! recordings are staged in parallel a chunk at a time, and what is staged is committed in
//! small transactions, so an interrupted run keeps everything committed before it stopped.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::archive::Writer;
use crate::error::Result;
use crate::hash::Fixity;
use crate::record::{self, RECORDING_JSON, Recording};

/// Staged recordings are committed once there are this many (or [`COMMIT_SHARE`] of the
/// archive, if more), or after this long.
const COMMIT_EVERY: usize = 256;
const COMMIT_AFTER: Duration = Duration::from_secs(5);
/// Every commit hashes the whole manifest (for the tag manifest), so a commit waits for at
/// least 1/16 as many recordings as the manifest has entries: the bytes hashed over a whole
/// ingest then add up to at most some 16 times the last manifest, not (N / 256) times.
const COMMIT_SHARE: usize = 16;

/// How many recordings to stage in parallel before looking at their outcomes: enough to
/// keep every thread busy.
pub(crate) fn chunk_len() -> usize {
    rayon::current_num_threads().max(1) * 2
}

/// A recording's new files and metadata, staged and ready to commit.
#[derive(Debug)]
pub(crate) struct Staged {
    /// The recording's metadata as it will be committed.
    pub rec: Recording,
    /// Staged files: (staged path, payload path, fixity).
    pub puts: Vec<(PathBuf, String, Fixity)>,
    /// Payload files to remove.
    pub deletes: Vec<String>,
    /// The audit details logged for this recording when they differ from the batch's.
    pub details: Option<serde_json::Value>,
    /// Some file replaced or removed was found missing or damaged: its size on disk is not
    /// what Payload-Oxum counted, so the commit recounts it.
    pub recount: bool,
}

/// A recording already archived whose metadata changes in the batch's last commit, and the
/// audit entries (op, details) that log the change.
#[derive(Debug)]
pub(crate) struct Update {
    /// The recording's metadata as it will be committed.
    pub rec: Recording,
    /// What is logged for it.
    pub audit: Vec<(&'static str, serde_json::Value)>,
}

impl Staged {
    /// Nothing staged yet for `rec`.
    pub fn new(rec: Recording) -> Staged {
        Staged {
            rec,
            puts: Vec::new(),
            deletes: Vec::new(),
            details: None,
            recount: false,
        }
    }
}

/// Staged recordings waiting to be committed, logged in the audit trail as `op` with
/// `details`, and how many were committed so far.
pub(crate) struct Batch {
    staged: Vec<Staged>,
    committed: usize,
    op: &'static str,
    details: serde_json::Value,
    last_commit: Instant,
    /// Commit everything at the end, in one transaction.
    whole: bool,
}

impl Batch {
    /// An empty batch for operation `op`.
    pub fn new(op: &'static str, details: serde_json::Value) -> Batch {
        Batch {
            staged: Vec::new(),
            committed: 0,
            op,
            details,
            last_commit: Instant::now(),
            whole: false,
        }
    }

    /// This batch commits only when it finishes: all of it, or nothing.
    pub fn whole(mut self) -> Batch {
        self.whole = true;
        self
    }

    /// Adds a staged recording.
    pub fn push(&mut self, staged: Staged) {
        self.staged.push(staged);
    }

    /// Commits what is staged if there is enough of it, or it has waited long enough.
    pub fn commit_if_due(&mut self, writer: &mut Writer) -> Result<()> {
        let enough = COMMIT_EVERY.max(writer.manifest_index().len() / COMMIT_SHARE);
        let due = !self.whole && self.staged.len() >= enough
            || (!self.staged.is_empty() && self.last_commit.elapsed() >= COMMIT_AFTER);
        if due {
            self.commit(writer, Vec::new())?;
        }
        Ok(())
    }

    /// Commits whatever is left; returns how many recordings this batch committed in all.
    pub fn finish(self, writer: &mut Writer) -> Result<usize> {
        self.finish_with(writer, Vec::new())
    }

    /// Commits whatever is left together with `updates`; returns how many recordings this
    /// batch committed in all (not counting the updates).
    pub fn finish_with(mut self, writer: &mut Writer, updates: Vec<Update>) -> Result<usize> {
        self.commit(writer, updates)?;
        Ok(self.committed)
    }

    /// Commits the staged recordings (their files and `recording.json`) and `updates` as
    /// one transaction.
    fn commit(&mut self, writer: &mut Writer, updates: Vec<Update>) -> Result<()> {
        let batch = std::mem::take(&mut self.staged);
        self.last_commit = Instant::now();
        if batch.is_empty() && updates.is_empty() {
            return Ok(());
        }
        self.committed += batch.len();
        let mut txn = writer.begin();
        // One audit entry per distinct details, in the order first met.
        let mut groups: Vec<(&serde_json::Value, Vec<String>)> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        for s in &batch {
            let details = s.details.as_ref().unwrap_or(&self.details);
            let n = *index.entry(details.to_string()).or_insert_with(|| {
                groups.push((details, Vec::new()));
                groups.len() - 1
            });
            groups[n].1.push(s.rec.id.clone());
        }
        for (details, ids) in groups {
            txn.audit(self.op, ids, details.clone());
        }
        if batch.iter().any(|s| s.recount) {
            txn.recount_oxum();
        }
        for u in updates {
            for (op, details) in u.audit {
                txn.audit(op, vec![u.rec.id.clone()], details);
            }
            txn.put_bytes(
                &record::payload_path(&u.rec.id, RECORDING_JSON),
                &u.rec.to_json(),
            )?;
        }
        for s in batch {
            for d in &s.deletes {
                txn.delete(d);
            }
            for (staged, rel, fixity) in s.puts {
                txn.put_staged(staged, rel, fixity);
            }
            txn.put_bytes(
                &record::payload_path(&s.rec.id, RECORDING_JSON),
                &s.rec.to_json(),
            )?;
        }
        txn.commit()
    }
}
