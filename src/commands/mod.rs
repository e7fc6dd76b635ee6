//! The parts of the command line that are not library API.

pub mod progress;
