//! What `ingest`, `normalize` and `segment` report while they work: the files, the phase of
//! each, and how far into it (issue 13: a 2-hour file sat at `0/1` for 18 s).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use visitrec::archive::Archive;
use visitrec::audio::decode::MaxDuration;
use visitrec::audio::normalize::Settings;
use visitrec::audio::segment::Params;
use visitrec::ingest::IngestOptions;
use visitrec::progress::{Phase, Position, Progress};

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Start(u64),
    At(PathBuf, Phase, Position),
    Advance(PathBuf),
}

/// Records every event; asks for every position (no throttling).
#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl Progress for Recorder {
    fn start(&self, files: u64) {
        self.0.lock().unwrap().push(Event::Start(files));
    }
    fn position(&self, file: &Path, phase: Phase, at: Position) {
        let e = Event::At(file.to_path_buf(), phase, at);
        self.0.lock().unwrap().push(e);
    }
    fn advance(&self, file: &Path) {
        self.0
            .lock()
            .unwrap()
            .push(Event::Advance(file.to_path_buf()));
    }
    fn interval(&self) -> Duration {
        Duration::ZERO
    }
}

impl Recorder {
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn done(at: &Position) -> f64 {
    match *at {
        Position::Bytes { done, .. } => done as f64,
        Position::Audio { done_s, .. } => done_s,
    }
}

/// Checks one file's events: `start(1)`, then the `phases` in order, each starting at 0,
/// never going back, and ending at its total; then one `advance`. Returns each phase's
/// last position.
fn check_one_file(events: &[Event], file: &Path, phases: &[Phase]) -> Vec<Position> {
    assert_eq!(events.first(), Some(&Event::Start(1)), "{events:#?}");
    assert_eq!(
        events.last(),
        Some(&Event::Advance(file.to_path_buf())),
        "{events:#?}"
    );
    let at: Vec<(Phase, Position)> = events[1..events.len() - 1]
        .iter()
        .map(|e| match e {
            Event::At(f, phase, at) if f == file => (*phase, *at),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let mut seen: Vec<Phase> = at.iter().map(|(p, _)| *p).collect();
    seen.dedup();
    assert_eq!(seen, phases, "phases in order, each once");
    let mut ends = Vec::new();
    for phase in phases {
        let steps: Vec<Position> = at
            .iter()
            .filter(|(p, _)| p == phase)
            .map(|(_, a)| *a)
            .collect();
        assert_eq!(done(&steps[0]), 0.0, "{phase:?} starts at 0");
        assert!(
            steps.windows(2).all(|w| done(&w[1]) >= done(&w[0])),
            "{phase:?} never goes back: {steps:?}"
        );
        let last = *steps.last().unwrap();
        assert_eq!(last.fraction(), Some(1.0), "{phase:?} ends at its total");
        ends.push(last);
    }
    ends
}

#[test]
fn ingest_normalize_segment_report_phases_and_positions_within_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    Archive::init(&root, "Test Clinic").unwrap();
    let input = fixture("phone/voice-memo.m4a");
    let size = std::fs::metadata(&input).unwrap().len();
    let rec = Recorder::default();

    // ingest --segment: copied, decoded, normalized and cut, each reported as it goes.
    let opts = IngestOptions {
        segment: Some((Params::default(), false)),
        ..IngestOptions::default()
    };
    let mut w = Archive::open(&root).unwrap().writer("tester").unwrap();
    let report = visitrec::ingest::ingest(&mut w, std::slice::from_ref(&input), &opts, &rec)
        .expect("ingested");
    let id = report.ingested[0].id.clone();
    let events = rec.take();
    let ends = check_one_file(
        &events,
        &input,
        &[Phase::Copy, Phase::Decode, Phase::Normalize, Phase::Segment],
    );
    assert_eq!(
        ends[0],
        Position::Bytes {
            done: size,
            total: size
        }
    );
    // The decode pass moved in many steps through the 13.3 s, not in one jump.
    let decode_steps = events
        .iter()
        .filter(|e| matches!(e, Event::At(_, Phase::Decode, _)))
        .count();
    assert!(decode_steps > 10, "{decode_steps} decode positions");
    let Position::Audio { done_s, .. } = ends[1] else {
        panic!("decode counts audio")
    };
    assert!((done_s - 13.337).abs() < 0.01, "{done_s}");

    // normalize with other settings: decode and normalize, the length known from
    // recording.json when the container declares none.
    let settings = Settings {
        rate: 22_050,
        ..Settings::default()
    };
    let max = MaxDuration::DEFAULT;
    let ids = [id.clone()];
    visitrec::pipeline::normalize(&mut w, &ids, &settings, max, &rec).unwrap();
    let name = PathBuf::from(&id);
    check_one_file(&rec.take(), &name, &[Phase::Decode, Phase::Normalize]);

    // segment again with other parameters: the speech is scored anew, then cut.
    let params = Params {
        pad_s: 0.5,
        ..Params::default()
    };
    visitrec::pipeline::segment(&mut w, &ids, &params, false, max, &rec).unwrap();
    check_one_file(&rec.take(), &name, &[Phase::Detect, Phase::Segment]);
}
