//! Resource limits for reading an untrusted bundle.
//!
//! Every limit has a documented default (see `docs/security.md`) and a command-line flag to
//! raise it. Hitting one is reported as a problem naming the limit and its flag, never a crash.

use serde::Serialize;

/// Caps applied while opening and reading a bundle.
#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    /// Most entries a zip (or files a folder) may hold. Flag: `--max-entries`.
    pub max_entries: usize,
    /// Most bytes the whole bundle may expand to. Flag: `--max-total-size`.
    pub max_total_bytes: u64,
    /// Most bytes one member may expand to. Flag: `--max-file-size`.
    pub max_file_bytes: u64,
    /// Highest compression ratio (uncompressed / compressed) allowed for a member larger than
    /// [`Limits::RATIO_FLOOR`]. Flag: `--max-ratio`.
    pub max_ratio: u64,
    /// Longest text line kept whole; longer lines are cut and reported. Flag: `--max-line`.
    pub max_line_bytes: usize,
    /// Deepest XML nesting accepted. Flag: `--max-xml-depth`.
    pub max_xml_depth: usize,
    /// Most event records retained for rules across all EVTX files. Flag: `--max-events`.
    pub max_events_kept: usize,
}

impl Limits {
    /// Small members are never ratio-checked: a 4 KiB file of zeros is harmless.
    pub const RATIO_FLOOR: u64 = 1 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 20_000,
            max_total_bytes: 8 << 30,
            max_file_bytes: 4 << 30,
            // EVTX files full of empty chunks compress very well; real bombs go far beyond this.
            max_ratio: 1_000,
            max_line_bytes: 1 << 20,
            max_xml_depth: 256,
            max_events_kept: 1_000_000,
        }
    }
}
