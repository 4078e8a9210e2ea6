//! Wanted events kept as bounded state, not one fact per event.
//!
//! A System log of a real Exchange server holds hundreds of thousands of Service Control
//! Manager events a rule asks for (a service entering the running state, a start type
//! changed), most of them the same few events repeated. Keeping each as a fact made memory grow
//! with the logs (340 MiB for 1 GiB of them). Rules need, of each distinct event, its count,
//! its first and last few records (to cite them) and its time range; and every event close
//! to a setup run or error (to link and place it on the failure's timeline).
//!
//! So events are grouped by what rules read of them (provider, id, channel, computer, level,
//! qualifiers and every data field: only record id, time and file differ inside a group).
//! A group keeps its first [`KEEP`] and last [`KEEP`] events in bundle order (file, then
//! record id) as they are, and folds the ones between into one fact carrying their count,
//! record range, time range and files ([`Repeats`]). Events [`near`](Digest::near) a setup run
//! or a dated setup fact are always kept one by one.
//!
//! Why that keeps reports the same: rules cite the first and last four events of whatever set
//! they gather (`rules::events::cite_events`); any union of groups has its first four among the
//! first four of its groups, and a folded fact sits after its group's first [`KEEP`] and before
//! its last [`KEEP`], never among the cited ones. Counts use [`Event::weight`]; the earliest
//! time is the folded fact's time and the latest [`Event::latest`]. A folded event lies outside
//! every span where a rule compares an event's time with setup's, by construction of the spans.
//!
//! Events are added in any order (a group keeps the first and last [`KEEP`] by [`Order`], not
//! by arrival), so each block of chunks is added as soon as it is read, whatever the file.

use crate::facts::{Event, Evidence, Fact, FactKind, Locator, Position, Repeats, Stamp};
use ahash::AHashMap as HashMap;
use chrono::{DateTime, NaiveDateTime, Utc};
use std::hash::{BuildHasher, Hash, Hasher};

/// Events kept one by one at each end of a group: at least the four `cite_events` cites at
/// each end and the ten a declarative rule cites from the start (`rules::pattern`).
pub const KEEP: usize = 10;

/// Files named by a folded fact: the evidence line holding them is cut at 300 characters, and
/// each path takes at least three, so the first 128 in order are all it can show.
const MAX_PATHS: usize = 128;

/// Where an event stands in the bundle's order of facts: member, record id, block of chunks,
/// place in the block; the last part puts a folded fact just after its group's head.
pub type Order = (usize, u64, u64, u32, u8);

/// A bundle's wanted events, grouped.
#[derive(Debug, Default)]
pub struct Digest {
    /// Sorted, disjoint UTC spans whose events are kept one by one.
    near: Vec<(NaiveDateTime, NaiveDateTime)>,
    /// By hash of the group's identity; groups with the same hash in one list.
    groups: HashMap<u64, Vec<Group>>,
    /// Events kept one by one because they are near setup.
    kept: Vec<(Order, Fact)>,
    hasher: ahash::RandomState,
}

#[derive(Debug)]
struct Group {
    /// The first events, sorted by order; at most [`KEEP`].
    head: Vec<(Order, Fact)>,
    /// The last events of those not in `head`, sorted; at most [`KEEP`].
    tail: Vec<(Order, Fact)>,
    middle: Option<Middle>,
}

#[derive(Debug)]
struct Middle {
    count: u64,
    records: (u64, u64),
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    paths: std::collections::BTreeSet<String>,
}

impl Digest {
    /// A digest keeping every event whose time falls in one of `spans` (UTC, any order).
    pub fn new(mut spans: Vec<(NaiveDateTime, NaiveDateTime)>) -> Self {
        spans.sort();
        let mut near: Vec<(NaiveDateTime, NaiveDateTime)> = Vec::new();
        for (a, b) in spans {
            match near.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => near.push((a, b)),
            }
        }
        Digest {
            near,
            ..Default::default()
        }
    }

    /// Is `time` inside a span where events are kept one by one? Undated events are.
    pub fn near(&self, time: Option<Stamp>) -> bool {
        let t = match time {
            Some(Stamp::Utc(t)) => t.naive_utc(),
            Some(Stamp::Local(t)) => t,
            None => return true,
        };
        let i = self.near.partition_point(|(_, end)| *end < t);
        self.near.get(i).is_some_and(|(start, _)| *start <= t)
    }

    /// Adds one event fact; returns how many facts the digest stopped holding one by one
    /// (folded into a count), so the caller can give their places back to the budget.
    pub fn add(&mut self, order: Order, fact: Fact) -> usize {
        let FactKind::Event(e) = &fact.kind else {
            return 0;
        };
        if self.near(fact.time) || e.repeats.is_some() {
            self.kept.push((order, fact));
            return 0;
        }
        let hash = self.identity_hash(e);
        let list = self.groups.entry(hash).or_default();
        let group = match list.iter().position(|g| g.is(e)) {
            Some(i) => &mut list[i],
            None => {
                list.push(Group {
                    head: Vec::with_capacity(1),
                    tail: Vec::new(),
                    middle: None,
                });
                list.last_mut().expect("just pushed")
            }
        };
        group.add(order, fact)
    }

    fn identity_hash(&self, e: &Event) -> u64 {
        let mut h = self.hasher.build_hasher();
        e.channel.hash(&mut h);
        e.provider.hash(&mut h);
        e.event_id.hash(&mut h);
        e.qualifiers.hash(&mut h);
        e.level.hash(&mut h);
        e.computer.hash(&mut h);
        e.data.hash(&mut h);
        h.finish()
    }

    /// Every fact, by member index then in the order the member's events would have had one
    /// by one.
    pub fn into_facts(self) -> Vec<(usize, Fact)> {
        let mut all = self.kept;
        for (_, list) in self.groups {
            for g in list {
                let at = g.head.last().map(|(o, _)| *o);
                all.extend(g.head);
                if let (Some(m), Some(at)) = (g.middle, at) {
                    let rep = &all.last().expect("a head before the middle").1;
                    let fact = m.fact(rep);
                    all.push(((at.0, at.1, at.2, at.3, 1), fact));
                }
                all.extend(g.tail);
            }
        }
        all.sort_by_key(|(o, _)| *o);
        all.into_iter().map(|(o, f)| (o.0, f)).collect()
    }
}

impl Group {
    /// Is `e` of this group: the same in everything but record id and time?
    fn is(&self, e: &Event) -> bool {
        let Some((_, f)) = self.head.first() else {
            return false;
        };
        let FactKind::Event(r) = &f.kind else {
            return false;
        };
        r.channel == e.channel
            && r.provider == e.provider
            && r.event_id == e.event_id
            && r.qualifiers == e.qualifiers
            && r.level == e.level
            && r.computer == e.computer
            && r.data == e.data
    }

    /// Keeps `fact` at an end of the group, or folds it (or the one it displaces) into the
    /// middle; returns how many places it freed (see [`Digest::add`]).
    fn add(&mut self, order: Order, fact: Fact) -> usize {
        let mut item = (order, fact);
        if self.head.len() < KEEP || self.head.last().is_some_and(|(o, _)| order < *o) {
            let at = self.head.partition_point(|(o, _)| *o < order);
            self.head.insert(at, item);
            if self.head.len() <= KEEP {
                return 0;
            }
            item = self.head.pop().expect("more than KEEP");
        }
        if self.tail.len() < KEEP || self.tail.first().is_some_and(|(o, _)| item.0 > *o) {
            let at = self.tail.partition_point(|(o, _)| *o < item.0);
            self.tail.insert(at, item);
            if self.tail.len() <= KEEP {
                return 0;
            }
            item = self.tail.remove(0);
        }
        let (_, fact) = item;
        let record = match fact.evidence.locator.at {
            Position::Record(r) => r,
            _ => 0,
        };
        let time = match fact.time {
            Some(Stamp::Utc(t)) => Some(t),
            _ => None,
        };
        let path = fact.evidence.locator.path;
        match &mut self.middle {
            Some(m) => {
                m.count += 1;
                m.records = (m.records.0.min(record), m.records.1.max(record));
                m.first = match (m.first, time) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                m.last = m.last.max(time);
                if m.paths.len() < MAX_PATHS || m.paths.last().is_some_and(|l| path < *l) {
                    m.paths.insert(path);
                    if m.paths.len() > MAX_PATHS {
                        m.paths.pop_last();
                    }
                }
                1
            }
            None => {
                self.middle = Some(Middle {
                    count: 1,
                    records: (record, record),
                    first: time,
                    last: time,
                    paths: [path].into_iter().collect(),
                });
                // The folded fact takes the place of the one folded.
                0
            }
        }
    }
}

impl Middle {
    /// The fact standing for the folded events, like `rep` in all but records and times.
    fn fact(self, rep: &Fact) -> Fact {
        let mut event = match &rep.kind {
            FactKind::Event(e) => e.clone(),
            _ => unreachable!("groups hold events only"),
        };
        event.record_id = self.records.0;
        let paths: Vec<String> = self.paths.into_iter().collect();
        let (a, b) = self.records;
        let excerpt = format!("… {} more events like these, records {a}–{b}", self.count);
        event.repeats = Some(Box::new(Repeats {
            count: self.count,
            records: self.records,
            last: self.last,
            paths: paths.clone(),
        }));
        Fact {
            time: self.first.map(Stamp::Utc),
            evidence: Evidence::new(Locator::file(paths.join(", ")), excerpt),
            kind: FactKind::Event(event),
        }
    }
}

/// How far an event may be from a setup fact and still be compared with it by a rule: the
/// clock between setup's local time and UTC may be off by up to 14 hours (an offset estimated
/// from the events themselves), plus ten minutes of the estimate's slack, plus `window` (the
/// link window between a setup error and an event).
pub fn margin(window: chrono::Duration) -> chrono::Duration {
    chrono::Duration::hours(14) + chrono::Duration::minutes(11) + window.abs()
}

/// The spans whose events are kept one by one: around every dated fact that is not an event,
/// and over every setup run, from its start to its end (an open run, or a restart after it,
/// counts for [`crate::facts::OPEN_RUN_HOURS`] at least), widened by [`margin`].
pub fn spans_near(facts: &[Fact], window: chrono::Duration) -> Vec<(NaiveDateTime, NaiveDateTime)> {
    let m = margin(window);
    let open = chrono::Duration::hours(crate::facts::OPEN_RUN_HOURS.max(12));
    let naive = |s: Stamp| match s {
        Stamp::Utc(t) => t.naive_utc(),
        Stamp::Local(t) => t,
    };
    let mut out = Vec::new();
    for f in facts {
        if matches!(f.kind, FactKind::Event(_)) {
            continue;
        }
        if let Some(t) = f.time.map(naive) {
            out.push((t - m, t + m));
        }
        if let FactKind::SetupRun(r) = &f.kind
            && let Some(start) = r.start
        {
            let end = r.end.unwrap_or(start).max(start + open);
            out.push((start - m, end + m));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::events::cite_events;
    use chrono::TimeZone;

    fn event(path: &str, record: u64, minute: i64, state: &str) -> Fact {
        let e = Event {
            channel: "System".into(),
            provider: "Service Control Manager".into(),
            event_id: 7036,
            qualifiers: None,
            level: 4,
            record_id: record,
            computer: "EX01".into(),
            data: [
                ("param1".to_string(), "WinRM".to_string()),
                ("param2".to_string(), state.to_string()),
            ]
            .into_iter()
            .collect(),
            repeats: None,
        };
        let t =
            Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(minute);
        Fact {
            time: Some(Stamp::Utc(t)),
            evidence: Evidence::new(Locator::new(path, Position::Record(record)), "x"),
            kind: FactKind::Event(e),
        }
    }

    /// Three files of two interleaved events, added in a scrambled order: the digest's facts
    /// cite what every event would, count the same, and hold only the ends of each group.
    #[test]
    fn folded_groups_cite_and_count_like_every_event() {
        let mut all = Vec::new();
        for (m, path) in ["evtx/a.evtx", "evtx/b.evtx", "evtx/c.evtx"]
            .iter()
            .enumerate()
        {
            for r in 1..=300u64 {
                let state = if r % 3 == 0 { "stopped" } else { "running" };
                all.push((
                    (m, r, 0, 0, 0),
                    event(path, r, (m as i64) * 1000 + 2 * r as i64, state),
                ));
            }
        }
        // Near 10:00 on the first day: kept one by one.
        let t = Utc
            .with_ymd_and_hms(2024, 1, 1, 10, 0, 0)
            .unwrap()
            .naive_utc();
        let mut d = Digest::new(vec![(t, t + chrono::Duration::minutes(5))]);
        let mut scrambled = all.clone();
        scrambled.sort_by_key(|((m, r, ..), _)| ((r * 7919) % 301, *m));
        let mut freed = 0;
        for (o, f) in scrambled {
            freed += d.add(o, f);
        }
        let facts: Vec<Fact> = d.into_facts().into_iter().map(|(_, f)| f).collect();
        assert_eq!(facts.len() + freed, all.len());
        assert!(facts.len() < 2 * (2 * KEEP + 1) + 6, "{}", facts.len());
        let weights: u64 = facts.iter().map(crate::rules::events::weight).sum();
        assert_eq!(weights, all.len() as u64);
        let every: Vec<&Fact> = all.iter().map(|(_, f)| f).collect();
        let kept: Vec<&Fact> = facts.iter().collect();
        assert_eq!(cite_events(&kept), cite_events(&every));
        for state in ["running", "stopped"] {
            let of = |v: &[&Fact]| -> Vec<Evidence> {
                let v: Vec<&Fact> = v
                    .iter()
                    .copied()
                    .filter(|f| matches!(&f.kind, FactKind::Event(e) if e.data["param2"] == state))
                    .collect();
                cite_events(&v)
            };
            assert_eq!(of(&kept), of(&every));
        }
        // Record 150 of the first file, at 05:00, is in the middle of its group but near
        // setup: kept one by one.
        let mut d = Digest::new(vec![(
            t - chrono::Duration::hours(5),
            t - chrono::Duration::hours(5),
        )]);
        for (o, f) in all.iter().cloned() {
            d.add(o, f);
        }
        let again = d.into_facts();
        assert!(again.iter().any(|(m, f)| *m == 0
            && f.evidence.locator.at == Position::Record(150)
            && matches!(&f.kind, FactKind::Event(e) if e.repeats.is_none())));
        // The latest time of a folded fact is that of its latest event.
        let latest = kept
            .iter()
            .filter_map(|f| match &f.kind {
                FactKind::Event(e) => e.latest(f.time),
                _ => None,
            })
            .max();
        assert_eq!(latest, all.iter().filter_map(|(_, f)| f.time).max());
    }

    #[test]
    fn spans_cover_runs_and_dated_facts_widened_by_the_margin() {
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 10, 0, 0).unwrap();
        let d = Digest::new(vec![
            (t.naive_utc(), t.naive_utc() + chrono::Duration::hours(1)),
            (t.naive_utc() - chrono::Duration::minutes(30), t.naive_utc()),
        ]);
        assert!(d.near(Some(Stamp::Utc(t))));
        assert!(d.near(Some(Stamp::Utc(t - chrono::Duration::minutes(30)))));
        assert!(!d.near(Some(Stamp::Utc(t - chrono::Duration::minutes(31)))));
        assert!(!d.near(Some(Stamp::Utc(t + chrono::Duration::minutes(61)))));
        assert!(d.near(None));
        assert!(margin(chrono::Duration::minutes(5)) > chrono::Duration::hours(14));
    }
}
