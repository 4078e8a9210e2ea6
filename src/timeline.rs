//! One clock and one timeline: setup logs are written in the server's local time, EVTX in UTC.
//!
//! The [`Clock`] says which offset turns local setup-log times into UTC and how it was
//! obtained; [`build`] merges every dated fact into one ordered list (the `timeline` command).

use crate::facts::{FactKind, FactSet, Stamp};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::Serialize;

/// How the offset between the setup logs' local time and UTC was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    let mut votes: BTreeMap<i64, usize> = BTreeMap::new();
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
            let diff = (local - utc.naive_utc()).num_minutes();
            // Offsets lie within ±14 h; a pair further apart belongs to another attempt.
            if diff.abs() > 14 * 60 + 10 {
                continue;
            }
            let rounded = ((diff as f64) / 15.0).round() as i64 * 15;
            if (diff - rounded).abs() <= 5 {
                *votes.entry(rounded).or_default() += 1;
            }
        }
    }
    let (offset, pairs) = votes.into_iter().max_by_key(|(o, n)| (*n, -o.abs()))?;
    Some(Clock {
        offset_minutes: offset as i32,
        source: ClockSource::Estimated,
        pairs,
    })
}

/// One line of the merged timeline (Timesketch's columns plus a locator).
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub datetime: DateTime<Utc>,
    pub timestamp_desc: String,
    pub message: String,
    pub source: String,
    pub locator: String,
}

/// Every dated fact, ordered by time then locator.
pub fn build(facts: &FactSet, clock: &Clock) -> Vec<TimelineEntry> {
    let mut out = Vec::new();
    for f in facts.iter() {
        let Some(t) = f.time else { continue };
        let (desc, source, message) = match &f.kind {
            FactKind::SetupRun(r) => {
                if let Some(end) = r.end {
                    out.push(TimelineEntry {
                        datetime: clock.to_utc(Stamp::Local(end)),
                        timestamp_desc: "Setup run ended".into(),
                        message: format!(
                            "Exchange {} setup {} ended: {:?}",
                            r.product,
                            r.version.as_deref().unwrap_or("?"),
                            r.outcome
                        ),
                        source: "ExchangeSetup.log".into(),
                        locator: f.evidence.locator.to_string(),
                    });
                }
                (
                    "Setup run started",
                    "ExchangeSetup.log",
                    format!(
                        "Exchange {} setup {} started (mode {})",
                        r.product,
                        r.version.as_deref().unwrap_or("?"),
                        r.mode.as_deref().unwrap_or("?")
                    ),
                )
            }
            FactKind::SetupError(_) => (
                "Setup error",
                "ExchangeSetup.log",
                f.evidence.excerpt.clone(),
            ),
            FactKind::SetupLine(_) => (
                "Setup log line",
                "ExchangeSetup.log",
                f.evidence.excerpt.clone(),
            ),
            FactKind::Event(e) => (
                "Event logged",
                "EVTX",
                format!(
                    "{} {} {}: {}",
                    e.channel, e.provider, e.event_id, f.evidence.excerpt
                ),
            ),
            _ => ("Recorded", "bundle", f.evidence.excerpt.clone()),
        };
        out.push(TimelineEntry {
            datetime: clock.to_utc(t),
            timestamp_desc: desc.into(),
            message,
            source: source.into(),
            locator: f.evidence.locator.to_string(),
        });
    }
    out.sort_by(|a, b| {
        a.datetime
            .cmp(&b.datetime)
            .then_with(|| a.locator.cmp(&b.locator))
    });
    out
}
