//! age/SSH recipients from arbitrary text: never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    visitrec::fuzzing::recipients(data);
});
