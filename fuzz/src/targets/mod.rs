//! One module per fuzz target: `run(data)` is one execution with its property checks. The
//! fuzz binaries call these, and `tests/hostile` replays every saved crash input through them.
//!
//! Targets reach the shared helpers through `super::`, never `crate::`, so that the test suite
//! can include this library as a module.

pub(crate) use super::{
    MEMBER_SEP, check_evidence, check_parser_output, fresh_dir, fuzz_limits, is_evidence,
    line_bound, split_members, write_members,
};

pub mod apphost;
pub mod bundle_zip;
pub mod csv;
pub mod evtx_scan;
pub mod manifest;
pub mod pipeline;
pub mod reg;
pub mod setup_log;
pub mod webconfig;
