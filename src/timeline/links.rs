//! Setup errors linked to the events close to them in time that concern the same thing.

use super::Clock;
use crate::facts::FactSet;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

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
