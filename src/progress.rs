//! Progress of long commands (ingest, normalize, segment): how many files there are, what is
//! being done to the file at hand (its [`Phase`]), and how far into it that is.
//!
//! The library reports to a [`Progress`]; the binary draws it. Work inside a file reports
//! through a [`Ticker`], which passes a position on at most once per
//! [`Progress::interval`], so a decode loop may call it for every chunk: that costs a clock
//! read and a comparison, never a lock.

use std::path::Path;
use std::time::{Duration, Instant};

/// What is being done to a file, in the order a file goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Copied into staging while its SHA-256 is computed (position in bytes).
    Copy,
    /// Decoded completely: checked playable and measured (and, when normalizing, resampled
    /// and its loudness measured). Position in seconds of audio.
    Decode,
    /// The normalized rendition written, with the gain applied (seconds of audio).
    Normalize,
    /// Scored for speech, when normalization did not already do it (seconds of audio).
    Detect,
    /// Cut into segments (seconds of audio).
    Segment,
}

impl Phase {
    /// The name shown to people (`copy`, `decode`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Copy => "copy",
            Phase::Decode => "decode",
            Phase::Normalize => "normalize",
            Phase::Detect => "detect",
            Phase::Segment => "segment",
        }
    }
}

/// How far into a file the current phase is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Position {
    /// Bytes done, out of the file's size.
    Bytes {
        /// Bytes done.
        done: u64,
        /// The file's size.
        total: u64,
    },
    /// Seconds of audio done, out of the recording's length when it is known beforehand.
    Audio {
        /// Seconds done.
        done_s: f64,
        /// The recording's length, if known.
        total_s: Option<f64>,
    },
}

impl Position {
    /// The fraction done (0 to 1), when the total is known.
    pub fn fraction(&self) -> Option<f64> {
        let (done, total) = match *self {
            Position::Bytes { done, total } => (done as f64, total as f64),
            Position::Audio { done_s, total_s } => (done_s, total_s?),
        };
        Some(if total > 0.0 {
            (done / total).clamp(0.0, 1.0)
        } else {
            1.0
        })
    }
}

/// Receives progress. A run that does several steps (ingest, then normalize, then segment)
/// calls `start` once per step, each adding to the total, so one display covers the batch.
/// Files are worked on in parallel: calls come from several threads.
pub trait Progress: Sync {
    /// Adds `files` files (or recordings) to the work to do.
    fn start(&self, files: u64);
    /// `file` is in `phase`, at `at`. Called when a phase begins (at 0), at most once per
    /// [`Self::interval`] while it runs, and when it ends (at its total).
    fn position(&self, file: &Path, phase: Phase, at: Position) {
        let _ = (file, phase, at);
    }
    /// Called after each file, whatever became of it.
    fn advance(&self, file: &Path);
    /// The shortest time between two positions reported for the same phase of a file.
    fn interval(&self) -> Duration {
        Duration::from_millis(200)
    }
}

/// A [`Progress`] that shows nothing.
#[derive(Debug)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: u64) {}
    fn advance(&self, _: &Path) {}
}

/// Where one file's progress goes: the [`Progress`], the file's name as reported, and the
/// recording's length when known before decoding (from `recording.json`), for containers
/// that do not declare it.
#[derive(Clone, Copy)]
pub struct FileProgress<'a> {
    /// The receiver.
    pub progress: &'a dyn Progress,
    /// The file (or recording id) reported.
    pub file: &'a Path,
    /// The audio's length in seconds, when known beforehand.
    pub length_s: Option<f64>,
}

impl std::fmt::Debug for FileProgress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileProgress")
            .field("file", &self.file)
            .field("length_s", &self.length_s)
            .finish_non_exhaustive()
    }
}

impl<'a> FileProgress<'a> {
    /// Reports `file` to `progress`.
    pub fn new(progress: &'a dyn Progress, file: &'a Path) -> FileProgress<'a> {
        FileProgress {
            progress,
            file,
            length_s: None,
        }
    }

    /// Reports nothing (for callers that show no progress).
    pub fn none() -> FileProgress<'static> {
        FileProgress::new(&NoProgress, Path::new(""))
    }

    /// `done_s` seconds into audio whose length is `declared_s` (by its container), else
    /// [`Self::length_s`].
    pub fn audio(&self, declared_s: Option<f64>, done_s: f64) -> Position {
        Position::Audio {
            done_s,
            total_s: declared_s.or(self.length_s),
        }
    }

    /// Begins `phase`, reporting it at `start`.
    pub fn phase(self, phase: Phase, start: Position) -> Ticker<'a> {
        self.progress.position(self.file, phase, start);
        Ticker {
            to: self,
            phase,
            every: self.progress.interval(),
            last: Instant::now(),
        }
    }
}

/// One phase of one file, reported at most once per interval (see [`FileProgress::phase`]).
#[derive(Debug)]
pub struct Ticker<'a> {
    to: FileProgress<'a>,
    phase: Phase,
    every: Duration,
    last: Instant,
}

impl Ticker<'_> {
    /// The phase is at `at`: reported if the interval has passed since the last report.
    pub fn at(&mut self, at: Position) {
        let now = Instant::now();
        if now.duration_since(self.last) >= self.every {
            self.last = now;
            self.to.progress.position(self.to.file, self.phase, at);
        }
    }

    /// The phase ended at `at`: always reported, with the total set to what was done (a
    /// length declared beforehand is only an estimate: encoder delay is trimmed, a file
    /// may have grown while it was copied).
    pub fn finish(self, at: Position) {
        let at = match at {
            Position::Bytes { done, .. } => Position::Bytes { done, total: done },
            Position::Audio { done_s, .. } => Position::Audio {
                done_s,
                total_s: Some(done_s),
            },
        };
        self.to.progress.position(self.to.file, self.phase, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Recorder(Mutex<Vec<(Phase, Position)>>, Duration);

    impl Progress for Recorder {
        fn start(&self, _: u64) {}
        fn position(&self, _: &Path, phase: Phase, at: Position) {
            self.0.lock().unwrap().push((phase, at));
        }
        fn advance(&self, _: &Path) {}
        fn interval(&self) -> Duration {
            self.1
        }
    }

    #[test]
    fn a_ticker_reports_start_end_and_at_most_once_per_interval_between() {
        let r = Recorder(Mutex::new(Vec::new()), Duration::from_secs(3600));
        let bytes = |done| Position::Bytes { done, total: 10 };
        let mut t = FileProgress::new(&r, Path::new("f")).phase(Phase::Copy, bytes(0));
        for i in 1..10 {
            t.at(bytes(i));
        }
        t.finish(bytes(10));
        assert_eq!(
            *r.0.lock().unwrap(),
            [(Phase::Copy, bytes(0)), (Phase::Copy, bytes(10))]
        );
        let r = Recorder(Mutex::new(Vec::new()), Duration::ZERO);
        let mut t = FileProgress::new(&r, Path::new("f")).phase(Phase::Copy, bytes(0));
        t.at(bytes(5));
        t.finish(bytes(10));
        assert_eq!(r.0.lock().unwrap().len(), 3);
    }

    #[test]
    fn fractions() {
        let audio = |done_s, total_s| Position::Audio { done_s, total_s };
        assert_eq!(audio(30.0, Some(120.0)).fraction(), Some(0.25));
        assert_eq!(audio(30.0, None).fraction(), None);
        assert_eq!(audio(130.0, Some(120.0)).fraction(), Some(1.0));
        assert_eq!(Position::Bytes { done: 0, total: 0 }.fraction(), Some(1.0));
    }
}
