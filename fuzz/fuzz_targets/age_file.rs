//! age files (an export's `.age` files, as `decrypt` and `verify --identity` read them) from
//! arbitrary bytes: never a panic, bounded time and memory.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    visitrec::fuzzing::age_file(data);
});
