//! `ExchangeSetup.log`: setup runs, their outcome, and `[ERROR]` blocks with their context.
//!
//! Line format `[MM/DD/YYYY HH:MM:SS.ffff] [N] text` (month first, server local time, `N` the
//! nesting level); lines without a timestamp continue the previous one. One file holds every run
//! ever made on the server, oldest first, each opened by a `Starting Microsoft Exchange Server …
//! Setup` banner. The file is streamed: memory holds one run's state, not the file.

use super::text::LineReader;
use super::{Error, Input, Sink};
use crate::facts::{
    Evidence, Fact, FactKind, Locator, Position, RunOutcome, SetupError, SetupLine, SetupRun, Stamp,
};
use chrono::{NaiveDate, NaiveDateTime};
use regex::RegexSet;

/// More error blocks than this in one run are counted, not kept: a real run stops long before.
const MAX_ERRORS_PER_RUN: usize = 500;

pub fn parse(input: &Input<'_>, sink: &mut Sink) -> Result<(), Error> {
    let path = input.path().to_string();
    let interest = input.interest.setup_lines.clone();
    let max_line = input.limits.max_line_bytes;
    input
        .bundle
        .with_reader(input.entry, |r| {
            parse_reader(r, &path, max_line, interest.as_ref(), sink)
        })
        .map_err(Error::from_io)?
}

/// Parses a setup log from any reader; `path` is the bundle path used in locators.
pub fn parse_reader(
    reader: &mut dyn std::io::Read,
    path: &str,
    max_line: usize,
    interest: Option<&RegexSet>,
    sink: &mut Sink,
) -> Result<(), Error> {
    let mut lines = LineReader::new(reader, max_line).map_err(Error::from_io)?;
    let mut state = State::new(path);
    let mut stamped = 0u64;
    while let Some((n, line)) = lines.next_line().map_err(Error::from_io)? {
        match split_line(line) {
            Some((time, level, text)) => {
                stamped += 1;
                state.on_line(n, time, level, text, sink);
                if let Some(set) = interest
                    && set.is_match(text)
                {
                    sink.push(Fact {
                        time: Some(Stamp::Local(time)),
                        evidence: Evidence::new(Locator::line(path, n), text),
                        kind: FactKind::SetupLine(SetupLine {
                            run: state.run.as_ref().map(|r| r.run.index),
                            line: n,
                            text: text.to_string(),
                        }),
                    });
                }
            }
            None => state.on_continuation(n, line),
        }
    }
    let total = lines.line_no;
    state.finish(total, sink);
    lines.report(path, sink);
    if stamped == 0 {
        return Err(Error::format(
            "an Exchange setup log",
            format!("none of its {total} line(s) has a `[MM/DD/YYYY HH:MM:SS.ffff] [N]` prefix"),
        ));
    }
    Ok(())
}

/// Splits `[02/12/2012 21:15:49.0269] [1] text` into its local time, nesting level and text.
pub fn split_line(line: &str) -> Option<(NaiveDateTime, u8, &str)> {
    let b = line.as_bytes();
    if b.len() < 30
        || b[0] != b'['
        || b[3] != b'/'
        || b[6] != b'/'
        || b[11] != b' '
        || b[14] != b':'
        || b[17] != b':'
        || b[20] != b'.'
        || b[25] != b']'
        || b[26] != b' '
        || b[27] != b'['
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (c - b'0') as u32;
        }
        Some(v)
    };
    let month = num(1..3)?;
    let day = num(4..6)?;
    let year = num(7..11)?;
    let (h, m, s, frac) = (num(12..14)?, num(15..17)?, num(18..20)?, num(21..25)?);
    let close = b[28..].iter().position(|&c| c == b']')? + 28;
    if close == 28 || !b[28..close].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let time =
        NaiveDate::from_ymd_opt(year as i32, month, day)?.and_hms_micro_opt(h, m, s, frac * 100)?;
    let level = b[28..close]
        .iter()
        .fold(0u8, |a, &c| a.saturating_mul(10).saturating_add(c - b'0'));
    let text = line.get(close + 1..)?.strip_prefix(' ').unwrap_or("");
    Some((time, level, text))
}

struct OpenRun {
    run: SetupRun,
    banner: String,
    current_task: Option<String>,
    last_task: Option<String>,
    errors_kept: usize,
}

struct OpenError {
    err: SetupError,
    time: NaiveDateTime,
    /// The `The following error was generated when "…` command is still being read.
    in_command: bool,
}

struct State {
    path: String,
    run: Option<OpenRun>,
    error: Option<OpenError>,
    next_index: usize,
    last_time: Option<NaiveDateTime>,
    /// Runs are emitted when the next one starts; the last one is marked `is_last`.
    finished: Vec<(SetupRun, String)>,
}

impl State {
    fn new(path: &str) -> Self {
        State {
            path: path.to_string(),
            run: None,
            error: None,
            next_index: 0,
            last_time: None,
            finished: Vec::new(),
        }
    }

    fn on_line(&mut self, n: u64, time: NaiveDateTime, level: u8, text: &str, sink: &mut Sink) {
        self.last_time = Some(time);
        if let Some(product) = banner_product(text) {
            self.close_error(sink);
            self.close_run(n.saturating_sub(1));
            self.run = Some(OpenRun {
                run: SetupRun {
                    index: self.next_index,
                    product,
                    version: None,
                    mode: None,
                    installation_mode: None,
                    previous_version: None,
                    start: time,
                    end: None,
                    outcome: RunOutcome::Interrupted,
                    first_line: n,
                    last_line: n,
                    failed_task: None,
                    error_count: 0,
                    is_last: false,
                },
                banner: text.to_string(),
                current_task: None,
                last_task: None,
                errors_kept: 0,
            });
            self.next_index += 1;
            return;
        }

        if let Some(rest) = text.strip_prefix("[ERROR-REFERENCE]") {
            if let Some(e) = self.error.as_mut() {
                e.err.reference_id = field(rest, "Id=");
                e.err.component = field(rest, "Component=");
                e.err.last_line = n;
            }
            self.close_error(sink);
            return;
        }
        if let Some(msg) = text.strip_prefix("[ERROR]") {
            self.on_error_line(n, time, msg.trim());
            return;
        }
        // Any other stamped line ends an error block.
        self.close_error_soft(sink);

        let Some(open) = self.run.as_mut() else {
            return;
        };
        open.run.last_line = n;
        if let Some(v) = text.strip_prefix("Setup version: ") {
            open.run.version = Some(v.trim().trim_end_matches('.').to_string());
        } else if let Some(rest) = text.strip_prefix("Command Line Parameter Name='mode', Value='")
        {
            open.run.mode = rest.split('\'').next().map(str::to_string);
        } else if let Some(rest) = text.strip_prefix("The installation mode is set to: '") {
            open.run.installation_mode = rest.split('\'').next().map(str::to_string);
        } else if let Some(rest) =
            text.strip_prefix("The backup copy of the previously installed version is '")
        {
            open.run.previous_version = rest.split('\'').next().map(str::to_string);
        } else if let Some(rest) = text.strip_prefix("Beginning processing ") {
            // Level 0/1 tasks are setup's steps (Install-BridgeheadRole); deeper levels are
            // the cmdlets a step runs, which would hide the step if tracked the same way.
            if level <= 1 {
                let task = rest.split_whitespace().next().unwrap_or(rest).to_string();
                open.current_task = Some(task.clone());
                open.last_task = Some(task);
            }
        } else if text.starts_with("Ending processing ") {
            if level <= 1 {
                open.current_task = None;
            }
        } else if text.starts_with("Setup is stopping now because of one or more critical errors") {
            open.run.outcome = RunOutcome::Failed;
            open.run.failed_task = open.current_task.clone().or(open.last_task.clone());
            self.mark_last_error_critical(sink);
        } else if OUTCOME_FAILED
            .iter()
            .any(|f| f.find(text.as_bytes()).is_some())
        {
            open.run.outcome = RunOutcome::Failed;
        } else if contains_ignore_ascii_case(
            text.as_bytes(),
            b"setup operation completed successfully",
        ) {
            open.run.outcome = RunOutcome::Completed;
        } else if text.trim() == "End of Setup" {
            open.run.end = Some(time);
            if open.run.outcome == RunOutcome::Interrupted {
                open.run.outcome = RunOutcome::Ended;
            }
        } else if text.starts_with("The previous errors were generated by a non-critical task") {
            self.mark_last_error_noncritical(sink);
        }
    }

    fn on_error_line(&mut self, n: u64, time: NaiveDateTime, msg: &str) {
        let Some(open) = self.run.as_mut() else {
            return;
        };
        open.run.last_line = n;
        if self.error.is_none() {
            open.run.error_count += 1;
            if open.errors_kept >= MAX_ERRORS_PER_RUN {
                return;
            }
            open.errors_kept += 1;
            self.error = Some(OpenError {
                err: SetupError {
                    run: open.run.index,
                    messages: Vec::new(),
                    reference_id: None,
                    component: None,
                    task: open.current_task.clone().or(open.last_task.clone()),
                    command: None,
                    critical: false,
                    first_line: n,
                    last_line: n,
                },
                time,
                in_command: false,
            });
        }
        let Some(e) = self.error.as_mut() else {
            return;
        };
        e.err.last_line = n;
        if let Some(cmd) = command_start(msg) {
            e.in_command = !cmd.1;
            e.err.command = Some(cmd.0);
            if !e.in_command
                && let Some(tail) = after_was_run(msg)
            {
                e.err.messages.push(tail);
            }
        } else {
            e.err.messages.push(msg.to_string());
        }
    }

    fn on_continuation(&mut self, n: u64, line: &str) {
        if let Some(open) = self.run.as_mut() {
            open.run.last_line = n;
        }
        let Some(e) = self.error.as_mut() else {
            return;
        };
        e.err.last_line = n;
        if e.in_command {
            let cmd = e.err.command.get_or_insert_with(String::new);
            if let Some(i) = find_was_run(line) {
                push_cmd(cmd, &line[..i]);
                e.in_command = false;
                if let Some(tail) = after_was_run(line) {
                    e.err.messages.push(tail);
                }
            } else {
                push_cmd(cmd, line);
            }
        } else if let Some(last) = e.err.messages.last_mut()
            && !line.trim().is_empty()
            && last.len() < 4096
        {
            last.push(' ');
            last.push_str(line.trim());
        }
    }

    fn mark_last_error_critical(&mut self, sink: &mut Sink) {
        if let Some(e) = self.error.as_mut() {
            e.err.critical = true;
            self.close_error(sink);
            return;
        }
        if let Some(f) = sink.facts.iter_mut().rev().find_map(|f| match &mut f.kind {
            FactKind::SetupError(e) if e.run == self.next_index.saturating_sub(1) => Some(e),
            _ => None,
        }) {
            f.critical = true;
        }
    }

    fn mark_last_error_noncritical(&mut self, sink: &mut Sink) {
        self.close_error(sink);
        if let Some(f) = sink.facts.iter_mut().rev().find_map(|f| match &mut f.kind {
            FactKind::SetupError(e) => Some(e),
            _ => None,
        }) {
            f.critical = false;
        }
    }

    /// A stamped non-error line ends the block, unless the command is still being read.
    fn close_error_soft(&mut self, sink: &mut Sink) {
        self.close_error(sink);
    }

    fn close_error(&mut self, sink: &mut Sink) {
        let Some(open) = self.error.take() else {
            return;
        };
        let err = open.err;
        let excerpt = err
            .messages
            .iter()
            .rev()
            .find(|m| !m.is_empty())
            .cloned()
            .unwrap_or_default();
        sink.push(Fact {
            time: Some(Stamp::Local(open.time)),
            evidence: Evidence::new(
                Locator::new(&self.path, Position::Lines(err.first_line, err.last_line)),
                format!("[ERROR] {excerpt}"),
            ),
            kind: FactKind::SetupError(err),
        });
    }

    fn close_run(&mut self, last_line: u64) {
        if let Some(open) = self.run.take() {
            let mut run = open.run;
            run.last_line = run.last_line.max(last_line.min(run.last_line));
            self.finished.push((run, open.banner));
        }
    }

    fn finish(mut self, total_lines: u64, sink: &mut Sink) {
        self.close_error(sink);
        if let Some(open) = self.run.as_mut() {
            open.run.last_line = total_lines;
        }
        self.close_run(total_lines);
        let count = self.finished.len();
        for (i, (mut run, banner)) in self.finished.into_iter().enumerate() {
            run.is_last = i + 1 == count;
            sink.push(Fact {
                time: Some(Stamp::Local(run.start)),
                evidence: Evidence::new(
                    Locator::new(&self.path, Position::Lines(run.first_line, run.last_line)),
                    banner,
                ),
                kind: FactKind::SetupRun(run),
            });
        }
    }
}

/// `Starting Microsoft Exchange Server 2010 Setup` → `2010`.
fn banner_product(text: &str) -> Option<String> {
    let rest = text.strip_prefix("Starting Microsoft Exchange Server ")?;
    let product = rest.strip_suffix(" Setup")?.trim();
    (!product.is_empty()).then(|| product.to_string())
}

/// Sentences that end a run as failed. Searched in every stamped line, so built once: a
/// `str::contains` builds its searcher on each call, a tenth of the stage's time.
static OUTCOME_FAILED: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 2]> =
    std::sync::LazyLock::new(|| {
        [
            memchr::memmem::Finder::new("setup operation didn't complete"),
            memchr::memmem::Finder::new("setup operation did not complete"),
        ]
    });

/// `needle` in `hay`, ASCII case ignored, without a lower-cased copy of every line.
fn contains_ignore_ascii_case(hay: &[u8], needle: &[u8]) -> bool {
    let Some(first) = needle.first() else {
        return true;
    };
    memchr::memchr2_iter(first.to_ascii_lowercase(), first.to_ascii_uppercase(), hay).any(|i| {
        hay.get(i..i + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

/// `Id=abc Component=EXCHANGE14:\…` → the value after `key` up to the next space.
fn field(rest: &str, key: &str) -> Option<String> {
    let i = rest.find(key)? + key.len();
    let v = rest[i..].split_whitespace().next()?;
    Some(v.to_string())
}

const WHEN: [&str; 2] = [
    "error was generated when \"",
    "error was generated when \u{201c}",
];

/// For `The following error was generated when "cmd…`: the command so far, and whether it
/// already ended on this line.
fn command_start(msg: &str) -> Option<(String, bool)> {
    let (i, w) = WHEN.iter().find_map(|w| msg.find(w).map(|i| (i, w)))?;
    let body = &msg[i + w.len()..];
    match find_was_run(body) {
        Some(j) => Some((body[..j].trim().to_string(), true)),
        None => Some((body.trim().to_string(), false)),
    }
}

fn find_was_run(s: &str) -> Option<usize> {
    s.find("\" was run: ")
        .or_else(|| s.find("\u{201d} was run: "))
}

fn after_was_run(s: &str) -> Option<String> {
    let i = find_was_run(s)?;
    let tail = s[i..].split_once(" was run: ")?.1;
    let tail = tail
        .trim()
        .trim_start_matches(['"', '\u{201c}'])
        .trim_end_matches('.')
        .trim_end_matches(['"', '\u{201d}'])
        .trim_end_matches('.');
    Some(tail.to_string())
}

fn push_cmd(cmd: &mut String, line: &str) {
    let t = line.trim();
    if t.is_empty() || cmd.len() > 4096 {
        return;
    }
    if !cmd.is_empty() {
        cmd.push('\n');
    }
    cmd.push_str(t);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "[02/12/2012 21:10:01.0001] [0] **********************************************
[02/12/2012 21:10:01.0002] [0] Starting Microsoft Exchange Server 2010 Setup
[02/12/2012 21:10:01.0003] [0] **********************************************
[02/12/2012 21:10:01.0010] [0] Setup version: 14.2.247.5.
[02/12/2012 21:10:01.0020] [0] Command Line Parameter Name='mode', Value='Upgrade'.
[02/12/2012 21:15:40.0000] [1] Beginning processing Install-BridgeheadRole
[02/12/2012 21:15:49.0269] [1] [ERROR] The following error was generated when \"$error.Clear();
          if (get-service MSExchangeServiceHost* | where {$_.name -eq \"MSExchangeServiceHost\"})
          {
            restart-service MSExchangeServiceHost
          }
        \" was run: \"Service 'Microsoft Exchange Service Host (MSExchangeServiceHost)' cannot be started due to the following error: Cannot start service MSExchangeServiceHost on computer '.'.\".
[02/12/2012 21:15:49.0269] [1] [ERROR] Service 'Microsoft Exchange Service Host (MSExchangeServiceHost)' cannot be started due to the following error: Cannot start service MSExchangeServiceHost on computer '.'.
[02/12/2012 21:15:49.0269] [1] [ERROR] Cannot start service MSExchangeServiceHost on computer '.'.
[02/12/2012 21:15:49.0269] [1] [ERROR] The service cannot be started, either because it is disabled or because it has no enabled devices associated with it
[02/12/2012 21:15:49.0270] [1] [ERROR-REFERENCE] Id=BridgeheadRoleSetterComponent___115c1108e99e4560bd2c03c0fec99908 Component=EXCHANGE14:\\Current\\Release\\Shared\\Datacenter\\Setup
[02/12/2012 21:15:49.0270] [1] Setup is stopping now because of one or more critical errors.
[02/12/2012 21:15:49.0270] [1] Finished executing component tasks.
[02/12/2012 21:15:49.0321] [1] Ending processing Install-BridgeheadRole
[02/12/2012 22:19:30.0147] [0] End of Setup
[02/12/2012 22:19:30.0147] [0] **********************************************
";

    fn run(text: &str) -> Sink {
        let mut sink = Sink::default();
        let mut r = text.as_bytes();
        parse_reader(&mut r, "setup/ExchangeSetup.log", 1 << 20, None, &mut sink).unwrap();
        sink
    }

    #[test]
    fn groups_the_seed_error_block() {
        let sink = run(SEED);
        let err = sink
            .facts
            .iter()
            .find_map(|f| match &f.kind {
                FactKind::SetupError(e) => Some(e),
                _ => None,
            })
            .unwrap();
        assert_eq!(err.task.as_deref(), Some("Install-BridgeheadRole"));
        assert!(err.critical);
        assert_eq!((err.first_line, err.last_line), (7, 16));
        assert!(
            err.command
                .as_deref()
                .unwrap()
                .contains("restart-service MSExchangeServiceHost")
        );
        assert!(
            err.messages
                .iter()
                .any(|m| m.contains("because it is disabled"))
        );
        assert!(
            err.reference_id
                .as_deref()
                .unwrap()
                .starts_with("BridgeheadRoleSetterComponent")
        );
        assert!(err.component.as_deref().unwrap().starts_with("EXCHANGE14:"));
        let run = sink
            .facts
            .iter()
            .find_map(|f| match &f.kind {
                FactKind::SetupRun(r) => Some(r),
                _ => None,
            })
            .unwrap();
        assert_eq!(run.version.as_deref(), Some("14.2.247.5"));
        assert_eq!(run.mode.as_deref(), Some("Upgrade"));
        assert_eq!(run.outcome, RunOutcome::Failed);
        assert_eq!(run.failed_task.as_deref(), Some("Install-BridgeheadRole"));
        assert!(run.is_last);
    }

    #[test]
    fn cmdlets_at_level_two_do_not_hide_the_step() {
        let log = "[01/01/2020 10:00:00.0000] [0] Starting Microsoft Exchange Server 2016 Setup\n\
                   [01/01/2020 10:00:01.0000] [1] Beginning processing Install-MailboxRole\n\
                   [01/01/2020 10:00:02.0000] [2] Beginning processing Set-LocalPermissions\n\
                   [01/01/2020 10:00:03.0000] [2] Ending processing Set-LocalPermissions\n\
                   [01/01/2020 10:00:04.0000] [1] [ERROR] boom\n\
                   [01/01/2020 10:00:05.0000] [1] Setup is stopping now because of one or more critical errors.\n";
        let sink = run(log);
        let task = sink.facts.iter().find_map(|f| match &f.kind {
            FactKind::SetupError(e) => e.task.clone(),
            _ => None,
        });
        assert_eq!(task.as_deref(), Some("Install-MailboxRole"));
    }

    #[test]
    fn run_without_end_marker_is_interrupted() {
        let log = "[01/01/2020 10:00:00.0000] [0] Starting Microsoft Exchange Server 2016 Setup\n\
                   [01/01/2020 10:00:01.0000] [0] Setup version: 15.1.2106.2.\n";
        let sink = run(log);
        let FactKind::SetupRun(r) = &sink.facts[0].kind else {
            panic!()
        };
        assert_eq!(r.outcome, RunOutcome::Interrupted);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let mut sink = Sink::default();
        let mut r: &[u8] = b"\x00\x01\x02garbage\nmore";
        let e =
            parse_reader(&mut r, "setup/ExchangeSetup.log", 1 << 20, None, &mut sink).unwrap_err();
        assert!(e.to_string().contains("setup log"));
    }

    #[test]
    fn outcome_sentences_are_found_in_any_case() {
        let hay = b"The Exchange Server SETUP Operation Completed Successfully.";
        assert!(contains_ignore_ascii_case(
            hay,
            b"setup operation completed successfully"
        ));
        assert!(!contains_ignore_ascii_case(
            b"setup operation",
            b"setup operation completed"
        ));
        assert!(!contains_ignore_ascii_case(b"", b"s"));
        assert!(
            OUTCOME_FAILED[0]
                .find(b"x setup operation didn't complete")
                .is_some()
        );
    }

    #[test]
    fn split_line_rejects_near_misses() {
        assert_eq!(
            split_line("[02/12/2012 21:15:49.0269] [2] x").map(|l| (l.1, l.2)),
            Some((2, "x"))
        );
        assert!(split_line("[2/12/2012 21:15:49.0269] [1] x").is_none());
        assert!(split_line("[02/12/2012 21:15:49.0269] [] x").is_none());
        assert!(split_line("[13/45/2012 21:15:49.0269] [1] x").is_none());
    }
}
