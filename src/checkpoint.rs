//! Signed checkpoints: the head of the audit log, signed with an SSH key in the SSH
//! signature format (`PROTOCOL.sshsig`, namespace `visitrec-audit`), so that
//! `ssh-keygen -Y verify` checks them as well as `visitrec verify --allowed-signers`.
//!
//! Checkpoints are kept in `checkpoints.jsonl`, a tag file covered by the tag manifest, one
//! JSON line each. They are not logged in the audit log: a logged checkpoint would move the
//! head past the line it signs. The message signed is [`message`]'s text.

use std::path::Path;

use serde::{Deserialize, Serialize};
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

use crate::anchor::{self, Anchor};
use crate::archive::{CHECKPOINTS, TAG_MANIFEST, Writer};
use crate::audit::AUDIT_LOG;
use crate::error::{Error, IoContext, Result};
use crate::hash;

/// The SSH signature namespace of checkpoints (`ssh-keygen -Y … -n visitrec-audit`).
pub const NAMESPACE: &str = "visitrec-audit";

/// Why a key of another kind is refused.
const ED25519_ONLY: &str =
    "visitrec signs with ed25519 keys only (make one with `ssh-keygen -t ed25519`)";

/// A key file larger than this is not an SSH private key.
const MAX_KEY_BYTES: u64 = 64 * 1024;

/// One line of `checkpoints.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The audit line signed (its number, counted from 1).
    pub seq: u64,
    /// Lower-case hex SHA-256 of that line's bytes.
    pub head: String,
    /// When it was signed (RFC 3339, UTC, whole seconds); part of the signed message.
    pub at: String,
    /// The signer's public key, OpenSSH form without its comment (`ssh-ed25519 AAAA…`).
    pub key: String,
    /// The key's SHA-256 fingerprint, as `ssh-keygen -l` prints it (`SHA256:…`).
    pub fingerprint: String,
    /// The armored SSH signature (`-----BEGIN SSH SIGNATURE-----` …) of [`message`].
    pub signature: String,
}

/// The exact bytes signed for a checkpoint of line `seq` hashing to `head`, made at `at`.
pub fn message(seq: u64, head: &str, at: &str) -> String {
    format!("visitrec-audit-checkpoint v1\nseq: {seq}\nhead: {head}\nat: {at}\n")
}

impl Checkpoint {
    /// The message this checkpoint claims to sign.
    pub fn message(&self) -> String {
        message(self.seq, &self.head, &self.at)
    }
}

/// Reads an unencrypted ed25519 OpenSSH private key (`ssh-keygen -t ed25519`).
pub fn read_key(path: &Path) -> Result<PrivateKey> {
    use std::io::Read;
    let bad = |reason: String| Error::SigningKey {
        path: path.to_path_buf(),
        reason,
    };
    let mut text = zeroize::Zeroizing::new(Vec::new());
    std::fs::File::open(path)
        .at(path)?
        .take(MAX_KEY_BYTES + 1)
        .read_to_end(&mut text)
        .at(path)?;
    if text.len() as u64 > MAX_KEY_BYTES {
        return Err(bad(format!("larger than {MAX_KEY_BYTES} bytes")));
    }
    let key = PrivateKey::from_openssh(&*text).map_err(|e| match e {
        ssh_key::Error::AlgorithmUnknown | ssh_key::Error::AlgorithmUnsupported { .. } => {
            bad(ED25519_ONLY.into())
        }
        e => bad(format!(
            "not an OpenSSH private key ({e}); give the private key file, e.g. \
             ~/.ssh/id_ed25519, not the .pub"
        )),
    })?;
    if key.is_encrypted() {
        return Err(bad(
            "it is passphrase-protected; visitrec signs only with an unencrypted key (keep \
             one for checkpoints, readable only by you)"
                .into(),
        ));
    }
    if key.algorithm() != Algorithm::Ed25519 {
        return Err(bad(format!("it is {}; {ED25519_ONLY}", key.algorithm())));
    }
    Ok(key)
}

/// The OpenSSH text of a public key without its comment (which may name a user or host).
fn key_text(key: &PublicKey) -> String {
    let mut key = key.clone();
    key.set_comment("");
    key.to_openssh().expect("a parsed key encodes")
}

/// What [`sign`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The checkpoint of the current head.
    pub checkpoint: Checkpoint,
    /// True when this key had already signed this head: nothing was written.
    pub already_signed: bool,
}

/// Signs the head of the archive's audit log with `key` and appends the checkpoint to
/// `checkpoints.jsonl` (one transaction). Refuses an empty log, a broken chain, and an
/// audit log or checkpoint file that does not match the tag manifest.
pub fn sign(writer: &mut Writer, key: &PrivateKey) -> Result<Outcome> {
    let archive = writer.archive();
    let root = archive.root().to_path_buf();
    let log = anchor::vouched_log(archive)?;
    let head = anchor::head_of_text(&log);
    if head.seq == 0 {
        return Err(Error::BadFile {
            path: root.join(AUDIT_LOG),
            reason: "the audit log is empty: there is no history to sign yet".into(),
        });
    }
    let existing = committed_checkpoints(writer)?;
    let public = key_text(key.public_key());
    if let Some(last) = existing.1.last()
        && last.seq == head.seq
        && last.head == head.head
        && last.key == public
    {
        return Ok(Outcome {
            checkpoint: last.clone(),
            already_signed: true,
        });
    }
    let at = crate::time::now();
    let msg = message(head.seq, &head.head, &at);
    let sig = key
        .sign(NAMESPACE, HashAlg::Sha512, msg.as_bytes())
        .map_err(|e| Error::SigningKey {
            path: root.join(CHECKPOINTS),
            reason: format!("signing failed: {e}"),
        })?;
    let checkpoint = Checkpoint {
        seq: head.seq,
        head: head.head,
        at,
        key: public,
        fingerprint: key.public_key().fingerprint(HashAlg::Sha256).to_string(),
        signature: sig.to_pem(LineEnding::LF).expect("a signature encodes"),
    };
    let mut text = existing.0;
    text.push_str(&serde_json::to_string(&checkpoint).expect("a checkpoint serializes"));
    text.push('\n');
    let mut tx = writer.begin();
    tx.put_bytes(CHECKPOINTS, text.as_bytes())?;
    tx.commit()?;
    Ok(Outcome {
        checkpoint,
        already_signed: false,
    })
}

/// The committed `checkpoints.jsonl` (text and entries), refused when it does not match the
/// tag manifest or has a line that is not a checkpoint: nothing is signed onto a damaged one.
fn committed_checkpoints(writer: &Writer) -> Result<(String, Vec<Checkpoint>)> {
    let archive = writer.archive();
    let path = archive.root().join(CHECKPOINTS);
    let Some(text) = archive.read_text(CHECKPOINTS)? else {
        return Ok((String::new(), Vec::new()));
    };
    let listed = archive.strict_manifest(TAG_MANIFEST)?;
    if listed.entries.get(CHECKPOINTS) != Some(&hash::hash_bytes(text.as_bytes()).sha256) {
        return Err(Error::BadFile {
            path,
            reason: "does not match tagmanifest-sha256.txt (changed outside visitrec); run \
                     `visitrec verify`"
                .into(),
        });
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        out.push(serde_json::from_str(line).map_err(|e| Error::BadFile {
            path: path.clone(),
            reason: format!(
                "line {}: not a checkpoint ({e}); run `visitrec verify`",
                i + 1
            ),
        })?);
    }
    Ok((text, out))
}

/// One line of an allowed-signers file.
#[derive(Debug, Clone)]
struct AllowedSigner {
    principals: String,
    namespaces: Option<String>,
    key: PublicKey,
}

/// The keys trusted to sign checkpoints, from a file in ssh-keygen's allowed-signers format
/// (`principals [options] keytype base64 [comment]`; see ssh-keygen(1), ALLOWED SIGNERS).
/// Of the options, `namespaces="…"` is supported; a line with another option is refused
/// rather than half-understood.
#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    signers: Vec<AllowedSigner>,
}

impl AllowedSigners {
    /// Reads and parses `path`; a malformed line is an error naming the file and line.
    pub fn read(path: &Path) -> Result<AllowedSigners> {
        let text = std::fs::read_to_string(path).at(path)?;
        Self::parse(&text).map_err(|(line, reason)| Error::BadFile {
            path: path.to_path_buf(),
            reason: format!("line {line}: {reason}"),
        })
    }

    /// Parses the file's text; the error is (1-based line, reason).
    pub fn parse(text: &str) -> std::result::Result<AllowedSigners, (usize, String)> {
        let mut signers = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            signers.push(parse_signer(line).map_err(|e| (i + 1, e))?);
        }
        Ok(AllowedSigners { signers })
    }

    /// The principals of the first line allowing `key` to sign in [`NAMESPACE`], if any.
    fn principals_for(&self, key: &PublicKey) -> Option<&str> {
        self.signers
            .iter()
            .find(|s| {
                s.key.key_data() == key.key_data()
                    && s.namespaces
                        .as_deref()
                        .is_none_or(|list| pattern_list_matches(list, NAMESPACE))
            })
            .map(|s| s.principals.as_str())
    }
}

/// Splits a line into fields at unquoted whitespace (`"…"` may hold spaces and commas).
fn fields(line: &str) -> std::result::Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut start = None;
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => {
                quoted = !quoted;
                start.get_or_insert(i);
            }
            c if c.is_whitespace() && !quoted => {
                if let Some(s) = start.take() {
                    out.push(&line[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if quoted {
        return Err("a quote is not closed".into());
    }
    if let Some(s) = start {
        out.push(&line[s..]);
    }
    Ok(out)
}

/// Whether a field is an SSH key type name (rather than options).
fn is_key_type(field: &str) -> bool {
    ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"]
        .iter()
        .any(|p| field.starts_with(p))
}

fn parse_signer(line: &str) -> std::result::Result<AllowedSigner, String> {
    let f = fields(line)?;
    let principals = f.first().copied().unwrap_or_default().trim_matches('"');
    if principals.is_empty() {
        return Err("no principals".into());
    }
    if is_key_type(principals) {
        return Err(
            "starts with a key type: a line names its principals first (e.g. alice@example.org \
             ssh-ed25519 AAAA…)"
                .into(),
        );
    }
    let (options, rest) = match f.get(1) {
        Some(k) if is_key_type(k) => (None, &f[1..]),
        Some(o) => (Some(*o), &f[2..]),
        None => return Err("no key after the principals".into()),
    };
    let mut namespaces = None;
    if let Some(options) = options {
        for opt in split_options(options)? {
            let (name, value) = match opt.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (opt, None),
            };
            match (name.to_ascii_lowercase().as_str(), value) {
                ("namespaces", Some(v)) => {
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .ok_or("namespaces=\"…\" must be quoted")?;
                    namespaces = Some(v.to_string());
                }
                (n @ ("cert-authority" | "valid-after" | "valid-before"), _) => {
                    return Err(format!(
                        "option {n} is not supported by visitrec (plain keys only)"
                    ));
                }
                _ => return Err(format!("unknown option {opt:?}")),
            }
        }
    }
    let (kind, b64) = match rest {
        [kind, b64, ..] => (*kind, *b64),
        _ => return Err("expected a key type and a base64 key".into()),
    };
    if !is_key_type(kind) {
        return Err(format!("{kind:?} is not an SSH key type"));
    }
    let key = PublicKey::from_openssh(&format!("{kind} {b64}"))
        .map_err(|e| format!("not a valid {kind} public key ({e})"))?;
    Ok(AllowedSigner {
        principals: principals.to_string(),
        namespaces,
        key,
    })
}

/// Splits `a,b="x,y",c` at commas outside quotes.
fn split_options(s: &str) -> std::result::Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    if out.iter().any(|o| o.is_empty()) {
        return Err(format!("empty option in {s:?}"));
    }
    Ok(out)
}

/// ssh's pattern lists: comma-separated, `*` and `?` wildcards, `!` negates (a negated match
/// refuses whatever else matches).
fn pattern_list_matches(list: &str, name: &str) -> bool {
    let mut matched = false;
    for pat in list.split(',') {
        let (negated, pat) = match pat.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pat),
        };
        if glob(pat.as_bytes(), name.as_bytes()) {
            if negated {
                return false;
            }
            matched = true;
        }
    }
    matched
}

fn glob(pat: &[u8], s: &[u8]) -> bool {
    match (pat.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&pat[1..], s) || (!s.is_empty() && glob(pat, &s[1..])),
        (Some(b'?'), Some(_)) => glob(&pat[1..], &s[1..]),
        (Some(p), Some(c)) if p == c => glob(&pat[1..], &s[1..]),
        _ => false,
    }
}

/// What checking the checkpoints found.
#[derive(Debug, Default)]
pub struct Findings {
    /// Each bad checkpoint: what is wrong, naming its line of `checkpoints.jsonl`.
    pub problems: Vec<String>,
    /// The highest audit line covered by a good checkpoint (signed by an allowed signer,
    /// when allowed signers were given).
    pub signed_through: Option<u64>,
    /// How many good checkpoints there are.
    pub good: usize,
}

/// Checks every checkpoint in `checkpoints` (the text of `checkpoints.jsonl`) against the
/// audit log `log`: the signature must verify with the key it names, in [`NAMESPACE`], and
/// the line it signs must still hash to the signed head (so the chain up to it is unchanged).
/// With `allowed`, the key must also be allowed to sign in [`NAMESPACE`].
pub fn check(log: &str, checkpoints: &str, allowed: Option<&AllowedSigners>) -> Findings {
    let mut out = Findings::default();
    if !checkpoints.is_empty() && !checkpoints.ends_with('\n') {
        out.problems.push(format!(
            "line {}: incomplete (no newline)",
            checkpoints.lines().count()
        ));
    }
    for (i, line) in checkpoints.lines().enumerate() {
        match check_one(log, line, allowed) {
            Ok(seq) => {
                out.good += 1;
                out.signed_through = out.signed_through.max(Some(seq));
            }
            Err(why) => out.problems.push(format!("line {}: {why}", i + 1)),
        }
    }
    out
}

fn check_one(
    log: &str,
    line: &str,
    allowed: Option<&AllowedSigners>,
) -> std::result::Result<u64, String> {
    let cp: Checkpoint =
        serde_json::from_str(line).map_err(|e| format!("not a checkpoint: {e}"))?;
    let anchor: Anchor = format!("{}:{}", cp.seq, cp.head)
        .parse()
        .map_err(|e| format!("seq/head: {e}"))?;
    if cp.seq == 0 {
        return Err("seq 0 signs nothing".into());
    }
    if jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M:%SZ", &cp.at).is_err() {
        return Err(format!("at {:?} is not YYYY-MM-DDTHH:MM:SSZ", cp.at));
    }
    let key = PublicKey::from_openssh(&cp.key).map_err(|e| format!("key: {e}"))?;
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    if cp.fingerprint != fingerprint {
        return Err(format!(
            "fingerprint {} is not that of its key ({fingerprint})",
            cp.fingerprint
        ));
    }
    let sig = SshSig::from_pem(&cp.signature).map_err(|e| format!("signature: {e}"))?;
    if sig.namespace() != NAMESPACE {
        return Err(format!(
            "signed in namespace {:?}, not {NAMESPACE}",
            sig.namespace()
        ));
    }
    key.verify(NAMESPACE, cp.message().as_bytes(), &sig)
        .map_err(|e| {
            format!(
                "the signature by {fingerprint} does not verify ({e}): the line was edited or \
                 the signature forged"
            )
        })?;
    if let Some(allowed) = allowed
        && allowed.principals_for(&key).is_none()
    {
        return Err(format!(
            "signed by {fingerprint}, which the allowed signers do not allow for {NAMESPACE}"
        ));
    }
    if let Some(why) = anchor::check(log, &anchor) {
        return Err(format!(
            "signed seq {}, but the audit log changed since: {why}",
            cp.seq
        ));
    }
    Ok(cp.seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(seed: u8) -> PrivateKey {
        PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[seed; 32]))
    }

    fn allowed_line(principal: &str, opts: &str, k: &PrivateKey) -> String {
        format!("{principal} {opts} {}", key_text(k.public_key()))
    }

    fn log(n: usize) -> String {
        let pending: Vec<crate::audit::Pending> = (0..n)
            .map(|_| crate::audit::Pending {
                op: "tag".into(),
                ids: vec![],
                details: serde_json::Value::Null,
            })
            .collect();
        crate::audit::append("", &pending, "alice", "visitrec/test")
    }

    fn checkpoint_of(log: &str, k: &PrivateKey) -> Checkpoint {
        let head = anchor::head_of_text(log);
        let at = "2026-01-02T03:04:05Z".to_string();
        let sig = k
            .sign(
                NAMESPACE,
                HashAlg::Sha512,
                message(head.seq, &head.head, &at).as_bytes(),
            )
            .unwrap();
        Checkpoint {
            seq: head.seq,
            head: head.head,
            at,
            key: key_text(k.public_key()),
            fingerprint: k.public_key().fingerprint(HashAlg::Sha256).to_string(),
            signature: sig.to_pem(LineEnding::LF).unwrap(),
        }
    }

    fn lines(cps: &[Checkpoint]) -> String {
        cps.iter()
            .map(|c| serde_json::to_string(c).unwrap() + "\n")
            .collect()
    }

    #[test]
    fn good_checkpoints_pass_and_each_tamper_is_named() {
        let (alice, mallory) = (key(1), key(2));
        let allowed = AllowedSigners::parse(&allowed_line("alice", "", &alice)).unwrap();
        let text = log(3);
        let good = checkpoint_of(&text, &alice);
        let f = check(&text, &lines(std::slice::from_ref(&good)), Some(&allowed));
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!((f.signed_through, f.good), (Some(3), 1));

        let mut edited = good.clone();
        edited.seq = 2;
        let mut moved = good.clone();
        moved.at = "2030-01-02T03:04:05Z".into();
        let mut other_key = good.clone();
        other_key.key = key_text(mallory.public_key());
        let cases = [
            (edited, "does not verify"),
            (moved, "does not verify"),
            (other_key, "fingerprint"),
            (checkpoint_of(&text, &mallory), "do not allow"),
        ];
        for (cp, want) in cases {
            let f = check(&text, &lines(&[cp]), Some(&allowed));
            assert!(
                f.problems.len() == 1 && f.problems[0].contains(want),
                "{want}: {:?}",
                f.problems
            );
            assert_eq!(f.signed_through, None);
        }
        // Without allowed signers, a self-consistent checkpoint by any key is good.
        assert!(
            check(&text, &lines(&[checkpoint_of(&text, &mallory)]), None)
                .problems
                .is_empty()
        );
        // A rewritten log breaks the checkpoint, even though it is a valid chain.
        let rebuilt = text.replace("alice", "mallory");
        let f = check(&rebuilt, &lines(&[good]), Some(&allowed));
        assert!(f.problems[0].contains("changed since"), "{:?}", f.problems);
        assert!(check(&text, "{}", None).problems[0].contains("no newline"));
    }

    #[test]
    fn allowed_signers_format() {
        let k = key(1);
        let kt = key_text(k.public_key());
        let text = format!(
            "# trusted\n\nalice@example.org,bob {kt} a comment\n\"carol dee\" namespaces=\"git,visitrec-*\" {kt}\n"
        );
        let a = AllowedSigners::parse(&text).unwrap();
        assert_eq!(a.signers.len(), 2);
        assert_eq!(
            a.principals_for(k.public_key()),
            Some("alice@example.org,bob")
        );
        let only_git = AllowedSigners::parse(&format!("x namespaces=\"git\" {kt}")).unwrap();
        assert_eq!(only_git.principals_for(k.public_key()), None);
        let negated =
            AllowedSigners::parse(&format!("x namespaces=\"*,!visitrec-audit\" {kt}")).unwrap();
        assert_eq!(negated.principals_for(k.public_key()), None);
        for (bad, want) in [
            (format!("alice {kt}\n{kt}"), (2, "principals first")),
            ("alice".to_string(), (1, "no key")),
            (format!("alice cert-authority {kt}"), (1, "not supported")),
            (
                format!("alice valid-after=\"20200101\" {kt}"),
                (1, "not supported"),
            ),
            (format!("alice frobnicate {kt}"), (1, "unknown option")),
            (format!("alice namespaces=git {kt}"), (1, "quoted")),
            (format!("alice namespaces=\"git {kt}"), (1, "quote")),
            (
                "alice ssh-ed25519 AAAAnotbase64!".to_string(),
                (1, "not a valid"),
            ),
            (
                format!("alice ssh-rsa {}", &kt["ssh-ed25519 ".len()..]),
                (1, "not a valid"),
            ),
        ] {
            let (line, reason) = AllowedSigners::parse(&bad).unwrap_err();
            assert!(
                line == want.0 && reason.contains(want.1),
                "{bad}: {line} {reason}"
            );
        }
    }

    #[test]
    fn patterns_match_like_ssh() {
        assert!(pattern_list_matches("visitrec-audit", NAMESPACE));
        assert!(pattern_list_matches("git,visitrec-*", NAMESPACE));
        assert!(pattern_list_matches("v?sitrec-audi?", NAMESPACE));
        assert!(!pattern_list_matches("git", NAMESPACE));
        assert!(!pattern_list_matches("*,!visitrec-*", NAMESPACE));
        assert!(!pattern_list_matches("visitrec", NAMESPACE));
    }

    proptest! {
        #[test]
        fn allowed_signers_parsing_never_panics(s in "\\PC{0,200}") {
            let _ = AllowedSigners::parse(&s);
        }

        #[test]
        fn checkpoint_checking_never_panics(s in "\\PC{0,300}") {
            let _ = check(&log(2), &s, None);
        }
    }
}
