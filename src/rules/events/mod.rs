//! Rules on Windows events: what the System and Application logs say about *why* setup failed
//! or what it left broken (a service that cannot start, a module IIS cannot load, an ASP.NET
//! configuration error, an antivirus detection on an Exchange file).
//!
//! Each rule declares the (provider, id) pairs it reads, so the EVTX parser keeps those events
//! and only counts the rest. Providers are matched by their exact `Provider/@Name` as Windows
//! writes it (see `exchange-facts.md` B3), case-insensitively. Evidence is the events' records.

mod antivirus;
mod av_table;
mod exchange;
mod aspnet;
mod iis;
mod scm;
pub(crate) mod service_state;
mod was;

pub use antivirus::AvDetectionExchangePath;
pub use aspnet::AspNetConfigError;
pub use av_table::{AV_EVENTS, AvEvent};
pub use exchange::{ActiveSyncErrors, ExchangeServiceCrash, SetupComponentFailedEvent};
pub use iis::IisModuleLoadFailed;
pub use scm::{SCM, ScmServiceStartFailed, service_key};
pub use service_state::{ServiceDependencyFailed, ServiceStartTypeDisabled};
pub use was::{WasAppPoolDisabled, WasListenerFailure};

use super::{Context, Rule};
use crate::facts::{Event, Evidence, Fact, Locator, SetupRun, Stamp};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(ScmServiceStartFailed::new()),
        Box::new(ServiceStartTypeDisabled::new()),
        Box::new(ServiceDependencyFailed::new()),
        Box::new(IisModuleLoadFailed::new()),
        Box::new(AspNetConfigError::new()),
        Box::new(WasListenerFailure::new()),
        Box::new(WasAppPoolDisabled::new()),
        Box::new(ActiveSyncErrors::new()),
        Box::new(SetupComponentFailedEvent::new()),
        Box::new(ExchangeServiceCrash::new()),
        Box::new(AvDetectionExchangePath::new()),
    ]
}

/// Events from any of `providers` (case-insensitive) with one of `ids` (all ids when empty).
pub fn events<'a>(
    ctx: &'a Context<'_>,
    providers: &'a [&'a str],
    ids: &'a [u32],
) -> impl Iterator<Item = (&'a Fact, &'a Event)> + 'a {
    ctx.facts.events().filter(move |(_, e)| {
        providers.iter().any(|p| e.provider.eq_ignore_ascii_case(p))
            && (ids.is_empty() || ids.contains(&e.event_id))
    })
}

/// A finding cites at most this many events; the rest are summed up in one more line.
pub const MAX_CITED: usize = 8;

/// Evidence for a group of events: the first and last few records, and a line for the others
/// (their count and record range), so a finding about 500 identical errors stays readable.
/// A fact standing for many events ([`crate::facts::Repeats`]) is never among the first or
/// last few (`parse::digest` keeps them apart) and adds its count, records and files.
pub fn cite_events(facts: &[&Fact]) -> Vec<Evidence> {
    if facts.len() <= MAX_CITED && facts.iter().all(|f| weight(f) == 1) {
        return facts.iter().map(|f| f.evidence.clone()).collect();
    }
    let head = MAX_CITED / 2;
    let tail = MAX_CITED - head;
    let (head, tail) = (
        head.min(facts.len()),
        tail.min(facts.len().saturating_sub(head)),
    );
    let mut out: Vec<Evidence> = facts[..head].iter().map(|f| f.evidence.clone()).collect();
    let middle = &facts[head..facts.len() - tail];
    let mut records: Vec<u64> = Vec::new();
    let mut paths: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    for f in middle {
        match repeats(f) {
            Some(r) => {
                records.extend([r.records.0, r.records.1]);
                paths.extend(r.paths.iter().map(String::as_str));
            }
            None => {
                if let crate::facts::Position::Record(r) = f.evidence.locator.at {
                    records.push(r);
                }
                paths.insert(f.evidence.locator.path.as_str());
            }
        }
    }
    let range = match (records.iter().min(), records.iter().max()) {
        (Some(a), Some(b)) => format!(", records {a}–{b}"),
        _ => String::new(),
    };
    let count: u64 = middle.iter().map(|f| weight(f)).sum();
    out.push(Evidence::new(
        Locator::file(paths.into_iter().collect::<Vec<_>>().join(", ")),
        format!("… {count} more events like these{range}"),
    ));
    out.extend(
        facts[facts.len() - tail..]
            .iter()
            .map(|f| f.evidence.clone()),
    );
    out
}

/// How many events a fact stands for ([`Event::weight`]); 1 for any other fact.
pub fn weight(f: &Fact) -> u64 {
    match &f.kind {
        crate::facts::FactKind::Event(e) => e.weight(),
        _ => 1,
    }
}

fn repeats(f: &Fact) -> Option<&crate::facts::Repeats> {
    match &f.kind {
        crate::facts::FactKind::Event(e) => e.repeats.as_deref(),
        _ => None,
    }
}

/// The earliest time of `facts`, on the bundle's UTC clock.
pub fn earliest(ctx: &Context<'_>, facts: &[&Fact]) -> Option<DateTime<Utc>> {
    facts
        .iter()
        .filter_map(|f| f.time)
        .map(|t| ctx.clock.to_utc(t))
        .min()
}

/// `7000 ×3, 7031 ×1`.
pub fn id_tally<'a>(events: impl IntoIterator<Item = &'a Event>) -> String {
    let mut by_id: BTreeMap<u32, u64> = BTreeMap::new();
    for e in events {
        *by_id.entry(e.event_id).or_default() += e.weight();
    }
    by_id
        .iter()
        .map(|(id, n)| format!("{id} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub use crate::facts::OPEN_RUN_HOURS;

/// The setup run whose time span holds `t` (UTC), if any.
pub fn run_at<'a>(ctx: &'a Context<'_>, t: DateTime<Utc>) -> Option<(&'a Fact, &'a SetupRun)> {
    ctx.facts.run_at(ctx.clock.to_local(t))
}

/// When a run started, on the same UTC clock as the events: `2012-02-12 09:41 UTC`.
pub fn run_start(ctx: &Context<'_>, run: &SetupRun) -> String {
    match run.start {
        Some(start) => format!(
            "{}{} UTC",
            if run.header { "" } else { "before " },
            ctx.clock
                .to_utc(Stamp::Local(start))
                .format("%Y-%m-%d %H:%M")
        ),
        None => "at an unknown time".into(),
    }
}

/// A data value by any of `names` (case-insensitive), the first non-empty one.
pub fn field<'a>(e: &'a Event, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| {
        e.data
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    })
}

/// Values of an event other than its `Binary` and System extras, in key order.
pub fn texts(e: &Event) -> impl Iterator<Item = &str> {
    e.data
        .iter()
        .filter(|(k, _)| k.as_str() != "Binary" && !k.starts_with("System/"))
        .map(|(_, v)| v.as_str())
}

/// Unnamed `<Data>` values in position order (classic providers: ASP.NET, MSExchange*).
pub fn positional(e: &Event) -> Vec<&str> {
    let mut v: Vec<(usize, &str)> = e
        .data
        .iter()
        .filter_map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, v.as_str())))
        .collect();
    v.sort_by_key(|(i, _)| *i);
    v.into_iter().map(|(_, s)| s).collect()
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Event facts built as the EVTX parser yields them.

    use crate::facts::{Event, Evidence, Fact, FactKind, FactSet, Locator, Position, Stamp};
    use chrono::{DateTime, Utc};

    pub const SYSTEM: &str = "evtx/System.evtx";
    pub const APPLICATION: &str = "evtx/Application.evtx";

    /// An event at `time` (`2012-02-12T21:15:49Z`, UTC) with named or positional data.
    pub fn event(record: u64, time: &str, provider: &str, id: u32, data: &[(&str, &str)]) -> Fact {
        let channel = match provider {
            super::SCM | "Microsoft-Windows-WAS" => "System",
            p if p.starts_with("Microsoft-Windows-Windows Defender") => {
                "Microsoft-Windows-Windows Defender/Operational"
            }
            _ => "Application",
        };
        let path = if channel == "System" {
            SYSTEM
        } else {
            APPLICATION
        };
        let e = Event {
            repeats: None,
            channel: channel.into(),
            provider: provider.into(),
            event_id: id,
            qualifiers: None,
            level: 2,
            record_id: record,
            computer: "EX01.contoso.local".into(),
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let t: DateTime<Utc> = time.parse().expect("test time");
        Fact {
            time: Some(Stamp::Utc(t)),
            evidence: Evidence::new(
                Locator::new(path, Position::Record(record)),
                crate::parse::evtx::excerpt(&e),
            ),
            kind: FactKind::Event(e),
        }
    }

    /// Positional data (`"0"`, `"1"`, …) as classic providers store it.
    pub fn classic(record: u64, time: &str, provider: &str, id: u32, values: &[&str]) -> Fact {
        let keys: Vec<String> = (0..values.len()).map(|i| i.to_string()).collect();
        let data: Vec<(&str, &str)> = keys
            .iter()
            .map(String::as_str)
            .zip(values.iter().copied())
            .collect();
        event(record, time, provider, id, &data)
    }

    pub fn with_level(mut f: Fact, level: u8) -> Fact {
        if let FactKind::Event(e) = &mut f.kind {
            e.level = level;
        }
        f
    }

    pub fn set(facts: Vec<Fact>) -> FactSet {
        FactSet::new(facts)
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;
    use crate::facts::Position;

    #[test]
    fn many_events_are_cited_first_and_last_with_a_summary() {
        let facts: Vec<Fact> = (1..=20)
            .map(|r| event(r, "2012-02-12T21:15:49Z", SCM, 7000, &[("param1", "x")]))
            .collect();
        let refs: Vec<&Fact> = facts.iter().collect();
        let ev = cite_events(&refs);
        assert_eq!(ev.len(), MAX_CITED + 1);
        assert_eq!(ev[0].locator.at, Position::Record(1));
        assert_eq!(ev[MAX_CITED].locator.at, Position::Record(20));
        assert!(ev[4].excerpt.contains("12 more events") && ev[4].excerpt.contains("5–16"));
        assert_eq!(cite_events(&refs[..3]).len(), 3);
    }
}
