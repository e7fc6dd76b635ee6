//! visitrec: archives of clinic-visit recordings as BagIt bags.
//!
//! The on-disk formats (archive bag, `recording.json`, commit journal) are specified in
//! `docs/FORMAT.md`. Every write goes through [`archive::Writer`] and
//! [`archive::Transaction`]; readers use [`archive::Archive`].

pub mod anchor;
pub mod annotate;
pub mod archive;
pub mod attach;
pub mod audio;
pub mod audit;
mod batch;
pub mod beneath;
pub mod bulk;
pub mod catalog;
pub mod checkpoint;
pub mod consent;
pub mod crypto;
pub mod envelope;
pub mod error;
pub mod exit;
pub mod export;
pub mod failure;
pub mod fixity;
pub mod friendly;
pub mod fsutil;
// The fuzz targets' entry points: for the fuzz/ crate (which enables `fuzzing`) and for
// the regression test that runs every seed and past crash, not part of the library's API.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod hash;
pub mod ingest;
pub mod interrupt;
pub mod manifest;
pub mod overview;
pub mod pipeline;
pub mod plot;
pub mod progress;
pub mod purge;
pub mod record;
pub mod relpath;
pub mod repair;
pub mod replay;
pub mod retention;
pub mod sanitize;
pub mod table;
pub mod tags;
pub mod time;
pub mod tombstone;
pub mod verify;

pub use error::{Error, Result};
