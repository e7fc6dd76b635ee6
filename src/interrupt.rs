//! Leaving no plaintext behind on SIGINT, SIGTERM or SIGHUP.
//!
//! A folder being filled with plaintext (an export's or a decrypt's staging) is
//! [`guard`]ed; a command that writes into an archive in batches (ingest, normalize,
//! segment) [`hold`]s the signals while it runs, to stop at a safe point. The first guard or
//! hold installs handlers for the three signals (one left ignored by the caller, as `nohup`
//! does with SIGHUP, stays ignored). A handler only writes the signal's number to a pipe,
//! which is async-signal-safe; a watcher thread reads it and:
//!
//! - with nothing guarded or held, restores the default action and re-raises the signal, so
//!   the process ends as it would have without visitrec's handler;
//! - otherwise records the signal ([`caught`]), which makes every [`Stoppable`] reader or
//!   writer and every [`check`] fail, so the command unwinds, removes its folder (or its
//!   archive staging) and exits with 128 + the signal number; if that takes longer than
//!   [`GRACE`], or a second signal comes, the watcher removes the guarded folders itself
//!   and exits (an archive's staging it leaves to the next writer, which removes it).
//!
//! SIGKILL cannot be caught: its leftovers are found and removed by the next run (see
//! `export::remove_stale_staging`, and `archive::Archive::writer` for an archive's staging).

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long the command gets to clean up after itself before the watcher does it.
pub const GRACE: Duration = Duration::from_secs(5);

/// The signals handled.
const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The pipe's write end, for the handler.
static PIPE: AtomicI32 = AtomicI32::new(-1);
/// The first signal caught, or 0.
static CAUGHT: AtomicI32 = AtomicI32::new(0);
/// The guarded folders.
static GUARDED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// How many [`Hold`]s are alive.
static HELD: AtomicUsize = AtomicUsize::new(0);
/// Whether the handlers are installed (or failed to be).
static INSTALLED: Mutex<bool> = Mutex::new(false);
/// What to say before ending on a signal that finds nothing guarded or held.
static FAREWELL: std::sync::OnceLock<fn(i32)> = std::sync::OnceLock::new();

/// The signal's conventional name.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// The signal caught since the handlers were installed, if any.
pub fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Registers `dir` for removal on SIGINT, SIGTERM or SIGHUP (call it before creating
/// `dir`), installing the handlers the first time.
pub fn guard(dir: &Path) -> io::Result<()> {
    install()?;
    lock(&GUARDED).push(dir.to_path_buf());
    Ok(())
}

/// Unregisters `dir` (it was completed or removed).
pub fn release(dir: &Path) {
    lock(&GUARDED).retain(|d| d != dir);
}

/// While alive, SIGINT, SIGTERM and SIGHUP do not end the process: they are recorded
/// ([`caught`]) for the command to stop at its next safe point (see [`hold`]).
#[derive(Debug)]
pub struct Hold(());

/// Has `farewell` called (with the signal's number) when a signal finds nothing guarded or
/// held, before the process ends with 128 + the signal number: a command whose caller
/// reads one JSON document from it (`--json`) still gets one when stopped mid-way. The
/// first call wins; the handlers are installed.
pub fn on_idle_signal(farewell: fn(i32)) -> io::Result<()> {
    let _ = FAREWELL.set(farewell);
    install()
}

/// Holds the signals (installing the handlers the first time) until the [`Hold`] is
/// dropped: for a command that commits its work in batches and must not die mid-batch.
pub fn hold() -> io::Result<Hold> {
    install()?;
    HELD.fetch_add(1, Ordering::SeqCst);
    Ok(Hold(()))
}

impl Drop for Hold {
    fn drop(&mut self) {
        HELD.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether anything is guarded or held.
fn busy() -> bool {
    HELD.load(Ordering::SeqCst) > 0 || !lock(&GUARDED).is_empty()
}

/// A reader or writer that fails once a signal has been caught, so long copies stop.
pub struct Stoppable<T>(pub T);

/// The error a [`Stoppable`] fails with.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {}", signal_name(*.0))]
pub struct Stopped(pub i32);

/// Fails with [`Stopped`] once a signal has been caught: long loops call it to stop at
/// their next step. An atomic load, cheap enough for every chunk.
pub fn check() -> io::Result<()> {
    match caught() {
        Some(s) => Err(io::Error::other(Stopped(s))),
        None => Ok(()),
    }
}

impl<R: Read> Read for Stoppable<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        check()?;
        self.0.read(buf)
    }
}

impl<W: Write> Write for Stoppable<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        check()?;
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

extern "C" fn on_signal(signal: libc::c_int) {
    // SAFETY: only async-signal-safe calls (write), and errno is preserved.
    unsafe {
        let errno = *libc::__errno_location();
        let byte = signal as u8;
        libc::write(PIPE.load(Ordering::SeqCst), (&byte as *const u8).cast(), 1);
        *libc::__errno_location() = errno;
    }
}

fn install() -> io::Result<()> {
    let mut done = lock(&INSTALLED);
    if *done {
        return Ok(());
    }
    let mut fds = [0; 2];
    // SAFETY: plain system calls on descriptors this function owns.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(io::Error::last_os_error());
        }
        // The handler must never block: a full pipe just drops the byte.
        libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK);
    }
    PIPE.store(fds[1], Ordering::SeqCst);
    let read_end = fds[0];
    std::thread::Builder::new()
        .name("visitrec-signals".into())
        .spawn(move || watch(read_end))?;
    for signal in SIGNALS {
        // SAFETY: sigaction with a zeroed struct filled in here; the handler is
        // async-signal-safe.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut old);
            if old.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    *done = true;
    Ok(())
}

/// Reads one signal number from the pipe, waiting at most `timeout` (`None`: forever).
fn next_signal(fd: libc::c_int, timeout: Option<Duration>) -> Option<i32> {
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll and read on the pipe's read end, owned by the watcher.
    unsafe {
        if libc::poll(&mut poll, 1, ms) <= 0 {
            return None;
        }
        let mut byte = 0u8;
        (libc::read(fd, (&mut byte as *mut u8).cast(), 1) == 1).then_some(i32::from(byte))
    }
}

fn watch(fd: libc::c_int) {
    loop {
        let Some(signal) = next_signal(fd, None) else {
            continue;
        };
        if !busy() {
            if let Some(farewell) = FAREWELL.get() {
                farewell(signal);
                // SAFETY: ends the process at once, with the status the signal implies.
                unsafe { libc::_exit(128 + signal) }
            }
            // Nothing to protect: behave as if visitrec had no handler.
            // SAFETY: restoring the default action and raising the signal.
            unsafe {
                libc::signal(signal, libc::SIG_DFL);
                libc::raise(signal);
            }
            continue;
        }
        CAUGHT
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
            .ok();
        let deadline = Instant::now() + GRACE;
        loop {
            if !busy() {
                break; // the command cleaned up; it exits with 128 + signal
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero()
                || next_signal(fd, Some(left.min(Duration::from_millis(50)))).is_some()
            {
                remove_guarded_and_exit(signal);
            }
        }
    }
}

fn remove_guarded_and_exit(signal: i32) -> ! {
    for dir in lock(&GUARDED).iter() {
        let _ = std::fs::remove_dir_all(dir);
        eprintln!(
            "visitrec: interrupted by {}; removed {}",
            signal_name(signal),
            dir.display()
        );
    }
    if HELD.load(Ordering::SeqCst) > 0 {
        eprintln!(
            "visitrec: interrupted by {} before reaching a safe point; what was committed \
             is kept, and the next write to the archive removes the rest from its staging",
            signal_name(signal)
        );
    }
    // SAFETY: ends the process at once, as the signal would have.
    unsafe { libc::_exit(128 + signal) }
}
