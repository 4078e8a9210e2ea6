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

mod phrases;

use super::LineSet;
use super::setup_stamp::{self, DateOrder, Order, RawDate};
use super::text::LineReader;
use super::{Error, Input, Sink};
use crate::facts::{
    Evidence, Fact, FactKind, Locator, Position, RunOutcome, SetupError, SetupLine, SetupRun, Stamp,
};
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use phrases::*;

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
    interest: Option<&LineSet>,
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
    interest: Option<&'a LineSet>,
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
    fn new(path: &str, interest: Option<&'a LineSet>) -> Self {
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
        } else if outcome_failed(text.as_bytes()) {
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

#[cfg(test)]
mod tests;
