//! The progress bar on stderr.

use std::io::IsTerminal;
use std::path::Path;

use visitrec::ingest::Progress;
use visitrec::sanitize::term;

use super::output::Verbosity;

/// Progress bar on stderr, drawn only when stderr is a terminal and not `--quiet`.
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    /// A bar for a run at verbosity `v`.
    pub fn new(v: Verbosity) -> Bar {
        if v == Verbosity::Quiet || !std::io::stderr().is_terminal() {
            return Bar(indicatif::ProgressBar::hidden());
        }
        let pb = indicatif::ProgressBar::new(0);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
            )
            .expect("valid template"),
        );
        Bar(pb)
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.inc_length(total);
    }
    fn advance(&self, path: &Path) {
        self.0
            .set_message(term(&path.display().to_string()).into_owned());
        self.0.inc(1);
    }
}
