//! `--redact`: host, domain, organisation and user names and IP addresses replaced by tokens
//! (`host-1`, `domain-1`, `org-1`, `user-1`, `ip-1`) so a report can leave the client.
//!
//! Redaction is a transformation of the [`Diagnosis`] (and of timeline entries) before any
//! format renders it, so every format hides the same names the same way. It works in two steps:
//!
//! 1. **Learn** which names to hide, from the structured facts (host.json's computer and domain
//!    names, event `Computer` fields, service accounts, ACL principals), then from every string
//!    of the diagnosis (DOMAIN\user, user@domain, FQDNs under an internal or the client's public
//!    domain, LDAP `DC=`/`CN=` paths, IPv4/IPv6 addresses). The bundle's host comes first, so it
//!    is always `host-1`.
//! 2. **Replace** every occurrence, case-insensitively and on word boundaries, in every string.
//!    The same name always gets the same token, within one output and across `analyze` and
//!    `timeline` for the same bundle.
//!
//! What it does not do: guess names that appear nowhere in a recognisable form (a bare
//! `FILESRV2` mentioned only in prose), or hide paths and product names. Dotted quads that are
//! versions (`14.2.247.5` after "Setup", "version", "build"…) stay.

mod learn;
#[cfg(test)]
mod tests;
mod walk;

use crate::Analysis;
use crate::timeline::TimelineEntry;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv6Addr;
use std::sync::LazyLock;

/// Redacts an analysis's diagnosis in place, learning from its facts and the diagnosis.
pub fn analysis(a: &mut Analysis) {
    let mut r = Redactor::for_analysis(a);
    r.diagnosis(&mut a.diagnosis);
}

/// Redacts timeline entries, learning as `analysis` does first (so a name gets the same token
/// in the report and the timeline), then from the entries.
pub fn timeline(a: &Analysis, entries: &mut [TimelineEntry]) {
    let mut r = Redactor::for_analysis(a);
    for e in entries.iter() {
        r.learn_entry(e);
    }
    for e in entries.iter_mut() {
        r.apply_entry(e);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Host,
    Domain,
    Org,
    User,
    Ip,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Host => "host",
            Kind::Domain => "domain",
            Kind::Org => "org",
            Kind::User => "user",
            Kind::Ip => "ip",
        }
    }
}

/// Names to hide and their tokens.
#[derive(Default)]
pub struct Redactor {
    /// Lower-cased name → token.
    names: HashMap<String, String>,
    /// Lower-cased IP text → token.
    ips: HashMap<String, String>,
    /// Addresses seen, in order; dotted quads are told from versions at replacement time.
    pending_ips: Vec<String>,
    /// Well-known account names (lower case) → token, used only inside account pairs.
    account_users: HashMap<String, String>,
    /// Dotted quads that are versions wherever they appear.
    versions: BTreeSet<String>,
    counters: BTreeMap<Kind, usize>,
    /// Matcher over `names`, rebuilt when names are added.
    matcher: Option<Regex>,
}

static QUAD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d{1,3}(?:\.\d{1,3}){3}").expect("static regex"));
static V6: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:\d{1,3}(?:\.\d{1,3}){3})?(?:%[0-9a-z]+)?",
    )
    .expect("static regex")
});

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn char_before(s: &str, at: usize) -> Option<char> {
    s[..at].chars().next_back()
}

fn char_after(s: &str, at: usize) -> Option<char> {
    s[at..].chars().next()
}

impl Redactor {
    /// Assigns tokens to the dotted quads that are addresses (not versions), in first-seen order.
    fn settle_ips(&mut self) {
        let pending = std::mem::take(&mut self.pending_ips);
        for q in pending {
            if self.versions.contains(&q) || is_kept_ip(&q) || self.ips.contains_key(&q) {
                continue;
            }
            let t = self.token(Kind::Ip);
            self.ips.insert(q, t);
        }
    }

    fn build_matcher(&mut self) {
        if self.matcher.is_none() && !self.names.is_empty() {
            let mut names: Vec<&String> = self.names.keys().collect();
            // Longest first: `contoso.local` before `contoso`.
            names.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
            let alt: Vec<String> = names.iter().map(|n| regex::escape(n)).collect();
            self.matcher = Regex::new(&format!("(?i)(?:{})", alt.join("|"))).ok();
        }
    }

    /// Replaces every known name and address in `s`.
    /// A redactor that has learned what [`analysis`] learns: the facts, then the diagnosis.
    pub fn for_analysis(a: &Analysis) -> Redactor {
        let mut r = Redactor::default();
        r.learn_facts(&a.facts);
        r.learn_diagnosis(&a.diagnosis);
        r
    }

    /// Learns the names a timeline entry shows (its message and locator).
    pub fn learn_entry(&mut self, e: &TimelineEntry) {
        self.learn_text(&e.message);
        self.learn_text(&e.locator);
        if !e.computer.is_empty() {
            self.add_host(&e.computer);
        }
    }

    /// Redacts every text of a timeline entry.
    pub fn apply_entry(&mut self, e: &mut TimelineEntry) {
        for s in [
            &mut e.message,
            &mut e.source,
            &mut e.locator,
            &mut e.timestamp_desc,
            &mut e.computer,
        ] {
            self.apply(s);
        }
    }

    pub fn apply(&mut self, s: &mut String) {
        self.settle_ips();
        // (start, end, token) on the original string, then rebuilt once.
        let mut hits: Vec<(usize, usize, String)> = Vec::new();
        for m in QUAD.find_iter(s) {
            if quad_bounded(s, m.start(), m.end())
                && let Some(t) = self.ips.get(m.as_str())
            {
                hits.push((m.start(), m.end(), t.clone()));
            }
        }
        for m in V6.find_iter(s) {
            if let Some(ip) = ipv6_at(s, m.start(), m.end())
                && let Some(t) = self.ips.get(&ip.to_lowercase())
            {
                hits.push((m.start(), m.start() + ip.len(), t.clone()));
            }
        }
        self.build_matcher();
        let names = &self.names;
        if let Some(re) = &self.matcher {
            let mut at = 0;
            while at < s.len() {
                let Some(m) = re.find_at(s, at) else { break };
                let ok = !char_before(s, m.start()).is_some_and(is_word)
                    && !char_after(s, m.end()).is_some_and(is_word);
                if ok && let Some(t) = names.get(&m.as_str().to_lowercase()) {
                    hits.push((m.start(), m.end(), t.clone()));
                    at = m.end();
                } else {
                    at = m.start() + char_after(s, m.start()).map_or(1, char::len_utf8);
                }
            }
        }
        if hits.is_empty() {
            return;
        }
        hits.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut out = String::with_capacity(s.len());
        let mut last = 0;
        for (start, end, token) in hits {
            if start < last {
                continue; // overlaps a longer hit already taken
            }
            out.push_str(&s[last..start]);
            out.push_str(&token);
            last = end;
        }
        out.push_str(&s[last..]);
        *s = out;
    }
}

/// `host-1`, `domain-12`…: a token this module made.
fn is_token(s: &str) -> bool {
    ["host-", "domain-", "org-", "user-", "ip-"]
        .iter()
        .any(|p| {
            s.strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
}

/// A dotted quad standing alone: not inside a longer dotted number (`1.2.3.4.5`) or a word.
fn quad_bounded(s: &str, start: usize, end: usize) -> bool {
    let before = char_before(s, start);
    let after = s[end..].chars().take(2).collect::<Vec<_>>();
    let bad_before = before.is_some_and(|c| c.is_alphanumeric() || c == '.' || c == '_');
    let bad_after = match after.as_slice() {
        [c, ..] if c.is_alphanumeric() || *c == '_' => true,
        ['.', d, ..] if d.is_ascii_digit() => true,
        _ => false,
    };
    !bad_before && !bad_after
}

/// The IPv6 address at `start..end`, if it is one and stands alone.
fn ipv6_at(s: &str, start: usize, end: usize) -> Option<&str> {
    let cand = &s[start..end];
    let addr = cand.split('%').next().unwrap_or(cand);
    let colons = addr.matches(':').count();
    if !(addr.contains("::") || colons == 7) || !addr.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let before = char_before(s, start);
    let after = char_after(s, end);
    if before.is_some_and(|c| is_word(c) || c == ':' || c == ']' || c == ')' || c == '.')
        || after.is_some_and(|c| is_word(c) || c == ':')
    {
        return None;
    }
    addr.parse::<Ipv6Addr>().ok().map(|_| cand)
}

/// Addresses that identify nobody.
fn is_kept_ip(ip: &str) -> bool {
    matches!(
        ip,
        "0.0.0.0" | "127.0.0.1" | "255.255.255.255" | "::" | "::1" | "0:0:0:0:0:0:0:1"
    )
}
