//! Audio: content-based recognition, streaming decode, and container facts.

pub mod adts;
pub mod caf;
pub mod container;
pub mod decode;
pub mod identifying;
pub mod limit_model;
pub mod limiter;
pub mod loudness;
pub mod mkv;
pub mod mp4;
pub mod normalize;
pub mod ogg;
pub mod opus;
pub mod probe;
pub mod resample;
pub mod segment;
pub mod wav16;
