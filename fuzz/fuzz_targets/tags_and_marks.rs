//! Tags, mark times, marks files and consent fields from arbitrary text: never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    visitrec::fuzzing::tags_and_marks(data);
});
