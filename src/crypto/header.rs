//! A strict, bounded reader for the age v1 header (<https://c2sp.org/age>), run before the
//! `age` crate parses it.
//!
//! The crate's parser accepts two malformed headers that stock age refuses (a stanza with
//! no body line, and a body whose last line is a full 64 columns: the CCTV vectors
//! `stanza_missing_body` and `stanza_missing_final_line`), and it reads header lines of any
//! length into memory. This reader enforces the grammar and caps the header at
//! [`MAX_HEADER`] bytes, so a hostile file costs at most that much memory before anything
//! is authenticated:
//!
//! ```text
//! header  = "age-encryption.org/v1" LF *stanza "---" SP 43base64 LF
//! stanza  = "->" 1*(SP 1*VCHAR) LF *(64base64 LF) 0*63base64 LF   (canonical, unpadded)
//! ```

use std::io::{self, BufRead};

use base64::Engine;
use base64::prelude::BASE64_STANDARD_NO_PAD;

/// The longest header accepted, in bytes. visitrec's own headers are a few hundred bytes
/// per recipient (an `ssh-rsa` 4096-bit stanza is the largest, about 700), so this allows
/// about ninety recipients of any kind.
pub const MAX_HEADER: usize = 64 * 1024;

/// The version line.
const VERSION: &[u8] = b"age-encryption.org/v1";
/// Columns of a full stanza body line.
const COLUMNS: usize = 64;

/// Why a header was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    /// The input ended before the header did.
    #[error("the file ends inside the age header")]
    Truncated,
    /// Longer than [`MAX_HEADER`].
    #[error("the age header is longer than {} KiB", MAX_HEADER / 1024)]
    TooLarge,
    /// `age-encryption.org/<something else>`.
    #[error("unsupported age format version")]
    UnsupportedVersion,
    /// Does not start like an age file at all.
    #[error("does not start with the age header")]
    NotAge,
    /// A line breaks the grammar.
    #[error("malformed age header: {0}")]
    Malformed(&'static str),
}

/// What reading a header can fail with: the input's own error, or the header's.
#[derive(Debug)]
pub enum ReadError {
    /// Reading failed (for armored files this carries the armor's errors).
    Io(io::Error),
    /// The header is malformed.
    Header(HeaderError),
}

impl From<HeaderError> for ReadError {
    fn from(e: HeaderError) -> Self {
        ReadError::Header(e)
    }
}

/// Reads and checks the header from `input`, leaving `input` just after its MAC line, and
/// returns the header's bytes (to hand to the `age` crate, which then reads the rest).
pub fn read(input: &mut impl BufRead) -> Result<Vec<u8>, ReadError> {
    let mut header = Vec::with_capacity(1024);
    let first = next_line(input, &mut header)?;
    if header[..first].ends_with(b"\r") {
        return Err(HeaderError::Malformed("CRLF line endings").into());
    }
    if header[..first] != *VERSION {
        return Err(if header.starts_with(b"age-encryption.org/") {
            HeaderError::UnsupportedVersion
        } else {
            HeaderError::NotAge
        }
        .into());
    }
    let mut in_body = false;
    loop {
        let start = header.len();
        let end = next_line(input, &mut header)?;
        let line = &header[start..end];
        if in_body {
            if line.starts_with(b"-") {
                // '-' is not base64: a stanza or the MAC where the body's last line belongs.
                return Err(HeaderError::Malformed(
                    "a stanza body does not end with a short line (even an empty one)",
                )
                .into());
            }
            check_body_line(line)?;
            // A full line means more body follows; a short one (even empty) ends it.
            in_body = line.len() == COLUMNS;
        } else if let Some(rest) = line.strip_prefix(b"->") {
            check_arguments(rest)?;
            in_body = true;
        } else if let Some(mac) = line.strip_prefix(b"--- ") {
            if mac.len() != 43 || !canonical_base64(mac) {
                return Err(HeaderError::Malformed(
                    "the MAC is not 43 canonical base64 characters",
                )
                .into());
            }
            return Ok(header);
        } else if line.starts_with(b"---") {
            return Err(HeaderError::Malformed("the MAC line is not \"--- \" and the MAC").into());
        } else {
            return Err(HeaderError::Malformed("a line is neither a stanza nor the MAC").into());
        }
    }
}

/// Appends the next line (with its LF) to `buf`, keeping `buf` within [`MAX_HEADER`];
/// returns the index just before the LF.
fn next_line(input: &mut impl BufRead, buf: &mut Vec<u8>) -> Result<usize, ReadError> {
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        if chunk.is_empty() {
            return Err(HeaderError::Truncated.into());
        }
        let room = MAX_HEADER - buf.len();
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if take > room {
            return Err(HeaderError::TooLarge.into());
        }
        buf.extend_from_slice(&chunk[..take]);
        input.consume(take);
        if done {
            return Ok(buf.len() - 1);
        }
    }
}

/// `rest` is what follows `->`: one or more arguments, each a space then visible ASCII.
fn check_arguments(rest: &[u8]) -> Result<(), HeaderError> {
    if rest.is_empty() {
        return Err(HeaderError::Malformed("a stanza has no arguments"));
    }
    let Some(rest) = rest.strip_prefix(b" ") else {
        return Err(HeaderError::Malformed("\"->\" is not followed by a space"));
    };
    for arg in rest.split(|&b| b == b' ') {
        if arg.is_empty() {
            return Err(HeaderError::Malformed("a stanza has an empty argument"));
        }
        if !arg.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(HeaderError::Malformed(
                "a stanza argument has a character outside visible ASCII",
            ));
        }
    }
    Ok(())
}

/// A stanza body line: at most 64 columns of canonical unpadded base64.
fn check_body_line(line: &[u8]) -> Result<(), HeaderError> {
    if line.len() > COLUMNS {
        return Err(HeaderError::Malformed(
            "a stanza body line is longer than 64 columns",
        ));
    }
    if !canonical_base64(line) {
        return Err(HeaderError::Malformed(
            "a stanza body line is not canonical unpadded base64",
        ));
    }
    Ok(())
}

/// Whether `s` is canonical base64 without padding (the empty string is).
fn canonical_base64(s: &[u8]) -> bool {
    // The base64 crate's standard engine refuses padding here, characters outside the
    // alphabet, a length of 1 mod 4 and non-zero trailing bits: exactly the non-canonical
    // forms.
    BASE64_STANDARD_NO_PAD.decode(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAC: &str = "--- OaSGgYUB+XR0qCCme0Uwp9GNJXSEgNpbknu3Q9qtL+M\n";

    fn check(text: &str) -> Result<Vec<u8>, HeaderError> {
        read(&mut text.as_bytes()).map_err(|e| match e {
            ReadError::Header(h) => h,
            ReadError::Io(e) => panic!("{e}"),
        })
    }

    #[test]
    fn the_grammar_is_enforced() {
        let ok = format!("age-encryption.org/v1\n-> X25519 abc\nAAAA\n-> empty\n\n{MAC}");
        assert_eq!(check(&ok).unwrap(), ok.as_bytes());
        let full = "A".repeat(64);
        let two = format!("age-encryption.org/v1\n-> a b\n{full}\n\n{MAC}");
        assert!(check(&two).is_ok(), "a full line then an empty final line");
        for (bad, why) in [
            (format!("age-encryption.org/v1\n-> a\n{MAC}"), "no body"),
            (
                format!("age-encryption.org/v1\n-> a\n{full}\n{MAC}"),
                "no final line",
            ),
            (
                format!("age-encryption.org/v1\n->\n\n{MAC}"),
                "no arguments",
            ),
            (
                format!("age-encryption.org/v1\n->  a\n\n{MAC}"),
                "empty argument",
            ),
            (
                format!("age-encryption.org/v1\n-> a \n\n{MAC}"),
                "trailing space",
            ),
            (
                format!("age-encryption.org/v1\n-> a\nAAA=\n{MAC}"),
                "padding",
            ),
            (
                format!("age-encryption.org/v1\n-> a\nAB\n{MAC}"),
                "trailing bits",
            ),
            (
                format!("age-encryption.org/v1\n-> a\n{full}A\n\n{MAC}"),
                "long line",
            ),
            (format!("age-encryption.org/v1\r\n-> a\n\n{MAC}"), "CR"),
            (
                "age-encryption.org/v1\n-> a\n\n---  x\n".to_string(),
                "MAC spacing",
            ),
            ("age-encryption.org/v1\n-> a\n\n---\n".to_string(), "no MAC"),
            (
                format!("age-encryption.org/v1\n-> a\n\nhello\n{MAC}"),
                "junk line",
            ),
        ] {
            assert!(
                matches!(check(&bad), Err(HeaderError::Malformed(_))),
                "{why}"
            );
        }
        assert_eq!(
            check("age-encryption.org/v2\n"),
            Err(HeaderError::UnsupportedVersion)
        );
        assert_eq!(check("PK\u{3}\u{4}zip\n"), Err(HeaderError::NotAge));
        assert_eq!(
            check("age-encryption.org/v1\n-> a\n"),
            Err(HeaderError::Truncated)
        );
        assert_eq!(check(""), Err(HeaderError::Truncated));
    }

    #[test]
    fn a_huge_header_or_line_is_refused_after_max_header_bytes() {
        // One endless line, and endless short stanzas: both stop at the cap.
        struct Endless(u8, u64);
        impl io::Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                buf.fill(self.0);
                self.1 += buf.len() as u64;
                Ok(buf.len())
            }
        }
        let mut r = io::BufReader::new(io::Read::chain(
            &b"age-encryption.org/v1\n-> "[..],
            Endless(b'a', 0),
        ));
        assert!(matches!(
            read(&mut r),
            Err(ReadError::Header(HeaderError::TooLarge))
        ));
        let stanzas = "-> a\n\n".repeat(MAX_HEADER / 6 + 1);
        assert_eq!(
            check(&format!("age-encryption.org/v1\n{stanzas}{MAC}")),
            Err(HeaderError::TooLarge)
        );
        let stanzas = "-> a\n\n".repeat((MAX_HEADER - 100) / 6);
        assert!(check(&format!("age-encryption.org/v1\n{stanzas}{MAC}")).is_ok());
    }

    fn base64_body() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..200)
    }

    proptest! {
        /// Any well-formed header (any arguments and bodies) is accepted whole, and the
        /// reader stops exactly at its end.
        #[test]
        fn well_formed_headers_are_accepted(
            stanzas in proptest::collection::vec(
                (proptest::collection::vec("[!-~]{1,12}", 1..4), base64_body()),
                0..6,
            ),
            rest in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut text = String::from("age-encryption.org/v1\n");
            for (args, body) in &stanzas {
                text.push_str(&format!("->{}\n", args.iter().map(|a| format!(" {a}")).collect::<String>()));
                let b64 = BASE64_STANDARD_NO_PAD.encode(body);
                let mut i = 0;
                loop {
                    let end = (i + 64).min(b64.len());
                    text.push_str(&b64[i..end]);
                    text.push('\n');
                    if end - i < 64 { break; }
                    i = end;
                }
            }
            text.push_str(MAC);
            let mut input = [text.as_bytes(), &rest].concat();
            let mut r = &input[..];
            let got = read(&mut r).map_err(|e| format!("{e:?}"));
            prop_assert_eq!(got, Ok(text.as_bytes().to_vec()));
            prop_assert_eq!(r, &rest[..]);
            input.clear();
        }

        /// Arbitrary bytes never panic and never yield more than the cap.
        #[test]
        fn arbitrary_bytes_are_refused_or_bounded(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut input = b"age-encryption.org/v1\n".to_vec();
            input.extend_from_slice(&data);
            if let Ok(h) = read(&mut &input[..]) {
                prop_assert!(h.len() <= MAX_HEADER && h.ends_with(b"\n"));
            }
            let _ = read(&mut &data[..]);
        }
    }
}
