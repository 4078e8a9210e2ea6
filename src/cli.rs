//! The command line: clap types, and their conversion into library options. Only this module
//! and `main.rs` know about clap.

use clap::{Args, Parser, Subcommand, ValueEnum};
use exhume::Options;
use exhume::bundle::Limits;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "exhume",
    version,
    about = "Why did this Exchange setup, service pack or cumulative update fail? Offline analysis of an evidence bundle.",
    after_help = "Exit codes: 0 analysed (see the verdict), 1 analysed and --exit-status found a failure or issues, 2 could not analyse, 3 analysed and --exit-status found the evidence inconclusive."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse one bundle (.zip or folder) and report the root cause.
    Analyze(AnalyzeArgs),
    /// Print every dated fact of a bundle on one UTC clock (Timesketch-compatible).
    Timeline(TimelineArgs),
    /// List the rule catalogue.
    Rules(RulesArgs),
    /// Analyse many bundles in parallel: one report each, summaries, root-cause frequencies.
    Batch(BatchArgs),
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Bundles (.zip or folders) or folders to search for them, recursively.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Folder for reports/ and summary.{csv,jsonl,md}.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Bundles analysed at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Also write these report formats per bundle (JSON is always written).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Vec<ReportFormat>,
    /// Analyse again bundles whose report exists for the same SHA-256 and exhume version.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    /// Terminal summary (colour only on a terminal, never with NO_COLOR).
    Text,
    /// Schema-versioned JSON (docs/report-schema.md).
    Json,
    /// Markdown, for an email or a ticket.
    Md,
    /// One self-contained HTML page: chain diagram, timeline chart, evidence, plan.
    Html,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TimelineFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The bundle: a .zip from the collector, or the same tree as a folder.
    pub bundle: PathBuf,
    /// Output format (default: text).
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Make the exit code reflect the verdict (1 failed or issues, 3 inconclusive).
    #[arg(long)]
    pub exit_status: bool,
    /// Replace host, domain and user names and IP addresses with tokens (host-1, domain-1,
    /// user-1, ip-1), the same token for the same name, to share the report outside the client.
    #[arg(long)]
    pub redact: bool,
    /// Text report: every evidence line of every finding (by default the best three).
    #[arg(short, long)]
    pub verbose: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    pub bundle: PathBuf,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: TimelineFormat,
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace host, domain and user names and IP addresses with tokens, as `analyze --redact`
    /// does for the same bundle.
    #[arg(long)]
    pub redact: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Also load the declarative rules (*.toml) in DIR.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Print the catalogue as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags shared by every command that reads a bundle.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Also load the declarative rules (*.toml) in DIR.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Largest bundle: the .zip file, or the sum of a folder's files (suffixes K, M, G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "8G")]
    pub max_bundle_size: u64,
    /// Most entries in a bundle.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_entries)]
    pub max_entries: usize,
    /// Most bytes the whole bundle may expand to (suffixes K, M, G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "8G")]
    pub max_total_size: u64,
    /// Most bytes one member may expand to (suffixes K, M, G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4G")]
    pub max_file_size: u64,
    /// Highest compression ratio for a member over 1 MiB.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_ratio)]
    pub max_ratio: u64,
    /// Longest text line kept whole (suffixes K, M, G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1M")]
    pub max_line: u64,
    /// Deepest XML nesting accepted.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_xml_depth)]
    pub max_xml_depth: usize,
    /// Most event records kept for the rules.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_events_kept)]
    pub max_events: usize,
    /// Longest time one artefact may take to read and parse, in seconds (0: no limit).
    #[arg(long, value_name = "SECONDS", default_value_t = Limits::default().max_seconds_per_file)]
    pub max_seconds_per_file: u64,
    /// Link events to a setup error when they are within this many minutes of it.
    #[arg(long, value_name = "MINUTES", default_value_t = exhume::analysis::LINK_WINDOW_MINUTES)]
    pub window: i64,
}

impl CommonArgs {
    pub fn options(&self) -> Options {
        Options {
            limits: Limits {
                max_bundle_bytes: self.max_bundle_size,
                max_entries: self.max_entries,
                max_total_bytes: self.max_total_size,
                max_file_bytes: self.max_file_size,
                max_ratio: self.max_ratio,
                max_line_bytes: self.max_line as usize,
                max_xml_depth: self.max_xml_depth,
                max_events_kept: self.max_events,
                max_seconds_per_file: self.max_seconds_per_file,
            },
            rules_dir: self.rules.clone(),
            keep_all_events: false,
            link_window: Some(chrono::Duration::minutes(self.window)),
        }
    }
}

/// `512`, `64K`, `200M`, `2G` → bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        Some('G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not a size (use a number with an optional K, M or G)"))
}
