//! The committed man pages and completions must match what the clap definition generates
//! (regenerate with `cargo run --example gen-docs`).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn man_pages_and_completions_are_current() {
    let fresh = tempfile::tempdir().unwrap();
    let (man, comp) = (fresh.path().join("man"), fresh.path().join("completions"));
    visitrec::cli::write_docs(&man, &comp).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (generated, committed) in [(man, root.join("man")), (comp, root.join("completions"))] {
        let (want, have) = (files(&generated), files(&committed));
        assert_eq!(
            want.keys().collect::<Vec<_>>(),
            have.keys().collect::<Vec<_>>(),
            "{} is stale: run `cargo run --example gen-docs`",
            committed.display()
        );
        for (name, bytes) in &want {
            assert!(
                have[name] == *bytes,
                "{}/{name} is stale: run `cargo run --example gen-docs`",
                committed.display()
            );
        }
    }
    assert!(
        files(&root.join("man")).len() >= 13,
        "one page per subcommand plus visitrec(1)"
    );
}
