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
/// Every commit rewrites the whole manifest, so a commit waits for at least 1/16 as many
/// recordings as the manifest has entries: the manifests written over a whole ingest then
/// add up to at most some 16 times the last one, not (N / 256) times (quadratic).
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
}

impl Staged {
    /// Nothing staged yet for `rec`.
    pub fn new(rec: Recording) -> Staged {
        Staged {
            rec,
            puts: Vec::new(),
            deletes: Vec::new(),
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
        }
    }

    /// Adds a staged recording.
    pub fn push(&mut self, staged: Staged) {
        self.staged.push(staged);
    }

    /// Commits what is staged if there is enough of it, or it has waited long enough.
    pub fn commit_if_due(&mut self, writer: &mut Writer) -> Result<()> {
        let enough = COMMIT_EVERY.max(writer.manifest().entries.len() / COMMIT_SHARE);
        let due = self.staged.len() >= enough
            || (!self.staged.is_empty() && self.last_commit.elapsed() >= COMMIT_AFTER);
        if due {
            self.commit(writer)?;
        }
        Ok(())
    }

    /// Commits whatever is left; returns how many recordings this batch committed in all.
    pub fn finish(mut self, writer: &mut Writer) -> Result<usize> {
        self.commit(writer)?;
        Ok(self.committed)
    }

    /// Commits the staged recordings (their files and `recording.json`) as one transaction.
    fn commit(&mut self, writer: &mut Writer) -> Result<()> {
        let batch = std::mem::take(&mut self.staged);
        self.last_commit = Instant::now();
        if batch.is_empty() {
            return Ok(());
        }
        self.committed += batch.len();
        let mut txn = writer.begin();
        txn.audit(
            self.op,
            batch.iter().map(|s| s.rec.id.clone()).collect(),
            self.details.clone(),
        );
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
