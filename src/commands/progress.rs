//! The progress bar that `ingest`, `normalize`, `segment` and `demo` draw on stderr: the
//! phase and file at hand, files done out of all, how far into the file (megabytes copied,
//! or minutes of audio), and an estimate of the time left. Drawn only when stderr is a
//! terminal and `--quiet` is not given; its spinner and clock tick on their own.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use visitrec::progress::{Phase, Position, Progress};
use visitrec::sanitize::term;

/// Bar units per file: the bar moves within a file, not only between files.
const UNITS: u64 = 1000;

/// How often the spinner and clock are redrawn when nothing else happens.
const TICK: Duration = Duration::from_millis(120);

/// Progress bar on stderr.
pub struct Bar {
    pb: ProgressBar,
    state: Mutex<State>,
}

/// What the bar knows of the run.
#[derive(Debug, Default)]
struct State {
    /// Files to do, over every step so far.
    files: u64,
    /// Files done.
    done: u64,
    /// The files being worked on, and the fraction of each that is done.
    working: HashMap<PathBuf, f64>,
}

impl State {
    /// Where the bar stands, in [`UNITS`].
    fn position(&self) -> u64 {
        let partial: f64 = self.working.values().sum();
        self.done * UNITS + (partial * UNITS as f64) as u64
    }
}

/// Where a phase's share of a file's work begins, and how large it is: decoding is most
/// of the work, so the bar's speed (and the time left) holds roughly steady across phases.
/// (Measured on a 20-minute WAV ingested with `--segment`, debug build: copy 0 %,
/// decode 62 %, normalize with speech scoring 36 %, segment 2 %.)
fn share(phase: Phase) -> (f64, f64) {
    match phase {
        Phase::Copy => (0.0, 0.05),
        Phase::Decode => (0.05, 0.55),
        Phase::Normalize => (0.6, 0.3),
        Phase::Detect => (0.9, 0.05),
        Phase::Segment => (0.95, 0.05),
    }
}

impl Bar {
    /// A bar on stderr, hidden when `quiet` or when stderr is not a terminal.
    pub fn new(quiet: bool) -> Bar {
        let target = if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Bar::with_target(target)
    }

    fn with_target(target: ProgressDrawTarget) -> Bar {
        let pb = ProgressBar::with_draw_target(Some(0), target);
        pb.set_style(
            // The numbers first: on a narrow terminal only the file name is cut short.
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:16} {prefix} {left} {wide_msg}",
            )
            .expect("valid template")
            .with_key("left", time_left),
        );
        if !pb.is_hidden() {
            pb.enable_steady_tick(TICK);
        }
        Bar {
            pb,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Bar {
    /// The bar is cleared when the command's run ends, before its report or error is
    /// printed, so that starts on a clean line.
    fn drop(&mut self) {
        self.pb.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, files: u64) {
        let mut st = self.state();
        st.files += files;
        self.pb.set_length(st.files * UNITS);
    }

    fn position(&self, file: &Path, phase: Phase, at: Position) {
        let mut st = self.state();
        let (from, size) = share(phase);
        let fraction = from + size * at.fraction().unwrap_or(0.0);
        let f = st.working.entry(file.to_path_buf()).or_insert(0.0);
        // Never backwards, even when a file skips or repeats a phase.
        *f = f.max(fraction);
        self.pb.set_position(st.position());
        self.pb.set_prefix(status(&st, phase, at));
        let name = file
            .file_name()
            .unwrap_or(file.as_os_str())
            .to_string_lossy();
        self.pb.set_message(term(&name).into_owned());
    }

    fn advance(&self, file: &Path) {
        let mut st = self.state();
        st.working.remove(file);
        st.done += 1;
        self.pb.set_position(st.position());
    }
}

/// `decode 12:04/2:00:00, 2/5 done`: the phase, how far into the file, and files done out
/// of all.
fn status(st: &State, phase: Phase, at: Position) -> String {
    let mut out = format!("{} ", phase.as_str());
    match at {
        Position::Bytes { done, total } => {
            let _ = write!(out, "{:.1}/{:.1} MB", done as f64 / 1e6, total as f64 / 1e6);
        }
        Position::Audio {
            done_s,
            total_s: Some(total_s),
        } => {
            let _ = write!(out, "{}/{}", clock(done_s), clock(total_s));
        }
        Position::Audio {
            done_s,
            total_s: None,
        } => {
            let _ = write!(out, "{} of audio", clock(done_s));
        }
    }
    let _ = write!(out, ", {}/{} done", st.done, st.files);
    out
}

/// `ETA m:ss` once the bar has moved (before that, there is nothing to estimate from).
fn time_left(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    if state.pos() > 0 && state.len().is_some_and(|len| len > state.pos()) {
        let _ = write!(w, "ETA {}", clock(state.eta().as_secs_f64()));
    }
}

/// `m:ss`, or `h:mm:ss` from an hour on.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn the_bar_moves_within_files_and_says_where_it_is() {
        let bar = Bar::with_target(ProgressDrawTarget::hidden());
        bar.start(2);
        let file = Path::new("/inbox/visit\u{1b}[31m.m4a");
        let bytes = Position::Bytes {
            done: 5_000_000,
            total: 10_000_000,
        };
        bar.position(file, Phase::Copy, bytes);
        assert_eq!(bar.pb.position(), 25, "half of the copy's share");
        assert_eq!(bar.pb.prefix(), "copy 5.0/10.0 MB, 0/2 done");
        assert_eq!(bar.pb.message(), "visit\\x1b[31m.m4a", "the name, escaped");
        let audio = |done_s, total_s| Position::Audio { done_s, total_s };
        bar.position(file, Phase::Decode, audio(3600.0, Some(7200.0)));
        assert_eq!(bar.pb.position(), 325);
        assert_eq!(bar.pb.prefix(), "decode 1:00:00/2:00:00, 0/2 done");
        bar.position(file, Phase::Decode, audio(65.0, None));
        assert_eq!(bar.pb.position(), 325, "never backwards");
        assert_eq!(bar.pb.prefix(), "decode 1:05 of audio, 0/2 done");
        bar.advance(file);
        assert_eq!(bar.pb.position(), 1000);
        bar.start(1);
        assert_eq!(bar.pb.length(), Some(3000));
        drop(bar);
    }

    /// A terminal that counts what is drawn on it.
    #[derive(Debug, Default)]
    struct Counting(Arc<AtomicUsize>);

    impl indicatif::TermLike for Counting {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, _: &str) -> std::io::Result<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn write_str(&self, _: &str) -> std::io::Result<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_spinner_ticks_while_nothing_is_reported() {
        let drawn = Arc::new(AtomicUsize::new(0));
        let target = ProgressDrawTarget::term_like(Box::new(Counting(drawn.clone())));
        let bar = Bar::with_target(target);
        bar.start(1);
        let before = drawn.load(Ordering::SeqCst);
        std::thread::sleep(TICK * 8);
        let after = drawn.load(Ordering::SeqCst);
        drop(bar);
        assert!(
            after >= before + 2,
            "{before} → {after} draws: the bar froze"
        );
    }

    #[test]
    fn clock_reads_like_a_clock() {
        assert_eq!(clock(0.0), "0:00");
        assert_eq!(clock(754.9), "12:34");
        assert_eq!(clock(7200.0), "2:00:00");
    }
}
