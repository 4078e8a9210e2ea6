//! The one clock of an analysis: which offset turns the setup logs' local times into UTC, and
//! how it was obtained (the manifest, the analyst, or estimated from facts that coincide).

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
