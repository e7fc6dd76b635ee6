//! The `visitrec` command line: parses arguments, calls the library, prints.

mod commands;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use age::secrecy::SecretString;
use anyhow::Context;
use clap::Parser;
use commands::progress::Bar;
use visitrec::annotate::{ConsentChange, TagEdit};
use visitrec::archive::Archive;
use visitrec::cli::{Cli, Command};
use visitrec::consent::{ConsentState, Grant, Scope, Withdrawal};
use visitrec::crypto::{Identities, Recipients};
use visitrec::exit::Exit;
use visitrec::export::ExportOptions;
use visitrec::ingest::{IngestOptions, IngestReport};
use visitrec::pipeline::{NormalizeReport, SegmentReport};
use visitrec::record::Recording;
use visitrec::sanitize::term;
use visitrec::verify::{Report, VerifyOptions};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => ExitCode::from(code.code()),
        Err(e) => {
            // Our errors already say what went wrong with which file; their I/O cause
            // would only repeat it.
            match e.downcast_ref::<visitrec::Error>() {
                // Not a failure: the user stopped it, and is told what became of the work.
                Some(err @ visitrec::Error::Stopped { .. }) => eprintln!("visitrec: {err}"),
                Some(err) => eprintln!("visitrec: error: {}", term(&err.to_string())),
                None => eprintln!("visitrec: error: {}", term(&format!("{e:#}"))),
            }
            let code = e
                .downcast_ref::<visitrec::Error>()
                .map_or(Exit::Fatal, visitrec::Error::exit_code);
            ExitCode::from(code.code())
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<Exit> {
    match &cli.command {
        Command::Init { archive, org } => {
            visitrec::tags::check_value("--org", org)?;
            visitrec::archive::Archive::init(archive, org)?;
            if !cli.quiet {
                println!("Created archive {} for {org}", archive.display());
            }
            Ok(Exit::Ok)
        }
        Command::Ingest {
            archive,
            inputs,
            participant,
            tags,
            marks,
            consent,
            normalize,
            segment,
            norm,
            seg,
            limits,
            json,
        } => {
            let mut opts = IngestOptions {
                max_duration: limits.max_duration,
                ..IngestOptions::default()
            };
            if let Some(p) = participant {
                visitrec::tags::check_value("--participant", p)?;
                opts.participant = Some(p.clone());
            }
            for t in tags {
                let (k, v) = visitrec::tags::parse_tag(t)?;
                opts.tags.insert(k, v);
            }
            if let Some(path) = marks {
                opts.marks = visitrec::annotate::read_marks_file(path)?;
            }
            opts.consent = consent.grant()?;
            opts.normalize = normalize.then(|| norm.settings());
            opts.segment = segment.then(|| (seg.params(), seg.at_marks));
            let mut writer = open_writer(archive, cli)?;
            let bar = Bar::new(cli.quiet);
            let report = visitrec::ingest::ingest(&mut writer, inputs, &opts, &bar)?;
            bar.finish();
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_ingest(&report, cli);
                if let Some(n) = &report.normalize {
                    print_normalize(n, cli);
                }
                if let Some(s) = &report.segment {
                    print_segment(s, cli);
                }
            }
            Ok(report.exit_code())
        }
        Command::Normalize {
            archive,
            ids,
            all,
            norm,
            limits,
            json,
        } => {
            let mut writer = open_writer(archive, cli)?;
            let ids = visitrec::pipeline::select(writer.archive(), ids, *all)?;
            let bar = Bar::new(cli.quiet);
            let report = visitrec::pipeline::normalize(
                &mut writer,
                &ids,
                &norm.settings(),
                limits.max_duration,
                &bar,
            )?;
            bar.finish();
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_normalize(&report, cli);
            }
            Ok(report.exit_code())
        }
        Command::Segment {
            archive,
            ids,
            all,
            seg,
            limits,
            json,
        } => {
            let mut writer = open_writer(archive, cli)?;
            let ids = visitrec::pipeline::select(writer.archive(), ids, *all)?;
            let bar = Bar::new(cli.quiet);
            let report = visitrec::pipeline::segment(
                &mut writer,
                &ids,
                &seg.params(),
                seg.at_marks,
                limits.max_duration,
                &bar,
            )?;
            bar.finish();
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_segment(&report, cli);
            }
            Ok(report.exit_code())
        }
        Command::List {
            archive,
            consent,
            at,
            json,
        } => {
            let day = day_of(at)?;
            let scope: Option<Scope> = consent.as_deref().map(str::parse).transpose()?;
            let mut rows = Vec::new();
            for (r, state) in visitrec::catalog::with_consent(archive, None, day)? {
                if scope.is_none_or(|s| state.covers(s)) {
                    rows.push((r, state));
                }
            }
            if *json {
                let docs: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|(r, st)| {
                        let mut v = serde_json::to_value(r).expect("recording serializes");
                        v["consent_state"] = serde_json::to_value(st).expect("state serializes");
                        v
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&docs)?);
            } else {
                for (r, st) in &rows {
                    println!("{}", list_line(r, st));
                }
            }
            Ok(Exit::Ok)
        }
        Command::Tag {
            archive,
            id,
            set,
            unset,
            mark,
            unmark,
            json,
        } => {
            let edit = TagEdit {
                set: set
                    .iter()
                    .map(|t| visitrec::tags::parse_tag(t))
                    .collect::<Result<_, _>>()?,
                unset: unset.clone(),
                mark: mark
                    .iter()
                    .map(|m| visitrec::annotate::parse_mark(m))
                    .collect::<Result<_, _>>()?,
                unmark: unmark
                    .iter()
                    .map(|t| visitrec::tags::parse_time(t))
                    .collect::<Result<_, _>>()?,
            };
            let mut writer = open_writer(archive, cli)?;
            let id = writer.archive().resolve_id(id)?;
            let out = visitrec::annotate::tag(&mut writer, &id, &edit)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else if !cli.quiet {
                println!(
                    "{} {}",
                    out.id,
                    if out.changed { "updated" } else { "unchanged" }
                );
                for (k, v) in &out.tags {
                    println!("  tag   {}={}", term(k), term(v));
                }
                for m in &out.marks {
                    println!(
                        "  mark  {}  {}",
                        visitrec::tags::format_time(m.at_s),
                        term(&m.label)
                    );
                }
            }
            Ok(Exit::Ok)
        }
        Command::Consent {
            archive,
            id,
            grant,
            withdraw,
            scope,
            by,
            method,
            witness,
            date,
            expires,
            note,
            at,
            json,
        } => {
            let date = date
                .as_deref()
                .map(|d| visitrec::consent::parse_date("--date", d))
                .transpose()?;
            let scopes = scope
                .as_deref()
                .map(visitrec::consent::parse_scopes)
                .transpose()?
                .unwrap_or_default();
            let change = if *grant {
                Some(ConsentChange::Grant(Grant {
                    scopes,
                    by: by
                        .clone()
                        .ok_or_else(|| anyhow::anyhow!("--grant needs --by WHO"))?,
                    method: method.clone(),
                    witness: witness.clone(),
                    date,
                    expires: expires
                        .as_deref()
                        .map(|d| visitrec::consent::parse_date("--expires", d))
                        .transpose()?,
                    note: note.clone(),
                }))
            } else if *withdraw {
                if expires.is_some() || method.is_some() || witness.is_some() {
                    anyhow::bail!("--expires, --method and --witness go with --grant");
                }
                Some(ConsentChange::Withdraw(Withdrawal {
                    scopes,
                    by: by.clone(),
                    date,
                    note: note.clone(),
                }))
            } else {
                if scope.is_some() || by.is_some() || date.is_some() || note.is_some() {
                    anyhow::bail!("say --grant or --withdraw to record consent");
                }
                None
            };
            match change {
                Some(change) => {
                    let mut writer = open_writer(archive, cli)?;
                    let id = writer.archive().resolve_id(id)?;
                    let out = visitrec::annotate::consent(&mut writer, &id, &change)?;
                    if *json {
                        println!("{}", serde_json::to_string_pretty(&out)?);
                    } else if !cli.quiet {
                        println!("{}: consent {}", out.id, out.state.summary());
                    }
                }
                None => {
                    let (rec, state) =
                        visitrec::catalog::with_consent(archive, Some(id), day_of(at)?)?
                            .pop()
                            .expect("one recording");
                    if *json {
                        let doc = serde_json::json!({
                            "id": rec.id, "state": state, "history": rec.consent,
                        });
                        println!("{}", serde_json::to_string_pretty(&doc)?);
                    } else {
                        print_consent(&rec, &state);
                    }
                }
            }
            Ok(Exit::Ok)
        }
        Command::Encrypt {
            archive,
            ids,
            all,
            recipients,
            recipients_files,
            passphrase,
            purpose,
            include,
            out,
            json,
        } => {
            let to = if *passphrase {
                Recipients::Passphrase(read_passphrase(true)?)
            } else {
                let mut keys = recipients
                    .iter()
                    .map(|r| visitrec::crypto::parse_recipient(r))
                    .collect::<Result<Vec<_>, _>>()?;
                for f in recipients_files {
                    keys.extend(visitrec::crypto::read_recipients_file(f)?);
                }
                Recipients::Keys(keys)
            };
            let opts = ExportOptions {
                purpose: purpose.parse()?,
                include: include
                    .as_deref()
                    .map(|l| l.split(',').map(str::parse).collect::<Result<Vec<_>, _>>())
                    .transpose()?,
                out: out.clone(),
            };
            let mut writer = open_writer(archive, cli)?;
            let ids = visitrec::pipeline::select(writer.archive(), ids, *all)?;
            for removed in visitrec::export::remove_stale_staging(out)? {
                eprintln!("visitrec: {removed}");
            }
            let report = visitrec::export::encrypt(&mut writer, &ids, &to, &opts)?;
            for w in &report.warnings {
                eprintln!("warning: {}", term(w));
            }
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if !cli.quiet {
                let files: usize = report.recordings.iter().map(|r| r.files.len()).sum();
                println!(
                    "encrypted {} recording(s), {files} file(s), {:.1} MB, for {} to {}",
                    report.recordings.len(),
                    report.plaintext_bytes as f64 / 1e6,
                    opts.purpose,
                    report.out
                );
                println!(
                    "send the folder; the recipient checks it with `visitrec verify` (no key needed)"
                );
                println!(
                    "and opens each file with `age -d -i KEY FILE.age`, or all with `visitrec decrypt`"
                );
            }
            Ok(Exit::Ok)
        }
        Command::Decrypt {
            export,
            identities,
            passphrase,
            out,
            json,
        } => {
            let ids = identities_from(identities, *passphrase)?
                .ok_or_else(|| anyhow::anyhow!("give --identity FILE or --passphrase"))?;
            for removed in visitrec::export::remove_stale_staging(out)? {
                eprintln!("visitrec: {removed}");
            }
            let report = visitrec::export::decrypt(export, &ids, out)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if !cli.quiet {
                println!(
                    "decrypted {} file(s), {:.1} MB, into {} (every file matches the export's checksums)",
                    report.files,
                    report.bytes as f64 / 1e6,
                    report.out
                );
            }
            Ok(Exit::Ok)
        }
        Command::Log {
            archive,
            head: true,
            json,
            ..
        } => {
            let head = visitrec::anchor::head(archive)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&head)?);
            } else {
                println!("{head}");
            }
            Ok(Exit::Ok)
        }
        Command::Log {
            archive, id, json, ..
        } => {
            let a = Archive::open(archive)?;
            let id = id.as_deref().map(|p| a.resolve_id(p)).transpose()?;
            let text = a.read_text(visitrec::audit::AUDIT_LOG)?.unwrap_or_default();
            let entries: Vec<_> = visitrec::audit::entries(&text)
                .into_iter()
                .filter(|e| id.as_ref().is_none_or(|i| e.ids.contains(i)))
                .collect();
            if *json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                for e in &entries {
                    let ids = if e.ids.len() > 3 {
                        format!("{} and {} more", e.ids[..3].join(" "), e.ids.len() - 3)
                    } else {
                        e.ids.join(" ")
                    };
                    // The declared actor, and the OS account when it says otherwise.
                    let who = match &e.user {
                        Some(u) if *u != e.actor => format!("{} ({u})", e.actor),
                        _ => e.actor.clone(),
                    };
                    println!(
                        "{:>4}  {}  {:<14} {:<12} {}",
                        e.seq,
                        term(&e.at),
                        term(&e.op),
                        term(&who),
                        term(&ids)
                    );
                }
            }
            Ok(Exit::Ok)
        }
        Command::Show { archive, id, json } => {
            let r = visitrec::catalog::show(archive, id)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_recording(&r);
            }
            Ok(Exit::Ok)
        }
        Command::Verify {
            archive,
            fast,
            require_consent,
            identities,
            passphrase,
            anchors,
            anchors_files,
            allowed_signers,
            json,
        } => {
            let mut anchor_list = anchors
                .iter()
                .map(|a| visitrec::anchor::parse_flag(a))
                .collect::<Result<Vec<_>, _>>()?;
            for f in anchors_files {
                anchor_list.extend(visitrec::anchor::read_file(f)?);
            }
            let opts = VerifyOptions {
                fast: *fast,
                require_consent: *require_consent,
                identities: identities_from(identities, *passphrase)?,
                anchors: anchor_list,
                allowed_signers: allowed_signers
                    .as_deref()
                    .map(visitrec::checkpoint::AllowedSigners::read)
                    .transpose()?,
            };
            let report = visitrec::verify::verify(archive, &opts)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_verify(archive, &report, cli.quiet);
            }
            Ok(report.exit_code())
        }
        Command::Checkpoint { archive, key, json } => {
            let mut writer = open_writer(archive, cli)?;
            let key = visitrec::checkpoint::read_key(key)?;
            let out = visitrec::checkpoint::sign(&mut writer, &key)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else if !cli.quiet {
                let c = &out.checkpoint;
                let verb = if out.already_signed {
                    "already signed"
                } else {
                    "signed"
                };
                println!(
                    "{verb} audit line {} (head {}) with {} into {}",
                    c.seq,
                    c.head,
                    c.fingerprint,
                    visitrec::checkpoint::CHECKPOINTS
                );
            }
            Ok(Exit::Ok)
        }
        Command::Demo { dir } => {
            let dir = match dir {
                Some(d) => d.clone(),
                None => tempdir_path().context("cannot choose a demo folder")?,
            };
            let bar = Bar::new(cli.quiet);
            let run = visitrec::demo::run(&dir, &bar)?;
            bar.finish();
            print_demo(&run, cli);
            Ok(run
                .verify
                .exit_code()
                .max(run.ingest.exit_code())
                .max(run.export_verify.exit_code()))
        }
    }
}

/// A passphrase from `VISITREC_PASSPHRASE`, else from the terminal (asked twice when
/// `confirm`); never from the command line.
fn read_passphrase(confirm: bool) -> anyhow::Result<SecretString> {
    if let Ok(p) = std::env::var("VISITREC_PASSPHRASE") {
        anyhow::ensure!(!p.is_empty(), "VISITREC_PASSPHRASE is empty");
        return Ok(SecretString::from(p));
    }
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "no passphrase: set VISITREC_PASSPHRASE or run from a terminal"
    );
    let p = rpassword::prompt_password("passphrase: ")?;
    anyhow::ensure!(!p.is_empty(), "empty passphrase");
    if confirm {
        let again = zeroize::Zeroizing::new(rpassword::prompt_password("again: ")?);
        anyhow::ensure!(*again == p, "the passphrases differ");
    }
    Ok(SecretString::from(p))
}

/// The day consent is judged on: `--at DATE`, else `None` (the library's judging day).
fn day_of(at: &Option<String>) -> visitrec::Result<Option<jiff::civil::Date>> {
    at.as_deref()
        .map(|d| visitrec::consent::parse_date("--at", d))
        .transpose()
}

/// Identities from files, or a passphrase; `None` when neither is given.
fn identities_from(files: &[PathBuf], passphrase: bool) -> anyhow::Result<Option<Identities>> {
    Ok(if passphrase {
        Some(Identities::passphrase(read_passphrase(false)?))
    } else if files.is_empty() {
        None
    } else {
        Some(Identities::from_files(files)?)
    })
}

/// Takes the archive's write lock, after printing what its keeper should know.
fn open_writer(archive: &Path, cli: &Cli) -> anyhow::Result<visitrec::archive::Writer> {
    let writer = Archive::open(archive)?.writer(&actor(cli)?)?;
    for w in writer.warnings() {
        eprintln!("warning: {}", term(w));
    }
    Ok(writer)
}

/// The audit actor: `--actor`, else `$USER`; validated like any free-text value.
fn actor(cli: &Cli) -> anyhow::Result<String> {
    let a = visitrec::audit::actor(cli.actor.as_deref());
    visitrec::tags::check_value("--actor", &a)?;
    Ok(a)
}

/// A fresh, not-yet-existing folder under the system temp dir.
fn tempdir_path() -> anyhow::Result<PathBuf> {
    let stamp = jiff::Timestamp::now().as_millisecond();
    Ok(std::env::temp_dir().join(format!("visitrec-demo-{}-{stamp}", std::process::id())))
}

fn print_ingest(r: &IngestReport, cli: &Cli) {
    if !cli.quiet {
        for i in &r.ingested {
            println!(
                "ingested  {}  {}  ({:.1} s)",
                i.id,
                term(&i.path),
                i.duration_s
            );
        }
        for d in &r.duplicates {
            println!("present   {}  {}", d.id, term(&d.path));
        }
    }
    for x in &r.rejected {
        eprintln!("rejected  {}: {}", term(&x.path), term(&x.reason));
    }
    if cli.verbose {
        for x in &r.skipped {
            eprintln!("skipped   {}: {}", term(&x.path), term(&x.reason));
        }
    }
    if !cli.quiet {
        println!(
            "{} ingested, {} already present, {} rejected, {} skipped{}",
            r.ingested.len(),
            r.duplicates.len(),
            r.rejected.len(),
            r.skipped.len(),
            if r.skipped.is_empty() || cli.verbose {
                ""
            } else {
                " (-v lists them)"
            }
        );
    }
}

fn print_normalize(r: &NormalizeReport, cli: &Cli) {
    if !cli.quiet {
        for item in &r.normalized {
            let n = &item.normalized;
            let after = n
                .loudness_after_lufs
                .map_or("silent".to_string(), |l| format!("{l:.1} LUFS"));
            let peak = n
                .true_peak_after_dbtp
                .map_or(String::new(), |p| format!(", true peak {p:.1} dBTP"));
            println!(
                "normalized {}  {after}{peak}, gain {:+.1} dB",
                item.id, n.gain_db
            );
            if let Some(note) = &n.note {
                println!("           {}", term(note));
            }
        }
        for id in &r.segments_cleared {
            println!("           {id}: earlier segments removed; run `visitrec segment` again");
        }
    }
    for f in &r.failed {
        eprintln!("failed     {}: {}", f.id, term(&f.reason));
    }
    if !cli.quiet {
        println!(
            "{} normalized, {} already up to date, {} failed",
            r.normalized.len(),
            r.unchanged.len(),
            r.failed.len()
        );
    }
}

fn print_segment(r: &SegmentReport, cli: &Cli) {
    if !cli.quiet {
        for item in &r.segmented {
            println!("segmented  {}  {} segment(s)", item.id, item.segments.len());
            if cli.verbose {
                for s in &item.segments {
                    let label = s
                        .label
                        .as_deref()
                        .map_or(String::new(), |l| format!("  [{}]", term(l)));
                    println!(
                        "           {:03}  {:.3}-{:.3} s{label}",
                        s.index, s.start_s, s.end_s
                    );
                }
            }
        }
    }
    for f in &r.failed {
        eprintln!("failed     {}: {}", f.id, term(&f.reason));
    }
    if !cli.quiet {
        println!(
            "{} segmented ({} normalized first), {} already up to date, {} failed",
            r.segmented.len(),
            r.normalized_first.len(),
            r.unchanged.len(),
            r.failed.len()
        );
    }
}

fn fmt_duration(s: f64) -> String {
    let total = s.round() as u64;
    let (h, m, sec) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{sec:02}")
    } else {
        format!("{m:02}:{sec:02}")
    }
}

fn list_line(r: &Recording, consent: &ConsentState) -> String {
    let tags: Vec<String> = r
        .tags
        .iter()
        .map(|(k, v)| format!("{}={}", term(k), term(v)))
        .collect();
    format!(
        "{}  {}  {:>8}  {:<10}  {:<28}  {}",
        r.id,
        term(&r.source.recorded_at),
        fmt_duration(r.source.duration_s),
        term(r.participant.as_deref().unwrap_or("-")),
        consent.summary(),
        tags.join(" ")
    )
}

fn print_consent(r: &Recording, st: &ConsentState) {
    println!(
        "{}: consent {} (as of {}, UTC)",
        r.id,
        st.summary(),
        st.as_of
    );
    for (scope, s) in &st.scopes {
        let entry = s.entry.map_or(String::new(), |n| format!(" (entry {n})"));
        let line = if s.permitted {
            let until = s.until.map_or("no end".into(), |u| format!("until {u}"));
            let since = s.since.map_or(String::new(), |d| format!("since {d}, "));
            format!("permitted      {since}{until}{entry}")
        } else if s.lapse == Some(visitrec::consent::Lapse::Missing) {
            "not permitted  never granted".to_string()
        } else {
            format!("not permitted  {}", st.why_not(*scope, &r.consent))
        };
        println!("  {:<20} {line}", scope.as_str());
    }
    if !r.consent.is_empty() {
        println!("history:");
    }
    for (n, e) in r.consent.iter().enumerate().map(|(i, e)| (i + 1, e)) {
        let scopes: Vec<&str> = e.scopes.iter().map(|s| s.as_str()).collect();
        let verb = match e.provision {
            visitrec::consent::Provision::Permit => "grant",
            visitrec::consent::Provision::Deny => "withdraw",
        };
        let mut extra = Vec::new();
        if let Some(b) = &e.by {
            extra.push(format!("by {}", term(b)));
        }
        if let Some(m) = &e.method {
            extra.push(term(m).into_owned());
        }
        if let Some(w) = &e.witness {
            extra.push(format!("witness {}", term(w)));
        }
        if let Some(x) = &e.expires {
            extra.push(format!("until {x}"));
        }
        println!(
            "  {n:>2}. {}  {verb:<8} {}  {}  (recorded by {})",
            e.date,
            scopes.join(","),
            extra.join(", "),
            term(&e.recorded_by)
        );
        if let Some(n) = &e.note {
            println!("              note: {}", term(n));
        }
    }
}

fn print_recording(r: &Recording) {
    let s = &r.source;
    println!("id:           {}", r.id);
    println!("file name:    {}", term(&s.file_name));
    println!("stored as:    {}", term(&s.stored_as));
    println!("sha256:       {}", s.sha256);
    println!("size:         {} bytes", s.size);
    println!(
        "audio:        {} in {}, {} Hz, {} ch",
        term(&s.codec),
        term(&s.container),
        s.sample_rate,
        s.channels
    );
    println!(
        "duration:     {} ({:.3} s, {} frames)",
        fmt_duration(s.duration_s),
        s.duration_s,
        s.frames
    );
    println!(
        "recorded at:  {} (from {})",
        term(&s.recorded_at),
        term(&s.recorded_at_source)
    );
    println!(
        "has location: {}",
        if s.has_location {
            "yes (not copied)"
        } else {
            "no"
        }
    );
    println!("ingested at:  {}", term(&r.ingested_at));
    println!(
        "participant:  {}",
        term(r.participant.as_deref().unwrap_or("-"))
    );
    for (k, v) in &r.tags {
        println!("tag:          {}={}", term(k), term(v));
    }
}

fn print_verify(archive: &Path, r: &Report, quiet: bool) {
    for w in &r.warnings {
        let at = if w.path == "." {
            archive.display().to_string()
        } else {
            w.path.clone()
        };
        eprintln!("warning: {}: {}", term(&at), term(&w.detail));
    }
    // A sound bag that is simply not visitrec's is said in one line.
    if let [p] = r.problems.as_slice()
        && p.kind == visitrec::verify::ProblemKind::NotVisitrec
    {
        println!("{}: {}", archive.display(), term(&p.detail));
        return;
    }
    for p in &r.problems {
        println!(
            "{:<13} {}: {}",
            p.kind.as_str(),
            term(&p.path),
            term(&p.detail)
        );
    }
    if !quiet || !r.ok {
        let mb = r.bytes_checked as f64 / 1e6;
        if r.ok {
            println!(
                "{}: intact ({} files, {mb:.1} MB checked)",
                archive.display(),
                r.files_checked
            );
        } else {
            println!(
                "{}: {} problem(s) found",
                archive.display(),
                r.problems.len()
            );
        }
    }
}

fn print_demo(run: &visitrec::demo::DemoRun, cli: &Cli) {
    if cli.quiet {
        return;
    }
    println!("visitrec demo in {}", run.dir.display());
    println!(
        "1. wrote {} sample phone recordings to {}",
        visitrec::demo::SAMPLES.len(),
        run.inbox.display()
    );
    println!("2. created the archive {}", run.archive.display());
    println!("3. ingested them for participant P017 (tag site=demo-clinic) with consent for");
    println!("   personal-use and research, normalized each to -16 LUFS / -1.5 dBTP at 16 kHz,");
    println!("   and cut it into speech segments:");
    print_ingest(&run.ingest, cli);
    if let Some(n) = &run.ingest.normalize {
        print_normalize(n, cli);
    }
    if let Some(s) = &run.ingest.segment {
        print_segment(s, cli);
    }
    println!(
        "4. ingested the same folder again: {} already present, {} new (deduplicated by content)",
        run.reingest.duplicates.len(),
        run.reingest.ingested.len()
    );
    println!("5. tagged the voice memo {} and marked it:", run.tagged.id);
    for m in &run.tagged.marks {
        println!("     {}  {}", visitrec::tags::format_time(m.at_s), m.label);
    }
    println!("   then cut it again at its marks:");
    print_segment(&run.resegment, cli);
    println!(
        "6. generated the patient's age key {} and encrypted every recording for",
        run.key.display()
    );
    println!(
        "   personal use: {} ({} recordings, {:.1} MB)",
        run.export.out,
        run.export.recordings.len(),
        run.export.plaintext_bytes as f64 / 1e6
    );
    for w in &run.export.warnings {
        println!("   warning: {w}");
    }
    println!("7. verified the export with the key (every file decrypt-checked):");
    print_verify(Path::new(&run.export.out), &run.export_verify, false);
    println!(
        "8. opened it as the patient would: {} files, {:.1} MB in {}",
        run.decrypted.files,
        run.decrypted.bytes as f64 / 1e6,
        run.decrypted.out
    );
    println!("9. verified the archive (fixity, metadata, audit chain):");
    print_verify(&run.archive, &run.verify, false);
    println!(
        "Next: visitrec list {}   visitrec log {}",
        run.archive.display(),
        run.archive.display()
    );
    println!(
        "      age -d -i {} {}/data/<id>/original.m4a.age > visit.m4a",
        run.key.display(),
        run.export.out
    );
}
