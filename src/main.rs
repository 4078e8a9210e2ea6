//! The `exhume` binary: parse the command line, run, map the outcome to an exit code.

mod cli;

use clap::Parser;
use cli::{Cli, Command, ReportFormat, TimelineFormat};
use exhume::diagnosis::Status;
use exhume::report::{self, Format, Style};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Exit codes, documented in the README and `--help`.
mod exit {
    pub const OK: u8 = 0;
    pub const FOUND: u8 = 1;
    pub const ERROR: u8 = 2;
    pub const INCONCLUSIVE: u8 = 3;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("exhume: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Analyze(a) => {
            let opts = a.common.options();
            let analysis = exhume::analyze(&a.bundle, &opts)?;
            let d = &analysis.diagnosis;
            let to_terminal = a.output.is_none() && std::io::stdout().is_terminal();
            let style = Style {
                color: to_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            };
            let format = match a.format {
                ReportFormat::Text => Format::Text,
                ReportFormat::Json => Format::Json,
            };
            emit(a.output.as_deref(), &report::render(d, format, style))?;
            Ok(if !a.exit_status {
                exit::OK
            } else {
                match d.status {
                    Status::Healthy => exit::OK,
                    Status::Failed | Status::Issues => exit::FOUND,
                    Status::Inconclusive => exit::INCONCLUSIVE,
                }
            })
        }
        Command::Timeline(t) => {
            let mut opts = t.common.options();
            opts.keep_all_events = true;
            let analysis = exhume::analyze(&t.bundle, &opts)?;
            let entries = exhume::timeline::build(&analysis.facts, &analysis.clock);
            let text = match t.format {
                TimelineFormat::Csv => exhume::report::timeline::csv(&entries),
                TimelineFormat::Jsonl => exhume::report::timeline::jsonl(&entries),
            };
            emit(t.output.as_deref(), &text)?;
            Ok(exit::OK)
        }
        Command::Rules(r) => {
            let opts = exhume::Options {
                rules_dir: r.rules,
                ..Default::default()
            };
            let rules = exhume::analysis::load_rules(&opts)?;
            let metas: Vec<&exhume::rules::RuleMeta> = rules.iter().map(|r| r.meta()).collect();
            let text = if r.json {
                serde_json::to_string_pretty(&metas)? + "\n"
            } else {
                exhume::report::catalogue(&metas)
            };
            emit(None, &text)?;
            Ok(exit::OK)
        }
    }
}

/// Writes to the file, or to stdout; a closed pipe (`| head`) is not an error.
fn emit(path: Option<&std::path::Path>, text: &str) -> anyhow::Result<()> {
    match path {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display())),
        None => match std::io::stdout().lock().write_all(text.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        },
    }
}
