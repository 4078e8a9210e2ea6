//! One clock and one timeline: setup logs are written in the server's local time, EVTX in UTC.
//!
//! The [`Clock`] says which offset turns local setup-log times into UTC and how it was
//! obtained; [`build`] merges every dated fact into one ordered list (the `timeline` command).

use crate::facts::{FactKind, FactSet, Stamp};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::Serialize;

/// How the offset between the setup logs' local time and UTC was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockSource {
    /// `time_zone.utc_offset_minutes` in manifest.json.
    Manifest,
    /// `utc_offset_minutes` in system/host.json.
    HostJson,
    /// Estimated from pairs of facts that must coincide (a setup error and the SCM event for
    /// the same service).
    Estimated,
    /// Nothing said: local time taken as UTC. Cross-file times may be off by hours.
    Assumed,
    /// Given by the analyst (`--utc-offset`), over anything the bundle says.
    Given,
}

#[derive(Debug, Clone, Serialize)]
pub struct Clock {
    /// Local time minus UTC, in minutes.
    pub offset_minutes: i32,
    pub source: ClockSource,
    /// How many fact pairs supported an estimate.
    pub pairs: usize,
}

impl Clock {
    pub fn utc_assumed() -> Self {
        Clock {
            offset_minutes: 0,
            source: ClockSource::Assumed,
            pairs: 0,
        }
    }

    /// A UTC time on the setup logs' local clock: the inverse of [`Self::to_utc`].
    pub fn to_local(&self, t: DateTime<Utc>) -> chrono::NaiveDateTime {
        t.naive_utc() + Duration::minutes(self.offset_minutes as i64)
    }

    /// Whether `stamp` is a local time this clock cannot place in UTC (no offset known): it is
    /// then shown as written, never with a `Z`.
    pub fn unknown_for(&self, stamp: Stamp) -> bool {
        matches!(stamp, Stamp::Local(_)) && self.source == ClockSource::Assumed
    }

    pub fn to_utc(&self, stamp: Stamp) -> DateTime<Utc> {
        match stamp {
            Stamp::Utc(t) => t,
            Stamp::Local(t) => {
                Utc.from_utc_datetime(&(t - Duration::minutes(self.offset_minutes as i64)))
            }
        }
    }

    /// A sentence for the report.
    pub fn describe(&self) -> String {
        let off = format_offset(self.offset_minutes);
        match self.source {
            ClockSource::Manifest => format!("setup-log times converted with UTC{off} from manifest.json"),
            ClockSource::HostJson => format!("setup-log times converted with UTC{off} from system/host.json"),
            ClockSource::Estimated => format!(
                "no offset in the bundle; UTC{off} estimated from {} pair(s) of setup errors and service events that must coincide",
                self.pairs
            ),
            ClockSource::Given => format!("setup-log times converted with UTC{off} given with --utc-offset"),
            ClockSource::Assumed => "no offset in the bundle and nothing to estimate it from: setup-log local times are shown as if UTC".into(),
        }
    }
}

pub fn format_offset(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.abs();
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

/// Chooses the clock: the manifest, then host.json, then an estimate, else UTC assumed.
pub fn choose_clock(manifest_offset: Option<i32>, facts: &FactSet) -> Clock {
    if let Some(m) = manifest_offset {
        return Clock {
            offset_minutes: m,
            source: ClockSource::Manifest,
            pairs: 0,
        };
    }
    let host = facts.iter().find_map(|f| match &f.kind {
        FactKind::Host(h) => h.utc_offset_minutes,
        _ => None,
    });
    if let Some(m) = host {
        return Clock {
            offset_minutes: m,
            source: ClockSource::HostJson,
            pairs: 0,
        };
    }
    estimate(facts).unwrap_or_else(Clock::utc_assumed)
}

/// Estimates the offset from setup errors naming a service and SCM 7000/7001/7009 events for the
/// same service: each pair votes for (local − UTC) rounded to 15 minutes; the most common wins.
fn estimate(facts: &FactSet) -> Option<Clock> {
    use std::collections::BTreeMap;
    // offset → (pairs, summed distance in seconds from the exact offset)
    let mut votes: BTreeMap<i64, (usize, i64)> = BTreeMap::new();
    for (ef, err) in facts.setup_errors() {
        let Some(Stamp::Local(local)) = ef.time else {
            continue;
        };
        let mut texts: Vec<&str> = err.messages.iter().map(String::as_str).collect();
        if let Some(c) = &err.command {
            texts.push(c);
        }
        let Some(service) = crate::rules::services::service_in(&texts) else {
            continue;
        };
        let display = facts
            .service(&service)
            .map(|(_, s)| s.display_name.clone())
            .unwrap_or_default();
        for (evf, ev) in facts.events() {
            if !matches!(ev.event_id, 7000 | 7001 | 7009 | 7011 | 7023 | 7024) {
                continue;
            }
            let Some(Stamp::Utc(utc)) = evf.time else {
                continue;
            };
            let p1 = ev.data.get("param1").map(String::as_str).unwrap_or("");
            let p2 = ev.data.get("param2").map(String::as_str).unwrap_or("");
            let about = [p1, p2].iter().any(|p| {
                p.eq_ignore_ascii_case(&service)
                    || (!display.is_empty() && p.eq_ignore_ascii_case(&display))
            });
            if !about {
                continue;
            }
            let diff = (local - utc.naive_utc()).num_seconds();
            // Offsets lie within ±14 h; a pair further apart belongs to another attempt.
            if diff.abs() > 14 * 3600 + 600 {
                continue;
            }
            // Time zones are whole quarter hours; coinciding facts are seconds apart.
            let rounded = ((diff as f64) / 900.0).round() as i64 * 900;
            let residual = (diff - rounded).abs();
            if residual <= 120 {
                let v = votes.entry(rounded / 60).or_default();
                v.0 += 1;
                v.1 += residual;
            }
        }
    }
    let (offset, (pairs, _)) = votes
        .into_iter()
        .max_by_key(|(o, (n, residual))| (*n, -residual, -o.abs()))?;
    Some(Clock {
        offset_minutes: offset as i32,
        source: ClockSource::Estimated,
        pairs,
    })
}

/// One line of the merged timeline: Timesketch's columns, a locator, the event's own fields
/// (Hayabusa's columns) and the findings that cite it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TimelineEntry {
    /// UTC; for a local time whose offset is unknown, the local time itself (see `local`).
    pub datetime: DateTime<Utc>,
    /// A setup-log local time that no offset could turn into UTC: written without `Z`.
    #[serde(default)]
    pub local: bool,
    pub timestamp_desc: String,
    pub message: String,
    pub source: String,
    pub locator: String,
    #[serde(default)]
    pub event_id: Option<u32>,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub record_id: Option<u64>,
    #[serde(default)]
    pub computer: String,
    /// Ids of the findings whose evidence is this row, `;`-separated.
    #[serde(default)]
    pub tag: String,
}

/// Every dated fact, ordered by time then locator (then content, so ties always come out in
/// the same order).
pub fn build(facts: &FactSet, clock: &Clock) -> Vec<TimelineEntry> {
    let mut out = Vec::new();
    for f in facts.iter() {
        entries_of(f, clock, &mut out);
    }
    out.sort_by(order);
    out
}

/// One timeline row, borrowed: from a [`TimelineEntry`], from an event fact as it is read, or
/// from a packed run entry (`export`), so that millions of rows are compared and written
/// without a string of their own each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row<'a> {
    pub datetime: DateTime<Utc>,
    pub local: bool,
    pub timestamp_desc: &'a str,
    pub message: &'a str,
    pub source: &'a str,
    pub locator: &'a str,
    pub event_id: Option<u32>,
    pub channel: &'a str,
    pub provider: &'a str,
    pub record_id: Option<u64>,
    pub computer: &'a str,
    pub tag: &'a str,
}

impl TimelineEntry {
    pub fn row(&self) -> Row<'_> {
        Row {
            datetime: self.datetime,
            local: self.local,
            timestamp_desc: &self.timestamp_desc,
            message: &self.message,
            source: &self.source,
            locator: &self.locator,
            event_id: self.event_id,
            channel: &self.channel,
            provider: &self.provider,
            record_id: self.record_id,
            computer: &self.computer,
            tag: &self.tag,
        }
    }
}

impl Row<'_> {
    pub fn to_entry(&self) -> TimelineEntry {
        TimelineEntry {
            datetime: self.datetime,
            local: self.local,
            timestamp_desc: self.timestamp_desc.into(),
            message: self.message.into(),
            source: self.source.into(),
            locator: self.locator.into(),
            event_id: self.event_id,
            channel: self.channel.into(),
            provider: self.provider.into(),
            record_id: self.record_id,
            computer: self.computer.into(),
            tag: self.tag.into(),
        }
    }
}

/// The order of the timeline: by time, then locator, then content, down to the last column,
/// so that the output never depends on which thread read what first.
pub fn order(a: &TimelineEntry, b: &TimelineEntry) -> std::cmp::Ordering {
    order_rows(&a.row(), &b.row())
}

/// [`order`], of rows.
pub fn order_rows(a: &Row<'_>, b: &Row<'_>) -> std::cmp::Ordering {
    (a.datetime, a.locator, a.timestamp_desc, a.message)
        .cmp(&(b.datetime, b.locator, b.timestamp_desc, b.message))
        .then_with(|| {
            (
                a.source,
                a.event_id,
                a.channel,
                a.provider,
                a.record_id,
                a.computer,
                a.tag,
                a.local,
            )
                .cmp(&(
                    b.source,
                    b.event_id,
                    b.channel,
                    b.provider,
                    b.record_id,
                    b.computer,
                    b.tag,
                    b.local,
                ))
        })
}

/// The row of an event fact, borrowed from it. `locator` and `message` are the caller's
/// buffers, reused from event to event; the message is the fact's excerpt when that was not
/// clipped (both are [`crate::parse::evtx::excerpt`] of a single event), else built again
/// whole. `None` for a fact that is not a dated event.
pub fn event_row<'a>(
    f: &'a crate::facts::Fact,
    clock: &Clock,
    locator: &'a mut String,
    message: &'a mut String,
) -> Option<Row<'a>> {
    let (Some(t), FactKind::Event(e)) = (f.time, &f.kind) else {
        return None;
    };
    use std::fmt::Write;
    locator.clear();
    let _ = write!(locator, "{}", f.evidence.locator);
    let whole = e.repeats.is_none()
        && f.evidence.excerpt.chars().count() < crate::facts::Evidence::MAX_EXCERPT;
    let message: &str = if whole {
        &f.evidence.excerpt
    } else {
        *message = crate::parse::evtx::excerpt(e);
        message
    };
    Some(Row {
        datetime: clock.to_utc(t),
        local: clock.unknown_for(t),
        timestamp_desc: "Event logged",
        message,
        source: "EVTX",
        locator,
        event_id: Some(e.event_id),
        channel: &e.channel,
        provider: &e.provider,
        record_id: Some(e.record_id),
        computer: &e.computer,
        tag: "",
    })
}

/// The timeline entries of one fact: none if it has no time, two for a run with an end.
/// Messages are whole (not the report's 300-character excerpts) and say their header once.
pub fn entries_of(f: &crate::facts::Fact, clock: &Clock, out: &mut Vec<TimelineEntry>) {
    let Some(t) = f.time else { return };
    let dated = |stamp: Stamp| (clock.to_utc(stamp), clock.unknown_for(stamp));
    let setup = |desc: &str, stamp: Stamp, message: String| {
        let (datetime, local) = dated(stamp);
        TimelineEntry {
            datetime,
            local,
            timestamp_desc: desc.into(),
            message,
            source: "ExchangeSetup.log".into(),
            locator: f.evidence.locator.to_string(),
            ..Default::default()
        }
    };
    let entry = match &f.kind {
        FactKind::SetupRun(r) => {
            if let Some(end) = r.end {
                out.push(setup(
                    "Setup run ended",
                    Stamp::Local(end),
                    format!(
                        "Exchange {} setup {} ended: {:?}",
                        r.product,
                        r.version.as_deref().unwrap_or("?"),
                        r.outcome
                    ),
                ));
            }
            setup(
                "Setup run started",
                t,
                format!(
                    "Exchange {} setup {} started (mode {})",
                    r.product,
                    r.version.as_deref().unwrap_or("?"),
                    r.mode.as_deref().unwrap_or("?")
                ),
            )
        }
        FactKind::SetupError(e) => {
            let text = if e.messages.is_empty() {
                f.evidence.excerpt.clone()
            } else {
                format!("[ERROR] {}", e.messages.join(" "))
            };
            let message = match &e.task {
                Some(task) => format!("{task}: {text}"),
                None => text,
            };
            setup("Setup error", t, message)
        }
        FactKind::SetupLine(l) => setup(setup_line_desc(&l.text), t, l.text.clone()),
        FactKind::Event(_) => {
            let (mut locator, mut message) = (String::new(), String::new());
            match event_row(f, clock, &mut locator, &mut message) {
                Some(row) => row.to_entry(),
                None => return,
            }
        }
        _ => {
            let (datetime, local) = dated(t);
            TimelineEntry {
                datetime,
                local,
                timestamp_desc: "Recorded".into(),
                message: f.evidence.excerpt.clone(),
                source: "bundle".into(),
                locator: f.evidence.locator.to_string(),
                ..Default::default()
            }
        }
    };
    out.push(entry);
}

/// What a kept setup-log line marks.
fn setup_line_desc(text: &str) -> &'static str {
    const KINDS: &[(&str, &str)] = &[
        ("Beginning processing ", "Setup task started"),
        ("Ending processing ", "Setup task ended"),
        ("[WARNING]", "Setup warning"),
        ("Failed [Rule:", "Setup prerequisite failed"),
        ("Evaluated [Rule:", "Setup prerequisite checked"),
        ("Setup is stopping now", "Setup stopped"),
    ];
    KINDS
        .iter()
        .find(|(start, _)| text.starts_with(start))
        .map_or("Setup log line", |(_, desc)| desc)
}

/// The setup-log lines `exhume timeline` shows besides those the rules ask for: tasks begun and
/// ended, warnings, prerequisite checks and setup stopping.
pub const TIMELINE_SETUP_LINES: &[&str] = &[
    r"^Beginning processing ",
    r"^Ending processing ",
    r"^\[WARNING\]",
    r"^Failed \[Rule:",
    r"^Evaluated \[Rule:",
    r"^Setup is stopping now",
    r"^The following \d+ error\(s\) occurred",
];

/// A setup error and an event close to it in time that concern the same thing.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TimeLink {
    pub setup_error: String,
    pub event: String,
    /// Event time minus error time.
    pub delta_seconds: i64,
    /// The name both mention (service, DLL, app pool, file).
    pub about: String,
}

/// Names a setup error is about: service key and display names, DLLs, app pools.
fn error_tokens(facts: &FactSet, texts: &[&str]) -> Vec<String> {
    use regex::Regex;
    use std::sync::LazyLock;
    static NAMES: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b([A-Za-z0-9_.-]+\.dll|[A-Za-z0-9]+AppPool|MSExchange[A-Za-z0-9]+|msftesql-Exchange|W3SVC|WAS|IISADMIN|WinRM)\b")
            .expect("static regex")
    });
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        if s.len() >= 3 && !out.iter().any(|o| o.eq_ignore_ascii_case(s)) {
            out.push(s.to_string());
        }
    };
    for t in texts {
        for c in NAMES.captures_iter(t) {
            push(&c[1]);
        }
    }
    if let Some(service) = crate::rules::services::service_in(texts) {
        if let Some((_, s)) = facts.service(&service) {
            push(&s.display_name);
        }
        push(&service);
    }
    out
}

/// Links every setup `[ERROR]` to the events within `window` of it that name the same service,
/// DLL, app pool or file. The error's time is converted with `clock`.
pub fn link_errors_to_events(facts: &FactSet, clock: &Clock, window: Duration) -> Vec<TimeLink> {
    let mut events: Vec<(DateTime<Utc>, &crate::facts::Fact, String)> = facts
        .events()
        .filter_map(|(f, e)| {
            let t = clock.to_utc(f.time?);
            Some((t, f, format!("{} {}", e.provider, e.text()).to_lowercase()))
        })
        .collect();
    let order: std::collections::HashMap<*const crate::facts::Fact, usize> = events
        .iter()
        .enumerate()
        .map(|(i, (_, f, _))| (*f as *const _, i))
        .collect();
    // By time, so each error looks only at the events inside its window: a log of years of
    // runs has thousands of errors, and thousands of events were compared with each.
    events.sort_by_key(|(t, ..)| *t);
    let mut links = Vec::new();
    for (ef, err) in facts.setup_errors() {
        let Some(t) = ef.time.map(|t| clock.to_utc(t)) else {
            continue;
        };
        let mut texts: Vec<&str> = err.messages.iter().map(String::as_str).collect();
        if let Some(c) = &err.command {
            texts.push(c);
        }
        let tokens = error_tokens(facts, &texts);
        if tokens.is_empty() {
            continue;
        }
        let lower: Vec<String> = tokens.iter().map(|t| t.to_lowercase()).collect();
        let first = events.partition_point(|(et, ..)| *et < t - window);
        let mut found: Vec<(usize, TimeLink)> = Vec::new();
        for (et, f, text) in events[first..]
            .iter()
            .take_while(|(et, ..)| *et <= t + window)
        {
            if let Some(i) = lower.iter().position(|tok| text.contains(tok.as_str())) {
                let link = TimeLink {
                    setup_error: ef.evidence.locator.to_string(),
                    event: f.evidence.locator.to_string(),
                    delta_seconds: (*et - t).num_seconds(),
                    about: tokens[i].clone(),
                };
                found.push((order[&(*f as *const _)], link));
            }
        }
        // In the order the events were found in, as before the window search.
        found.sort_by_key(|(i, _)| *i);
        links.extend(found.into_iter().map(|(_, l)| l));
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Event, Evidence, Fact, Locator, Position};
    use crate::rules::testing::{SEED_FAILED_RUN, facts_from_log, push, with_service};
    use chrono::NaiveDate;

    /// SCM 7000 for the service host, `offset_min` after the seed error (21:15:49 local) taken
    /// at UTC+11.
    fn scm_7000(record: u64, minutes_after: i64) -> Fact {
        let local = NaiveDate::from_ymd_opt(2012, 2, 12)
            .unwrap()
            .and_hms_milli_opt(21, 15, 50, 0)
            .unwrap();
        let utc = Utc.from_utc_datetime(
            &(local - Duration::minutes(660) + Duration::minutes(minutes_after)),
        );
        let mut data = std::collections::BTreeMap::new();
        data.insert(
            "param1".to_string(),
            "Microsoft Exchange Service Host".to_string(),
        );
        data.insert("param2".to_string(), "%%1058".to_string());
        Fact {
            time: Some(Stamp::Utc(utc)),
            evidence: Evidence::new(
                Locator::new("evtx/System.evtx", Position::Record(record)),
                "7000",
            ),
            kind: FactKind::Event(Event {
                repeats: None,
                channel: "System".into(),
                provider: "Service Control Manager".into(),
                event_id: 7000,
                qualifiers: Some(49152),
                level: 2,
                record_id: record,
                computer: "EX01".into(),
                data,
            }),
        }
    }

    fn seed_with_events() -> FactSet {
        let mut f = with_service(
            facts_from_log(SEED_FAILED_RUN),
            "MSExchangeServiceHost",
            "Disabled",
        );
        // The testing helper names the display name after the key; use the real one.
        if let Some(FactKind::Service(s)) = f.facts.last_mut().map(|x| &mut x.kind) {
            s.display_name = "Microsoft Exchange Service Host".into();
        }
        let f = push(f, scm_7000(10, 0));
        push(f, scm_7000(11, 23))
    }

    #[test]
    fn offset_is_estimated_from_coinciding_facts() {
        let c = choose_clock(None, &seed_with_events());
        assert_eq!(c.source, ClockSource::Estimated);
        assert_eq!(c.offset_minutes, 660);
        assert!(c.describe().contains("UTC+11:00 estimated"));
        // Without events there is nothing to estimate from.
        let bare = choose_clock(None, &facts_from_log(SEED_FAILED_RUN));
        assert_eq!(bare.source, ClockSource::Assumed);
        // A manifest offset wins.
        assert_eq!(
            choose_clock(Some(60), &seed_with_events()).source,
            ClockSource::Manifest
        );
    }

    #[test]
    fn errors_link_only_to_nearby_events_about_the_same_thing() {
        let facts = seed_with_events();
        let clock = Clock {
            offset_minutes: 660,
            source: ClockSource::Manifest,
            pairs: 0,
        };
        let links = link_errors_to_events(&facts, &clock, Duration::minutes(5));
        assert_eq!(links.len(), 1, "{links:#?}");
        assert!(links[0].event.ends_with("record 10"));
        assert!(links[0].delta_seconds.abs() <= 5);
        // With a wider window the later one is linked too.
        assert_eq!(
            link_errors_to_events(&facts, &clock, Duration::minutes(30)).len(),
            2
        );
        // With the wrong clock nothing lines up.
        assert!(
            link_errors_to_events(&facts, &Clock::utc_assumed(), Duration::minutes(5)).is_empty()
        );
    }
}
