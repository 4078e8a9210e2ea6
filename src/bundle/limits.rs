//! Resource limits for reading an untrusted bundle.
//!
//! Every limit has a documented default (see `docs/security.md`) and a command-line flag to
//! raise it. Hitting one is reported as a problem naming the limit and its flag, never a crash.

use serde::Serialize;

/// Caps applied while opening and reading a bundle.
#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    /// Largest bundle accepted: the `.zip` file, or the sum of a folder's file sizes.
    /// Flag: `--max-bundle-size`.
    pub max_bundle_bytes: u64,
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
    /// Most facts one artefact may yield (events aside, see `max_events_kept`): one per row,
    /// element or kept line. Flag: `--max-facts`.
    pub max_facts_per_file: usize,
    /// Most bytes (estimated) the facts of the whole bundle may hold, events aside.
    /// Flag: `--max-fact-memory`.
    pub max_fact_bytes: u64,
    /// Most bytes (estimated) held to compare a `web.config` with its `.bak`.
    /// Flag: `--max-compare-memory`.
    pub max_compare_bytes: u64,
    /// Longest time one artefact may take to read and parse, in seconds; 0 means no limit.
    /// Checked on every read from the member (see [`Deadline`]), so a parser that loops or
    /// crawls on crafted input is stopped and the artefact reported. Flag: `--max-seconds-per-file`.
    pub max_seconds_per_file: u64,
}

impl Limits {
    /// Small members are never ratio-checked: a 4 KiB file of zeros is harmless.
    pub const RATIO_FLOOR: u64 = 1 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bundle_bytes: 8 << 30,
            max_entries: 20_000,
            max_total_bytes: 8 << 30,
            max_file_bytes: 4 << 30,
            // EVTX files full of empty chunks compress very well; real bombs go far beyond this.
            max_ratio: 1_000,
            max_line_bytes: 1 << 20,
            max_xml_depth: 256,
            max_events_kept: 1_000_000,
            // Far above any real artefact (an Exchange install holds some 30 000 files);
            // a fact costs about 0.5-1 KiB, so these keep the facts of a bundle near 200 MiB.
            max_facts_per_file: 200_000,
            max_fact_bytes: 192 << 20,
            // Real web.config files hold a few thousand elements, well under 1 MiB.
            max_compare_bytes: 32 << 20,
            // A 1 GB EVTX file parses in well under a minute; five minutes is a hang.
            max_seconds_per_file: 300,
        }
    }
}

/// When the time allowed for one artefact runs out. Started when a member is opened for
/// reading and checked on every read; the EVTX chunk workers, which parse behind the read,
/// also check it before each chunk. `Instant::now` costs tens of nanoseconds, so checking it per read or
/// per record is free next to the work done.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Option<std::time::Instant>,
    seconds: u64,
}

impl Deadline {
    /// A deadline `limits.max_seconds_per_file` from now (none when that is 0).
    pub fn start(limits: &Limits) -> Self {
        let seconds = limits.max_seconds_per_file;
        Deadline {
            at: (seconds > 0)
                .then(|| std::time::Instant::now() + std::time::Duration::from_secs(seconds)),
            seconds,
        }
    }

    /// `Err` once the time is up, naming the limit and its flag.
    pub fn check(&self) -> Result<(), super::LimitHit> {
        match self.at {
            Some(at) if std::time::Instant::now() >= at => Err(super::LimitHit {
                limit: "seconds per artefact",
                value: self.seconds,
                flag: "--max-seconds-per-file",
            }),
            _ => Ok(()),
        }
    }
}
