//! The process exit statuses shared by every subcommand (documented in the README and in
//! visitrec(1)).

/// How a command ended, as the shell sees it. Ordered by severity, so that a run of several
/// steps reports the worst (`max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: everything asked for was done, or the archive is intact.
    Ok,
    /// 1: the command ran, but found problems (verify) or refused some inputs (ingest).
    Problems,
    /// 2: the command could not run: usage error, no such archive, archive locked, I/O
    /// failure, wrong key, tampered export.
    Fatal,
    /// 3: refused: a recording's consent does not cover the purpose asked for.
    Consent,
    /// 128+N: interrupted by signal N (SIGINT 130, SIGTERM 143, SIGHUP 129) after cleanup,
    /// as a shell reports a killed command.
    Signal(i32),
}

impl Exit {
    /// `Ok` when `ok`, else `Problems`.
    pub fn problems_unless(ok: bool) -> Exit {
        if ok { Exit::Ok } else { Exit::Problems }
    }

    /// The numeric status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Problems => 1,
            Exit::Fatal => 2,
            Exit::Consent => 3,
            Exit::Signal(n) => u8::try_from(128 + n).unwrap_or(u8::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn codes_and_severity() {
        assert_eq!(
            [
                Exit::Ok,
                Exit::Problems,
                Exit::Fatal,
                Exit::Consent,
                Exit::Signal(2)
            ]
            .map(Exit::code),
            [0, 1, 2, 3, 130]
        );
        assert_eq!(Exit::Ok.max(Exit::Problems).max(Exit::Ok), Exit::Problems);
    }
}
