//! Hostile input (issue 9), one test binary:
//!
//! - `verdict`: the healthy sample with each artefact removed or corrupted in turn never reads
//!   as healthy ("inconclusive, not healthy"), and the seed never turns healthy either;
//! - `corpus`: crafted bundles and members run through the `exhume` binary, each giving a clear
//!   error or a partial report within a time and memory bound the test measures;
//! - `fuzz_regressions`: every input a fuzz target ever crashed on (files in `tests/hostile/fuzz/`),
//!   replayed through the same entry point as its target.
//!
//! `tests/hostile_bundle.rs` (issue 2) holds the first hostile cases; those are not repeated.

#[path = "../common/mod.rs"]
mod common;

mod bounded;
mod rawzip;
mod corpus;
mod fuzz_regressions;
mod verdict;
mod absorbed;
mod twins;
mod messages;
mod memory;
