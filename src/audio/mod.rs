//! Audio: content-based recognition, streaming decode, and container facts.

pub mod decode;
pub mod limiter;
pub mod loudness;
pub mod mp4;
pub mod normalize;
pub mod probe;
pub mod resample;
pub mod segment;
