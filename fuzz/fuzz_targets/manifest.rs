//! BagIt tag files and the audit log, parsed from arbitrary bytes: never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    visitrec::fuzzing::manifest(data);
});
