//! The `exhume` binary: parse the command line, run, map the outcome to an exit code.

mod cli;

use clap::{CommandFactory, FromArgMatches};
use cli::{BatchArgs, Cli, ColorChoice, Command, ReportFormat, TimelineFormat, choose_format};
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
    pub const INTERRUPTED: u8 = 130;
}

fn main() -> ExitCode {
    let matches = Cli::command().version(version()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("exhume: {}", once(&e));
            ExitCode::from(exit::ERROR)
        }
    }
}

/// `exhume 0.1.0 (rule catalogue 87 rules, a1b2c3d4)`: the catalogue's fingerprint is a digest
/// of every built-in rule's id, text and fix, so two binaries that judge alike say the same.
fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(catalogue_version)
}

fn catalogue_version() -> String {
    use sha2::{Digest, Sha256};
    let rules = exhume::rules::builtin();
    let metas: Vec<&exhume::rules::RuleMeta> = rules.iter().map(|r| r.meta()).collect();
    let digest = Sha256::digest(serde_json::to_vec(&metas).unwrap_or_default());
    format!(
        "{} (rule catalogue: {} rules, {})",
        env!("CARGO_PKG_VERSION"),
        metas.len(),
        digest[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// An error and its causes on one line, each said once: a cause whose text the message
/// already holds (a wrapper that printed its source) is not repeated.
fn once(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Whether the text report may use colour.
fn colour(choice: ColorChoice, to_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            to_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

fn report_format(f: ReportFormat) -> Format {
    match f {
        ReportFormat::Text => Format::Text,
        ReportFormat::Json => Format::Json,
        ReportFormat::Md => Format::Md,
        ReportFormat::Html => Format::Html,
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Batch(b) => batch(b, quiet),
        Command::Completions(c) => {
            let mut out = Vec::new();
            clap_complete::generate(c.shell, &mut Cli::command(), "exhume", &mut out);
            emit(None, &String::from_utf8_lossy(&out))?;
            Ok(exit::OK)
        }
        Command::Man(m) => {
            let cmd = Cli::command().version(version());
            match m.dir {
                None => {
                    let mut out = Vec::new();
                    clap_mangen::Man::new(cmd).render(&mut out)?;
                    emit(None, &String::from_utf8_lossy(&out))?;
                }
                Some(dir) => {
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", dir.display()))?;
                    clap_mangen::generate_to(cmd, &dir)
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", dir.display()))?;
                }
            }
            Ok(exit::OK)
        }
        Command::Analyze(a) => {
            let format = choose_format(
                a.format,
                a.output.as_deref(),
                ReportFormat::of_path,
                ReportFormat::Text,
            )
            .map_err(anyhow::Error::msg)?;
            let mut opts = a.limits.options_with(&a.rules);
            opts.utc_offset = a.utc_offset;
            let located = exhume::bundle::shape::locate(&a.bundle, &opts.limits)?;
            let mut analysis = exhume::analyze(&located.path, &opts)?;
            found_at(&mut analysis, &a.bundle, &located);
            if a.redact {
                report::redact::analysis(&mut analysis);
            }
            let d = &analysis.diagnosis;
            let to_terminal = a.output.is_none() && std::io::stdout().is_terminal();
            let style = Style {
                color: colour(cli.color, to_terminal),
                verbose: a.verbose,
            };
            let format = report_format(format);
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
            // The analysis keeps only what rules want; the export then streams every event.
            let format = choose_format(
                t.format,
                t.output.as_deref(),
                TimelineFormat::of_path,
                TimelineFormat::Csv,
            )
            .map_err(anyhow::Error::msg)?;
            let mut opts = t.limits.options();
            opts.utc_offset = t.utc_offset;
            let located = exhume::bundle::shape::locate(&t.bundle, &opts.limits)?;
            let analysis = exhume::analyze(&located.path, &opts)?;
            let format = match format {
                TimelineFormat::Csv => exhume::report::timeline::Format::Csv,
                TimelineFormat::Jsonl => exhume::report::timeline::Format::Jsonl,
            };
            let mut out: Box<dyn Write> = match &t.output {
                Some(p) => Box::new(
                    std::fs::File::create(p)
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            match exhume::export::timeline(
                &located.path,
                &analysis,
                &opts,
                format,
                t.redact,
                &mut out,
            ) {
                Ok(export) => {
                    for p in export.problems.iter().filter(|_| !quiet) {
                        eprintln!("exhume: {}: {}", p.path, p.message);
                    }
                    if export.local_rows > 0 && !quiet {
                        eprintln!(
                            "exhume: {} setup-log row(s) are local times with no known UTC offset: written without `Z`, marked \"UTC offset unknown\" and sorted as if UTC; give the offset with --utc-offset +HH:MM",
                            export.local_rows
                        );
                    }
                }
                // A closed pipe (`| head`) is not an error.
                Err(exhume::export::Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                }
                Err(e) => return Err(e.into()),
            }
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

/// The report names the input the analyst gave, and where inside it the bundle was found.
fn found_at(
    analysis: &mut exhume::Analysis,
    input: &std::path::Path,
    located: &exhume::bundle::shape::Located,
) {
    let b = &mut analysis.diagnosis.bundle;
    b.path = bundle_name(input);
    b.inside = located.inside.clone();
    analysis
        .diagnosis
        .problems
        .extend(located.problems.iter().cloned());
}

/// The input as a report names it: its own name only. The analyst's folders above it often
/// name the client's case, and the report is sent on as it is; `.` is named by the folder it is.
fn bundle_name(input: &std::path::Path) -> String {
    let name = input
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .or_else(|| {
            std::fs::canonicalize(input)
                .ok()?
                .file_name()
                .map(std::ffi::OsStr::to_os_string)
        });
    match name {
        Some(n) => n.to_string_lossy().into_owned(),
        None => input.display().to_string(),
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

/// Set by Ctrl-C: the batch finishes the bundles in flight, starts no new one, and writes the
/// summaries of what is done. The only process-wide flag; set once, read by the batch workers.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn batch(b: BatchArgs, quiet: bool) -> anyhow::Result<u8> {
    use exhume::batch::{self, BatchOptions, Outcome};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    let opts = BatchOptions {
        inputs: b.inputs.clone(),
        out: b.out.clone(),
        jobs: b.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }),
        formats: b.format.iter().map(|f| report_format(*f)).collect(),
        force: b.force,
        redact: b.redact,
        analysis: b.limits.options_with(&b.rules),
    };
    let total = batch::discover(&opts.inputs)?.len();
    let tty = !quiet && std::io::stderr().is_terminal();
    let bar = tty.then(|| {
        let pb = indicatif::ProgressBar::new(total as u64);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} bundles  {elapsed_precise} elapsed, {eta} left  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb
    });
    let done = AtomicUsize::new(0);
    let started = std::time::Instant::now();
    let last_line = std::sync::Mutex::new(std::time::Instant::now());
    let progress = |o: &Outcome| {
        let n = done.fetch_add(1, Ordering::SeqCst) + 1;
        match &bar {
            Some(pb) => {
                pb.inc(1);
                if let Outcome::Failed { row, .. } = o {
                    pb.println(format!("failed: {}: {}", row.bundle, row.error));
                }
            }
            None => {
                // Plain lines for logs: at most one every 5 seconds, plus failures and the end.
                let mut last = last_line.lock().unwrap_or_else(|p| p.into_inner());
                if let Outcome::Failed { row, .. } = o {
                    eprintln!("exhume batch: failed: {}: {}", row.bundle, row.error);
                }
                if !quiet && (last.elapsed().as_secs() >= 5 || n == total) {
                    eprintln!(
                        "exhume batch: {n}/{total} bundles, {:.0} s",
                        started.elapsed().as_secs_f64()
                    );
                    *last = std::time::Instant::now();
                }
            }
        }
    };
    let (_, result) = batch::run(&opts, &STOP, &progress)?;
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    let failed = result.failed();
    if !quiet {
        let rendered: usize = result
            .outcomes
            .iter()
            .map(|o| match o {
                Outcome::Resumed { rendered, .. } => *rendered,
                _ => 0,
            })
            .sum();
        eprintln!(
            "exhume batch: {} analysed, {} resumed{}, {failed} failed{}; summaries in {}",
            result
                .outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Analysed { .. }))
                .count(),
            result
                .outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Resumed { .. }))
                .count(),
            if rendered > 0 {
                format!(" ({rendered} report(s) rendered from the stored analysis)")
            } else {
                String::new()
            },
            if result.not_started > 0 {
                format!(", {} not started (interrupted)", result.not_started)
            } else {
                String::new()
            },
            opts.out.display()
        );
    }
    Ok(if STOP.load(Ordering::SeqCst) {
        exit::INTERRUPTED
    } else if failed > 0 {
        exit::FOUND
    } else {
        exit::OK
    })
}
