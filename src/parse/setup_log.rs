//! `ExchangeSetup.log`: setup runs, their outcome, and `[ERROR]` blocks with their context.
//!
//! Setup writes `[MM/DD/YYYY HH:MM:SS.ffff] [N] text` (server local time, `N` the nesting
//! level) with the server's date separators; copies of the log lose parts of that prefix
//! (`setup_stamp` reads every form). Lines without a prefix continue the previous one. One file
//! holds every run ever made on the server, oldest first, each opened by a `Starting Microsoft
//! Exchange Server … Setup` banner; a log that begins after that banner (the collector keeps
//! only the newest part of a huge log, administrators quote only the failing task) is read as
//! a run whose start is unknown. Setup's console and wizard text (`The following error was
//! generated when "$error.Clear(); …" was run: "…"`, `Failed [Rule:…]` lines) has no prefix
//! at all and is read as a best-effort run. The file is streamed: memory holds one run's
//! state, not the file.

use super::setup_stamp::{self, DateOrder, Order, RawDate};
use super::text::LineReader;
use super::{Error, Input, Sink};
use crate::facts::{
    Evidence, Fact, FactKind, Locator, Position, RunOutcome, SetupError, SetupLine, SetupRun, Stamp,
};
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use regex::RegexSet;

/// More error blocks than this in one run are counted, not kept: a real run stops long before.
const MAX_ERRORS_PER_RUN: usize = 500;

/// How many of a refused file's first lines its error message quotes.
const QUOTED_LINES: usize = 3;

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
    let first_fact = sink.facts.len();
    let mut state = State::new(path, interest);
    let mut head: Vec<String> = Vec::new();
    while let Some((n, line)) = lines.next_line().map_err(Error::from_io)? {
        if head.len() < QUOTED_LINES && !line.trim().is_empty() {
            head.push(clip(line.trim(), 60));
        }
        let mut entry = line;
        match setup_stamp::prefix(entry) {
            None => state.on_unstamped(n, line, sink),
            Some(mut p) => loop {
                // Forum copies join entries: `[date] [1] [ERROR] a. [date] [1] [ERROR-REFERENCE] …`.
                let text = &entry[p.text_at..];
                let (text, next) = match setup_stamp::joined_entry(text) {
                    Some(i) => (text[..i].trim_end(), Some(&text[i..])),
                    None => (text, None),
                };
                state.order.see(p.date);
                if state.zone.is_none()
                    && let Some(z) = text.strip_prefix("Local time zone: ")
                {
                    state.zone = Some(clip(z.trim().trim_end_matches('.'), 80));
                }
                if matches!(p.date, RawDate::Ambiguous { first, second, .. } if first != second) {
                    state.example.get_or_insert(p.date);
                }
                state.year_first |= matches!(p.date, RawDate::YearFirst { .. });
                let time = setup_stamp::time_of(&p, Order::MonthFirst);
                state.stamped += 1;
                state.on_line(n, time, p.level.unwrap_or(1), text, sink);
                match next.and_then(|s| setup_stamp::prefix(s).map(|q| (s, q))) {
                    Some((s, q)) => (entry, p) = (s, q),
                    None => break,
                }
            },
        }
    }
    let total = lines.line_no;
    let decision = state.order.decide();
    let note = decision.note(state.example, state.zone.as_deref());
    let day_first = decision.order == Order::DayFirst && !state.year_first;
    let runs = state.finish(total, note, sink);
    if day_first {
        read_day_first(&mut sink.facts[first_fact..]);
    }
    lines.report(path, sink);
    if runs == 0 {
        let found = if head.is_empty() {
            "it holds no text".to_string()
        } else {
            format!("its first lines hold {}", head.join(" / "))
        };
        return Err(Error::format(
            "an Exchange setup log",
            format!(
                "expected `[MM/DD/YYYY HH:MM:SS.ffff] [N] …` lines, a `Starting Microsoft Exchange Server … Setup` header or setup's error text (`The following error was generated when …`, `Failed [Rule:…]`); {found}"
            ),
        ));
    }
    Ok(())
}

/// Dates were read month first while the file was streamed; the whole file says day first.
fn read_day_first(facts: &mut [Fact]) {
    let swap = |t: &mut NaiveDateTime| {
        // A day above 12 was already read day first (it cannot be a month).
        if t.day() <= 12
            && let Some(d) = NaiveDate::from_ymd_opt(t.year(), t.day(), t.month())
        {
            *t = d.and_time(t.time());
        }
    };
    for f in facts {
        if let Some(Stamp::Local(t)) = f.time.as_mut() {
            swap(t);
        }
        if let FactKind::SetupRun(r) = &mut f.kind {
            r.start.as_mut().map(swap);
            r.end.as_mut().map(swap);
        }
    }
}

/// `s` cut to `max` characters, control characters shown as spaces: a refused file's first
/// lines are quoted in an error message and may hold anything.
fn clip(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    format!("`{}`", out.replace('`', "'"))
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
    time: Option<NaiveDateTime>,
    /// The `The following error was generated when "…` command is still being read.
    in_command: bool,
    /// Index in `messages` of the text after `" was run: "`, and its first line.
    was_run: Option<(usize, u64)>,
}

struct State<'a> {
    path: String,
    interest: Option<&'a RegexSet>,
    run: Option<OpenRun>,
    error: Option<OpenError>,
    next_index: usize,
    last_time: Option<NaiveDateTime>,
    /// Runs are emitted when the file ends; the last one is marked `is_last`.
    finished: Vec<(SetupRun, String)>,
    /// What the dates say about day and month order, and one date that depends on it.
    order: DateOrder,
    example: Option<RawDate>,
    /// The run's `Local time zone` line, named in the note when the order is assumed.
    zone: Option<String>,
    year_first: bool,
    stamped: u64,
    /// `[ERROR]` blocks not kept for [`MAX_ERRORS_PER_RUN`].
    errors_dropped: u64,
}

impl<'a> State<'a> {
    fn new(path: &str, interest: Option<&'a RegexSet>) -> Self {
        State {
            path: path.to_string(),
            interest,
            run: None,
            error: None,
            next_index: 0,
            last_time: None,
            finished: Vec::new(),
            order: DateOrder::default(),
            example: None,
            zone: None,
            year_first: false,
            stamped: 0,
            errors_dropped: 0,
        }
    }

    /// Keeps `text` as a line the rules asked for, if one of their patterns matches it.
    fn keep_if_wanted(&self, n: u64, text: &str, sink: &mut Sink) {
        let Some(set) = self.interest else { return };
        if !set.is_match(text) {
            return;
        }
        sink.push(Fact {
            time: self.last_time.map(Stamp::Local),
            evidence: Evidence::new(Locator::line(&self.path, n), text),
            kind: FactKind::SetupLine(SetupLine {
                run: self.run.as_ref().map(|r| r.run.index),
                line: n,
                text: text.to_string(),
            }),
        });
    }

    fn open_run(&mut self, n: u64, time: Option<NaiveDateTime>, product: Option<String>) {
        self.run = Some(OpenRun {
            run: SetupRun {
                index: self.next_index,
                header: product.is_some(),
                product: product.unwrap_or_default(),
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
                notes: Vec::new(),
            },
            banner: String::new(),
            current_task: None,
            last_task: None,
            errors_kept: 0,
        });
        self.next_index += 1;
    }

    /// A line without a prefix: setup's console text, a line quoted without its prefix, or
    /// the continuation of the line above.
    fn on_unstamped(&mut self, n: u64, line: &str, sink: &mut Sink) {
        let in_command = self.error.as_ref().is_some_and(|e| e.in_command);
        let text = line.trim();
        if !in_command {
            if let Some(product) = banner_product(text).or_else(|| console_banner(text)) {
                self.on_banner(n, None, product, text, sink);
                return;
            }
            if standalone(text) {
                self.on_line(n, None, 1, text, sink);
                return;
            }
            if is_error_text(text) {
                self.on_error_line(n, None, text, sink);
                // Matched as setup's own `[ERROR]` line would be.
                self.keep_if_wanted(n, &format!("[ERROR] {text}"), sink);
                return;
            }
            // A message's continuation (a stack trace, a wrapped line) is offered to the
            // rules too; a command's script is not: it names what setup does, not what failed.
            self.keep_if_wanted(n, text, sink);
        }
        self.on_continuation(n, line);
    }

    fn on_banner(
        &mut self,
        n: u64,
        time: Option<NaiveDateTime>,
        product: String,
        text: &str,
        sink: &mut Sink,
    ) {
        self.close_error(sink);
        // A console banner right after a run opened by its own header line belongs to it.
        if let Some(open) = self.run.as_mut()
            && open.run.error_count == 0
            && open.run.last_line + 1 >= n
            && !open.run.header
        {
            open.run.header = true;
            open.run.product = product;
            open.banner = text.to_string();
            return;
        }
        self.close_run();
        self.open_run(n, time, Some(product));
        if let Some(open) = self.run.as_mut() {
            open.banner = text.to_string();
        }
    }

    fn on_line(
        &mut self,
        n: u64,
        time: Option<NaiveDateTime>,
        level: u8,
        text: &str,
        sink: &mut Sink,
    ) {
        if time.is_some() {
            self.last_time = time;
        }
        if let Some(product) = banner_product(text) {
            self.on_banner(n, time, product, text, sink);
            return;
        }
        if self.run.is_none() {
            self.open_run(n, time, None);
        }
        if let Some(open) = self.run.as_mut()
            && open.run.start.is_none()
        {
            open.run.start = time;
        }
        self.keep_if_wanted(n, text, sink);

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
            self.on_error_line(n, time, msg.trim(), sink);
            return;
        }
        // Any other line with a prefix ends an error block.
        self.close_error(sink);

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
            open.run.end = time;
            if open.run.outcome == RunOutcome::Interrupted {
                open.run.outcome = RunOutcome::Ended;
            }
        } else if text.starts_with("The previous errors were generated by a non-critical task") {
            self.mark_last_error_noncritical(sink);
        }
    }

    fn on_error_line(&mut self, n: u64, time: Option<NaiveDateTime>, msg: &str, sink: &mut Sink) {
        if self.run.is_none() {
            self.open_run(n, time, None);
        }
        let Some(open) = self.run.as_mut() else {
            return;
        };
        open.run.last_line = n;
        // Console text repeats no `[ERROR]` marker: a new `The following error…` is a new error.
        if command_start(msg).is_some()
            && self.error.as_ref().is_some_and(|e| e.err.command.is_some())
        {
            self.close_error(sink);
        }
        let Some(open) = self.run.as_mut() else {
            return;
        };
        if self.error.is_none() {
            open.run.error_count += 1;
            if open.errors_kept >= MAX_ERRORS_PER_RUN {
                self.errors_dropped += 1;
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
                time: time.or(self.last_time),
                in_command: false,
                was_run: None,
            });
        }
        let Some(e) = self.error.as_mut() else {
            return;
        };
        e.err.last_line = n;
        if let Some((cmd, ended)) = command_start(msg) {
            e.in_command = !ended;
            e.err.command = Some(cmd);
            if !e.in_command
                && let Some(tail) = after_was_run(msg)
            {
                e.was_run = Some((e.err.messages.len(), n));
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
            if let Some((i, _)) = find_was_run(line) {
                push_cmd(cmd, &line[..i]);
                e.in_command = false;
                if let Some(tail) = after_was_run(line) {
                    e.was_run = Some((e.err.messages.len(), n));
                    e.err.messages.push(tail);
                }
            } else {
                push_cmd(cmd, line);
            }
        } else if let Some(last) = e.err.messages.last_mut()
            && !line.trim().is_empty()
            && last.len() < 4096
        {
            if !last.is_empty() {
                last.push(' ');
            }
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

    fn close_error(&mut self, sink: &mut Sink) {
        let Some(mut open) = self.error.take() else {
            return;
        };
        // The message setup gave after `was run:` is offered to the rules as setup's own
        // `[ERROR]` line would be (console text and excerpts often hold only this), with and
        // without the exception type it starts with.
        if let Some((i, line)) = open.was_run
            && let Some(m) = open.err.messages.get_mut(i)
        {
            *m = unquote(m).to_string();
            let whole = format!("[ERROR] {m}");
            self.keep_if_wanted(line, &whole, sink);
            if let Some(bare) = without_exception_type(m) {
                self.keep_if_wanted(line, &format!("[ERROR] {bare}"), sink);
            }
        }
        let err = open.err;
        let excerpt = err
            .messages
            .iter()
            .rev()
            .find(|m| !m.is_empty())
            .cloned()
            .unwrap_or_default();
        sink.push(Fact {
            time: open.time.map(Stamp::Local),
            evidence: Evidence::new(
                Locator::new(&self.path, Position::Lines(err.first_line, err.last_line)),
                format!("[ERROR] {excerpt}"),
            ),
            kind: FactKind::SetupError(err),
        });
    }

    fn close_run(&mut self) {
        if let Some(open) = self.run.take() {
            self.finished.push((open.run, open.banner));
        }
    }

    /// Emits the runs; returns how many there were.
    fn finish(mut self, total_lines: u64, date_note: Option<String>, sink: &mut Sink) -> usize {
        self.close_error(sink);
        if let Some(open) = self.run.as_mut() {
            open.run.last_line = total_lines;
        }
        self.close_run();
        if self.errors_dropped > 0 {
            let why = format!(
                "{} [ERROR] block(s) beyond the first {MAX_ERRORS_PER_RUN} of a run were counted, not read",
                self.errors_dropped
            );
            sink.problem(&self.path, why.clone());
            sink.absorbed(why);
        }
        let count = self.finished.len();
        for (i, (mut run, banner)) in self.finished.into_iter().enumerate() {
            run.is_last = i + 1 == count;
            if run.product.is_empty() {
                run.product = super::builds::product(run.version.as_deref()).to_string();
            }
            if run.start.is_none() {
                // Console or wizard text: setup shows it only when a step failed.
                if run.error_count > 0 && run.outcome == RunOutcome::Interrupted {
                    run.outcome = RunOutcome::Failed;
                }
                run.notes.push(
                    "read from setup's console or wizard text: the lines have no time".into(),
                );
            } else if !run.header {
                run.notes.push(
                    "the log begins after this run started (no `Starting Microsoft Exchange Server … Setup` line): its start is unknown".into(),
                );
            }
            if let Some(note) = &date_note {
                run.notes.push(note.clone());
            }
            let excerpt = if banner.is_empty() {
                format!("setup run read from line {}", run.first_line)
            } else {
                banner
            };
            sink.push(Fact {
                time: run.start.map(Stamp::Local),
                evidence: Evidence::new(
                    Locator::new(&self.path, Position::Lines(run.first_line, run.last_line)),
                    excerpt,
                ),
                kind: FactKind::SetupRun(run),
            });
        }
        count
    }
}

/// `Starting Microsoft Exchange Server 2010 Setup` → `2010`.
fn banner_product(text: &str) -> Option<String> {
    let rest = text.strip_prefix("Starting Microsoft Exchange Server ")?;
    let product = rest.strip_suffix(" Setup")?.trim();
    (!product.is_empty()).then(|| product.to_string())
}

/// The unattended console's banner, `Microsoft Exchange Server 2019 Cumulative Update 7
/// Unattended Setup` → `2019`.
fn console_banner(text: &str) -> Option<String> {
    let rest = text.strip_prefix("Microsoft Exchange Server ")?;
    if !rest.ends_with(" Setup") {
        return None;
    }
    let product = rest.split_whitespace().next()?;
    product
        .bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| product.to_string())
}

/// Lines setup writes that stand on their own when quoted without their prefix.
fn standalone(text: &str) -> bool {
    const STARTS: [&str; 8] = [
        "Failed [Rule:",
        "Evaluated [Rule:",
        "[ERROR]",
        "[ERROR-REFERENCE]",
        "[WARNING]",
        "Setup is stopping now because of one or more critical errors",
        "The following 1 error(s) occurred during task execution",
        "Beginning processing ",
    ];
    STARTS.iter().any(|s| text.starts_with(s)) || error_record(text)
}

/// `0. ErrorRecord: …` / `604. ErrorRecord: …`.
fn error_record(text: &str) -> bool {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0
        && text[digits..]
            .strip_prefix('.')
            .is_some_and(|r| r.trim_start().starts_with("ErrorRecord: "))
}

/// Error text of setup's console or wizard without any marker: the start of a failed command,
/// or a service that did not start, in any language (`Service 'FMS' failed to reach status
/// 'Running' on this server.`, `サービス 'MSExchangeTransport' は状態 'Running' に到達できませんでした。`:
/// the service name and status are not translated).
fn is_error_text(text: &str) -> bool {
    command_start(text).is_some() || (text.contains("'Running'") && text.matches('\'').count() >= 4)
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
        Some((j, _)) => Some((body[..j].trim().to_string(), true)),
        None => Some((body.trim().to_string(), false)),
    }
}

/// Where `" was run:` is in `s`: the end of the command and the start of the text after it.
/// Copies lose the quote or retype the words (`Was run: …` on a line of its own).
fn find_was_run(s: &str) -> Option<(usize, usize)> {
    for marker in ["\" was run:", "\u{201d} was run:"] {
        if let Some(i) = s.find(marker) {
            return Some((i, i + marker.len()));
        }
    }
    let t = s.trim_start();
    let lead = s.len() - t.len();
    let head = t.get(..8)?;
    head.eq_ignore_ascii_case("was run:")
        .then_some((lead, lead + 8))
}

fn after_was_run(s: &str) -> Option<String> {
    let (_, at) = find_was_run(s)?;
    Some(unquote(&s[at..]).to_string())
}

/// The message after `was run:` without the quotes and final full stop around it.
fn unquote(s: &str) -> &str {
    s.trim()
        .trim_start_matches(['"', '\u{201c}'])
        .trim_end_matches('.')
        .trim_end_matches(['"', '\u{201d}'])
        .trim_end_matches('.')
        .trim()
}

/// `Microsoft.Exchange.Data.DataValidationException: Database is mandatory…` → the message
/// after the exception type, as setup's own `[ERROR]` line gives it.
fn without_exception_type(m: &str) -> Option<&str> {
    let (ty, rest) = m.split_once(": ")?;
    let is_type = ty.ends_with("Exception") && !ty.contains(' ') && ty.contains('.');
    is_type.then(|| rest.trim())
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

    fn runs_of(sink: &Sink) -> Vec<&SetupRun> {
        sink.facts
            .iter()
            .filter_map(|f| match &f.kind {
                FactKind::SetupRun(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    fn errors_of(sink: &Sink) -> Vec<&SetupError> {
        sink.facts
            .iter()
            .filter_map(|f| match &f.kind {
                FactKind::SetupError(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn kept_lines(text: &str, patterns: &[&str]) -> Vec<(u64, String)> {
        let set = RegexSet::new(patterns).unwrap();
        let mut sink = Sink::default();
        let mut r = text.as_bytes();
        parse_reader(
            &mut r,
            "setup/ExchangeSetup.log",
            1 << 20,
            Some(&set),
            &mut sink,
        )
        .unwrap();
        sink.facts
            .iter()
            .filter_map(|f| match &f.kind {
                FactKind::SetupLine(l) => Some((l.line, l.text.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_log_without_its_header_is_a_run_whose_start_is_unknown() {
        let log = "[01-27-2021 13:40:29.0619] [2] Beginning processing initialize-DomainPermissions\n\
                   [01-27-2021 19:20:41.0882] [1] [ERROR] Failed to create a connection.\n\
                   [01-27-2021 19:20:41.0913] [1] Setup is stopping now because of one or more critical errors.\n\
                   [01-27-2021 19:20:41.0944] [0] End of Setup\n";
        let sink = run(log);
        let runs = runs_of(&sink);
        assert_eq!(runs.len(), 1);
        let r = runs[0];
        assert!(!r.header);
        assert_eq!(
            r.start.map(|t| t.to_string()).as_deref(),
            Some("2021-01-27 13:40:29.061900")
        );
        assert_eq!(r.outcome, RunOutcome::Failed);
        assert!(r.notes.iter().any(|n| n.contains("start is unknown")));
        assert!(errors_of(&sink)[0].critical);
    }

    #[test]
    fn day_first_dates_are_read_day_first_when_the_file_proves_it() {
        let log = "[13.03.2021 10:00:00.0000] [0] Starting Microsoft Exchange Server 2016 Setup\n\
                   [14.03.2021 10:00:00.0000] [1] [ERROR] boom\n";
        let sink = run(log);
        let r = runs_of(&sink)[0];
        assert_eq!(
            r.start.map(|t| t.to_string()).as_deref(),
            Some("2021-03-13 10:00:00")
        );
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        // Nothing proves the order: setup's month-first order, said in the run's notes.
        let log = "[03.10.2021 10:27:33.0852] [1] Installing a new product.\n\
                   [03.10.2021 10:29:41.0997] [1] [ERROR] Installing product failed.\n";
        let sink = run(log);
        let r = runs_of(&sink)[0];
        assert_eq!(
            r.start.map(|t| t.date().to_string()).as_deref(),
            Some("2021-03-10")
        );
        assert!(r.notes.iter().any(|n| n.starts_with("dates read month first (03/10/2021 read as 10 March 2021)")));
        // A European time zone does not make them day first (setup writes month first with the
        // culture's separator); the note names the zone.
        let log = "[03.10.2021 10:27:33.0852] [0] Local time zone: (UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna.\n\
                   [03.10.2021 10:29:41.0997] [1] [ERROR] Installing product failed.\n";
        let sink = run(log);
        let r = runs_of(&sink)[0];
        assert_eq!(
            r.start.map(|t| t.date().to_string()).as_deref(),
            Some("2021-03-10")
        );
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("month first") && n.contains("(UTC+01:00) Amsterdam")),
            "{:?}",
            r.notes
        );
        // Only day-first keeps these lines in time order: 12 Jan, then 1 Feb.
        let log = "[12/01/2021 23:59:00.0000] [0] Starting Microsoft Exchange Server 2019 Setup\n\
                   [01/02/2021 00:01:00.0000] [0] Setup version: 15.2.1118.7.\n";
        let sink = run(log);
        let r = runs_of(&sink)[0];
        assert_eq!(
            r.start.map(|t| t.date().to_string()).as_deref(),
            Some("2021-01-12")
        );
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("day first") && n.contains("time order"))
        );
    }

    #[test]
    fn errors_past_the_cap_are_counted_and_the_log_is_read_in_part() {
        let mut log = String::from(
            "[01/01/2020 10:00:00.0000] [0] Starting Microsoft Exchange Server 2016 Setup\n",
        );
        for i in 0..MAX_ERRORS_PER_RUN + 3 {
            log.push_str(&format!(
                "[01/01/2020 10:00:01.0000] [1] [ERROR] error {i}\n"
            ));
            log.push_str("[01/01/2020 10:00:01.0000] [1] Ending processing x\n");
        }
        let sink = run(&log);
        assert_eq!(errors_of(&sink).len(), MAX_ERRORS_PER_RUN);
        assert_eq!(runs_of(&sink)[0].error_count, MAX_ERRORS_PER_RUN + 3);
        assert!(sink.incomplete.unwrap().starts_with("3 [ERROR] block(s)"));
        // At the cap, nothing is absorbed.
        let sink = run(SEED);
        assert_eq!(sink.incomplete, None);
    }

    #[test]
    fn entries_joined_on_one_line_are_split() {
        let sink = run(
            "[07/01/2020] [1] [ERROR] Database is mandatory on UserMailbox. [07/01/2020] [1] [ERROR-REFERENCE] Id=SystemAttendantDependent___04cc Component=EXCHANGE14:\\Current\n",
        );
        let e = errors_of(&sink);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].messages, ["Database is mandatory on UserMailbox."]);
        assert_eq!(
            e[0].reference_id.as_deref(),
            Some("SystemAttendantDependent___04cc")
        );
    }

    #[test]
    fn lines_without_brackets_or_level_are_read() {
        let log = "[01/24/2021 17:30:48.0403] [2] [ERROR] Length of the access control list exceed the allowed maximum.\n\
                   01/24/2021 17:30:50.0794 The following 1 error(s) occurred during task execution:\n\
                   01/24/2021 17:30:50.0810 [ERROR] The following error was generated when \"$error.Clear();\n\
                   initialize-DomainPermissions\n\
                   \" was run: \"System.OverflowException: Length of the access control list exceed the allowed maximum.\n\
                   at System.Security.AccessControl.RawAcl.InsertAce(Int32 index, GenericAce ace)\".\n\
                   01/24/2021 17:30:50.0810 Setup is stopping now because of one or more critical errors.\n";
        let sink = run(log);
        let e = errors_of(&sink);
        assert_eq!(e.len(), 2);
        assert_eq!(
            e[1].command.as_deref(),
            Some("$error.Clear();\ninitialize-DomainPermissions")
        );
        assert!(e[1].messages[0].starts_with("System.OverflowException: Length"));
        assert!(e[1].messages[0].ends_with("GenericAce ace)"));
        assert!(e[1].critical);
    }

    #[test]
    fn console_text_is_read_as_a_best_effort_run() {
        let text = "Error:\n\
                    The following error was generated when \"$error.Clear();\n\
                    if ($RoleStartTransportService)\n\
                    {\n\
                    start-SetupService -ServiceName FMS\n\
                    }\n\
                    \" was run: \"Service 'FMS' failed to reach status 'Running' on this server.\".\n";
        let sink = run(text);
        let r = runs_of(&sink)[0];
        assert_eq!(
            (r.start, r.header, r.outcome),
            (None, false, RunOutcome::Failed)
        );
        assert!(r.notes.iter().any(|n| n.contains("console")));
        let e = errors_of(&sink);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].command
                .as_deref()
                .unwrap()
                .contains("start-SetupService -ServiceName FMS")
        );
        assert_eq!(
            e[0].messages,
            ["Service 'FMS' failed to reach status 'Running' on this server"]
        );
        // Hard-wrapped console text: the message starts on the line after `was run:`.
        let text = "The following error was generated when \"$error.Clear();\n\
                    New-OwaMailboxPolicy -Name \"Default\"\n\
                    \" was run:\n\
                    \"Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException: Active\n\
                    Directory operation failed. The object 'CN=Default' already exists.\".\n";
        let sink = run(text);
        let e = errors_of(&sink);
        assert_eq!(
            e[0].messages,
            [
                "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException: Active Directory operation failed. The object 'CN=Default' already exists"
            ]
        );
        // Retyped: `Was run:` opening a line, without the quote.
        let text = "The following error was generated when \"$error.Clear();\n\
                    initialize-ExchangeUniversalGroups\n\
                    Was run: Microsoft.Exchange.Data.Directory.SuitabilityDirectoryException: error 0x51\n";
        let e = errors_of(&run(text))
            .into_iter()
            .cloned()
            .collect::<Vec<_>>();
        assert_eq!(
            e[0].command.as_deref(),
            Some("$error.Clear();\ninitialize-ExchangeUniversalGroups")
        );
        assert!(e[0].messages[0].contains("0x51"));
    }

    #[test]
    fn localised_service_text_and_readiness_lines_are_setup_text() {
        let sink =
            run("サービス 'MSExchangeTransport' は状態 'Running' に到達できませんでした。\n失敗\n");
        assert_eq!(runs_of(&sink).len(), 1);
        assert_eq!(errors_of(&sink).len(), 1);
        let sink = run(
            "Failed [Rule:GlobalUpdateRequired] [Message:Global updates need to be made.]\n\
                        Failed [Rule:AdInitErrorRule] [Message:Setup encountered a problem.]\n",
        );
        assert_eq!(runs_of(&sink).len(), 1);
        // A header quoted without its prefix opens the run the stamped lines continue.
        let sink = run("Starting Microsoft Exchange Server 2019 Setup\n\
                        [11.14.2022 17:13:08.0074] [0] **********************************************\n\
                        [11.14.2022 17:13:08.0081] [0] Setup version: 15.2.1118.7.\n");
        let runs = runs_of(&sink);
        assert_eq!(runs.len(), 1);
        assert!(runs[0].header);
        assert_eq!(runs[0].product, "2019");
        assert_eq!(
            runs[0].start.map(|t| t.date().to_string()).as_deref(),
            Some("2022-11-14")
        );
        assert!(runs[0].notes.is_empty(), "{:?}", runs[0].notes);
    }

    #[test]
    fn messages_in_blocks_and_warnings_reach_the_rules() {
        let log = "[03/23/2021 12:45:49.0244] [1] [ERROR] The following error was generated when \"$error.Clear();\n\
                   Get-Mailbox -Arbitration\n\
                   \" was run: \"Microsoft.Exchange.Data.DataValidationException: Database is mandatory on UserMailbox.\n\
                   at Microsoft.Exchange.Data.Directory.X()\".\n\
                   [12/05/2022 12:22:06.0939] [0] [WARNING] Cannot open log for source 'MSExchangeSetup'.\n";
        let kept = kept_lines(
            log,
            &[
                r"^\[ERROR\] Database is mandatory on UserMailbox",
                r"^\[ERROR\] Microsoft\.Exchange\.Data\.DataValidationException: ",
                r"^\[WARNING\] Cannot open log",
                r"^at Microsoft\.Exchange\.Data\.Directory\.X",
            ],
        );
        let mut lines: Vec<u64> = kept.iter().map(|k| k.0).collect();
        lines.sort();
        assert_eq!(lines, [3, 3, 4, 5], "{kept:?}");
    }

    #[test]
    fn a_file_that_is_no_setup_log_is_refused_saying_what_it_holds() {
        let mut sink = Sink::default();
        let mut r: &[u8] = b"Name,Status\nMSExchangeIS,Running\n";
        let e = parse_reader(&mut r, "setup/ExchangeSetup.log", 1 << 20, None, &mut sink)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("expected `[MM/DD/YYYY HH:MM:SS.ffff] [N]"),
            "{e}"
        );
        assert!(e.contains("`Name,Status` / `MSExchangeIS,Running`"), "{e}");
    }
}
