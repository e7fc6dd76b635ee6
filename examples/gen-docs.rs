//! Regenerates `man/` and `completions/` from the clap definition:
//! `cargo run --example gen-docs`. A test fails when the committed files are stale.

fn main() -> std::io::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    visitrec::cli::write_docs(&root.join("man"), &root.join("completions"))
}
