//! Every fuzz seed, and every input a fuzzer ever crashed on (kept in fuzz/regressions/),
//! goes through the same entry points as the fuzz targets: none may panic.

use std::path::Path;

type Target = fn(&[u8]);

#[test]
fn seeds_and_past_crashes_stay_harmless() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let targets: [(&str, Target); 6] = [
        ("manifest", visitrec::fuzzing::manifest),
        ("recording_json", visitrec::fuzzing::recording_json),
        ("tags_and_marks", visitrec::fuzzing::tags_and_marks),
        ("recipients", visitrec::fuzzing::recipients),
        ("audio", visitrec::fuzzing::audio),
        ("age_file", visitrec::fuzzing::age_file),
    ];
    let mut ran = 0;
    for (name, target) in targets {
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for e in entries {
                let path = e.unwrap().path();
                target(&std::fs::read(&path).unwrap());
                ran += 1;
            }
        }
    }
    assert!(ran >= 19, "only {ran} inputs found");
}
