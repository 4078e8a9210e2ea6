//! One clock and one timeline: setup logs are written in the server's local time, EVTX in UTC.
//!
//! The [`Clock`] says which offset turns local setup-log times into UTC and how it was
//! obtained; [`build`] merges every dated fact into one ordered list (the `timeline` command).

mod clock;
mod links;

pub use clock::{Clock, ClockSource, choose_clock, format_offset};
pub use links::{TimeLink, link_errors_to_events};

use crate::facts::{FactKind, FactSet, Stamp};
use chrono::{DateTime, Utc};
use serde::Serialize;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Event, Evidence, Fact, Locator, Position};
    use crate::rules::testing::{SEED_FAILED_RUN, facts_from_log, push, with_service};
    use chrono::{Duration, NaiveDate, TimeZone};

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
