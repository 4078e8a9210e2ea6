//! The command line: clap types, and their conversion into library options. Only this module
//! and `main.rs` know about clap.

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;
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
    /// Print only the report and errors: no progress, notes or warnings on standard error.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Colour the text report: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        default_value = "auto",
        global = true
    )]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
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
    /// Print a shell completion script (e.g. `exhume completions bash > /etc/bash_completion.d/exhume`).
    Completions(CompletionsArgs),
    /// Print the man page exhume(1), or write one page per command into DIR.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write exhume.1 and exhume-COMMAND.1 into this folder instead of printing exhume.1.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
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
    /// Also write these report formats per bundle, comma-separated or repeated (JSON is always
    /// written). Rerun with a new format to add it to finished bundles without analysing again.
    #[arg(long, value_enum, value_name = "FORMAT", value_delimiter = ',')]
    pub format: Vec<ReportFormat>,
    /// Analyse again bundles whose report exists for the same SHA-256 and exhume version.
    #[arg(long)]
    pub force: bool,
    /// Replace host, domain and user names and IP addresses with tokens in every report and
    /// summary, as `analyze --redact` does.
    #[arg(long)]
    pub redact: bool,
    #[command(flatten)]
    pub rules: RuleArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Terminal summary (coloured as --color says).
    Text,
    /// Schema-versioned JSON (docs/report-schema.md).
    Json,
    /// Markdown, for an email or a ticket.
    Md,
    /// One self-contained HTML page: chain diagram, timeline chart, evidence, plan.
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimelineFormat {
    /// Comma-separated values with a header line (Timesketch imports it as is).
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl ReportFormat {
    /// The format a file name's extension names, if any.
    pub fn of_path(p: &std::path::Path) -> Option<Self> {
        let ext = p.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" | "text" => ReportFormat::Text,
            "json" => ReportFormat::Json,
            "md" | "markdown" => ReportFormat::Md,
            "html" | "htm" => ReportFormat::Html,
            _ => return None,
        })
    }
}

impl TimelineFormat {
    /// The format a file name's extension names, if any.
    pub fn of_path(p: &std::path::Path) -> Option<Self> {
        let ext = p.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "csv" => TimelineFormat::Csv,
            "jsonl" | "ndjson" | "json" => TimelineFormat::Jsonl,
            _ => return None,
        })
    }
}

/// The format to write: `--format` if given, else the one `-o`'s extension names, else
/// `default`. A `--format` that contradicts the extension is an error.
pub fn choose_format<F: Copy + PartialEq + ValueEnum>(
    flag: Option<F>,
    output: Option<&std::path::Path>,
    of_path: fn(&std::path::Path) -> Option<F>,
    default: F,
) -> Result<F, String> {
    let from_ext = output.and_then(of_path);
    let name = |f: F| {
        f.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    };
    match (flag, from_ext) {
        (Some(f), Some(e)) if f != e => Err(format!(
            "--format {} does not match the output file {} (a {} file); change one of them",
            name(f),
            output.map(|p| p.display().to_string()).unwrap_or_default(),
            name(e)
        )),
        (Some(f), _) => Ok(f),
        (None, Some(e)) => Ok(e),
        (None, None) => Ok(default),
    }
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The bundle: a .zip from the collector, or the same tree as a folder.
    pub bundle: PathBuf,
    /// Report format; without it, the one -o's extension names (.txt, .json, .md, .html), else text.
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
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
    /// The setup logs' UTC offset when you know it better than the bundle does, e.g. +11:00,
    /// -05:00, +05:30: used to convert setup-log times and line them up with events.
    #[arg(long, value_name = "+HH:MM", value_parser = parse_offset, allow_hyphen_values = true)]
    pub utc_offset: Option<i32>,
    #[command(flatten)]
    pub rules: RuleArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// The bundle: a .zip from the collector, or the same tree as a folder.
    pub bundle: PathBuf,
    /// Timeline format; without it, the one -o's extension names (.csv, .jsonl), else csv.
    #[arg(long, value_enum)]
    pub format: Option<TimelineFormat>,
    /// Write the timeline to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace host, domain and user names and IP addresses with tokens, as `analyze --redact`
    /// does for the same bundle.
    #[arg(long)]
    pub redact: bool,
    /// The setup logs' UTC offset when you know it better than the bundle does, e.g. +11:00,
    /// -05:00, +05:30. Without it and without an offset in the bundle, setup-log rows keep
    /// their local time, without `Z`, marked "UTC offset unknown".
    #[arg(long, value_name = "+HH:MM", value_parser = parse_offset, allow_hyphen_values = true)]
    pub utc_offset: Option<i32>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `+11:00`, `-05:00`, `+05:30`, `0`, `+1` → minutes east of UTC.
pub fn parse_offset(s: &str) -> Result<i32, String> {
    let bad = || format!("`{s}` is not a UTC offset (write it as +HH:MM or -HH:MM)");
    let t = s.trim();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => (1, t),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) || h * 60 + m > 14 * 60 {
        return Err(bad());
    }
    Ok(sign * (h * 60 + m))
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

/// Flags of the commands that run the rules.
#[derive(Debug, Args)]
pub struct RuleArgs {
    /// Also load the declarative rules (*.toml) in DIR.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Link events to a setup error when they are within this many minutes of it.
    #[arg(long, value_name = "MINUTES", default_value_t = exhume::analysis::LINK_WINDOW_MINUTES)]
    pub window: i64,
}

/// The limits that keep a hostile bundle from exhausting the laptop (docs/security.md), under
/// their own heading so they do not bury the everyday flags.
#[derive(Debug, Args)]
#[command(next_help_heading = "Resource limits")]
pub struct LimitArgs {
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
    /// Most facts (rows, elements, kept lines) one artefact may yield.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_facts_per_file)]
    pub max_facts: usize,
    /// Most memory the facts of a bundle may hold, events aside (suffixes K, M, G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "192M")]
    pub max_fact_memory: u64,
    /// Most memory held to compare a web.config with its .bak (suffixes K, M, G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "32M")]
    pub max_compare_memory: u64,
    /// Longest time one artefact may take to read and parse, in seconds (0: no limit).
    #[arg(long, value_name = "SECONDS", default_value_t = Limits::default().max_seconds_per_file)]
    pub max_seconds_per_file: u64,
}

impl LimitArgs {
    /// Options with these limits and the built-in rules only.
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
                max_facts_per_file: self.max_facts,
                max_fact_bytes: self.max_fact_memory,
                max_compare_bytes: self.max_compare_memory,
                max_seconds_per_file: self.max_seconds_per_file,
            },
            ..Options::default()
        }
    }

    /// Options with these limits and the rules (and link window) of `rules`.
    pub fn options_with(&self, rules: &RuleArgs) -> Options {
        Options {
            rules_dir: rules.rules.clone(),
            link_window: Some(chrono::Duration::minutes(rules.window)),
            ..self.options()
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
