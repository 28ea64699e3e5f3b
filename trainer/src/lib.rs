//! The trainer: read data, fit, gate on quality, publish.
//!
//! `main.rs` parses flags and maps [`train::TrainError::exit_code`] to the process status;
//! everything else is here so that it can be tested in-process.

pub mod data;
pub mod fit;
pub mod train;
