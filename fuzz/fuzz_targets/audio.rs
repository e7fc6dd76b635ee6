//! The audio probe and decoder (symphonia, opus-pure, AMR) and our MP4 box reader fed
//! arbitrary bytes: never a panic, bounded time and memory.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    visitrec::fuzzing::audio(data);
});
