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

use crate::Analysis;
use crate::diagnosis::{BundleInfo, ChainLink, Diagnosis, PlanStep, RootCause, RunSummary};
use crate::facts::{Evidence, Explains, FactKind, FactSet, Finding, Locator, Position};
use crate::timeline::TimelineEntry;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

/// Redacts an analysis's diagnosis in place, learning from its facts and the diagnosis.
pub fn analysis(a: &mut Analysis) {
    let mut r = Redactor::default();
    r.learn_facts(&a.facts);
    r.learn_diagnosis(&a.diagnosis);
    r.diagnosis(&mut a.diagnosis);
}

/// Redacts timeline entries, learning as `analysis` does first (so a name gets the same token
/// in the report and the timeline), then from the entries.
pub fn timeline(a: &Analysis, entries: &mut [TimelineEntry]) {
    let mut r = Redactor::default();
    r.learn_facts(&a.facts);
    r.learn_diagnosis(&a.diagnosis);
    for e in entries.iter() {
        r.learn_text(&e.message);
        r.learn_text(&e.locator);
    }
    for e in entries.iter_mut() {
        for s in [
            &mut e.message,
            &mut e.source,
            &mut e.locator,
            &mut e.timestamp_desc,
        ] {
            r.apply(s);
        }
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

/// Words that name Exchange or Windows things: never hidden as bare words even when they are
/// the first label of a host name (`autodiscover.contoso.com`) or a user part (`CONTOSO\Exchange
/// Servers`), or the report would lose its meaning.
const COMMON: &[&str] = &[
    "first organization",
    "ad",
    "admin",
    "admins",
    "administrators",
    "adfs",
    "all",
    "anonymous",
    "autodiscover",
    "cas",
    "corp",
    "dc",
    "default",
    "domain",
    "ecp",
    "everyone",
    "ews",
    "exchange",
    "guest",
    "guests",
    "home",
    "hub",
    "imap",
    "internal",
    "lab",
    "local",
    "localhost",
    "mail",
    "mailbox",
    "management",
    "microsoft",
    "network",
    "none",
    "office",
    "outlook",
    "owa",
    "pop",
    "pop3",
    "remote",
    "server",
    "servers",
    "service",
    "services",
    "smtp",
    "sts",
    "system",
    "test",
    "user",
    "users",
    "webmail",
    "windows",
    "www",
];

/// Authorities and built-in principals: not the client's names.
const BUILTIN_DOMAINS: &[&str] = &[
    "authority",
    "builtin",
    "nt",
    "service",
    "apppool",
    "manager",
    "host",
    "machine",
    "hklm",
    "hkcu",
    "hku",
    "hkcr",
    "hkcc",
    "software",
    "system",
    "security",
    "sam",
    "hardware",
    "exchange",
    "microsoft",
];

/// Accounts that are the same on every Windows machine.
const BUILTIN_USERS: &[&str] = &[
    "system",
    "localsystem",
    "local service",
    "localservice",
    "network service",
    "networkservice",
    "anonymous logon",
    "iusr",
    "-",
    "everyone",
    "trustedinstaller",
];

/// Top-level labels used for internal Active Directory DNS names.
const INTERNAL_TLDS: &[&str] = &[
    "local",
    "lan",
    "corp",
    "internal",
    "intranet",
    "intra",
    "localdomain",
    "home",
    "priv",
    "private",
    "ad",
];

/// Public top-level labels: a name under one is the client's only with three or more labels
/// (`mail.fabrikam.com`; `setup.com` is a program) or once its domain is known.
const PUBLIC_TLDS: &[&str] = &[
    "com", "net", "org", "edu", "gov", "mil", "io", "biz", "info", "co", "uk", "de", "fr", "au",
    "nz", "ca", "nl", "be", "ch", "at", "it", "es", "se", "no", "dk", "fi", "jp", "cn", "in", "br",
    "ru", "pl", "cz", "ie", "za", "sg", "hk", "us", "eu", "pt", "gr", "hu", "ro", "mx", "ar", "cl",
    "kr", "tw", "il", "tr", "ae",
];

/// Vendors' domains that show up in references and configuration: not the client's.
const VENDOR_DOMAINS: &[&str] = &[
    "microsoft.com",
    "windows.com",
    "windowsupdate.com",
    "office.com",
    "office365.com",
    "outlook.com",
    "live.com",
    "msn.com",
    "azure.com",
    "msft.net",
    "digicert.com",
    "verisign.com",
    "symantec.com",
    "broadcom.com",
    "mcafee.com",
    "trendmicro.com",
    "sophos.com",
    "eset.com",
    "kaspersky.com",
    "w3.org",
    "xmlsoap.org",
    "openxmlformats.org",
    "github.com",
    "example.com",
    "example.org",
    "example.net",
];

/// Words right before a dotted quad that make it a version, not an address.
const VERSION_CUES: &[&str] = &[
    "version",
    "ver",
    "build",
    "setup",
    "exchange",
    "product",
    "release",
    "fileversion",
    "productversion",
    "v",
    "rollup",
    "update",
    "sp",
    "cu",
    "2007",
    "2010",
    "2013",
    "2016",
    "2019",
];

/// Built-in account names that exist everywhere: hidden where they appear as an account
/// (`CONTOSO\Administrator`, `administrator@contoso.local`), kept as words elsewhere so rule
/// text such as "run as administrator" keeps its meaning.
const WELL_KNOWN_USERS: &[&str] = &[
    "administrator",
    "admin",
    "guest",
    "krbtgt",
    "defaultaccount",
    "wdagutilityaccount",
];

/// Labels that are file extensions: `app.exe.local` is a file, not a host.
const FILE_EXTENSIONS: &[&str] = &[
    "exe", "dll", "config", "log", "xml", "ps1", "psm1", "psd1", "txt", "json", "csv", "bak",
    "msi", "msp", "aspx", "asmx", "ashx", "svc", "js", "css", "htm", "html", "cab", "zip", "evtx",
    "reg", "ini", "inf", "sys", "bat", "cmd", "vbs", "mof", "xsl", "xslt", "resx",
];

static DOMAIN_USER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([A-Za-z][A-Za-z0-9-]{0,14}|\.)\\([A-Za-z0-9][A-Za-z0-9._$-]{0,63})")
        .expect("static regex")
});
static UPN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([A-Za-z0-9][A-Za-z0-9._%+-]{0,63})@([A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+)")
        .expect("static regex")
});
static FQDN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}(?:\.[A-Za-z0-9][A-Za-z0-9-]{0,62})+")
        .expect("static regex")
});
static LDAP_DC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)DC=[^,'\x22\s]+(?:\s*,\s*DC=[^,'\x22\s]+)*").expect("static regex")
});
static LDAP_SERVER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)CN=([^,'\x22]+),CN=Servers,").expect("static regex"));
static LDAP_ORG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)CN=([^,'\x22]+),CN=Microsoft Exchange,CN=Services,").expect("static regex")
});
static USER_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:SubjectUserName|TargetUserName|UserName|User|AccountName|Logged on user)\s*[=:]\s*'?([A-Za-z0-9][A-Za-z0-9._$ -]{0,63}?)'?(?:[\s,;|.]|$)")
        .expect("static regex")
});
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
    fn token(&mut self, kind: Kind) -> String {
        let n = self.counters.entry(kind).or_insert(0);
        *n += 1;
        format!("{}-{n}", kind.prefix())
    }

    /// Registers `name` as `kind` unless it is known; returns its token.
    fn add(&mut self, kind: Kind, name: &str) -> Option<String> {
        let name = name.trim().trim_end_matches('.');
        let key = name.to_lowercase();
        if key.chars().count() < 2 || !key.chars().any(char::is_alphanumeric) {
            return None;
        }
        if let Some(t) = self.names.get(&key) {
            return Some(t.clone());
        }
        // `host-1` and friends are ours: never hide a token behind another.
        if is_token(&key) {
            return None;
        }
        let t = self.token(kind);
        self.names.insert(key, t.clone());
        self.matcher = None;
        Some(t)
    }

    fn add_host(&mut self, name: &str) {
        let name = name.trim();
        if name.contains('.') {
            self.add_fqdn(name, true);
        } else if !COMMON.contains(&name.to_lowercase().as_str()) {
            self.add(Kind::Host, name);
        }
    }

    /// A DNS domain; its first label (the NetBIOS name, usually) shares its token.
    fn add_domain(&mut self, domain: &str) {
        let domain = domain.trim().trim_end_matches('.').to_lowercase();
        if domain.is_empty()
            || VENDOR_DOMAINS.contains(&domain.as_str())
            || (!domain.contains('.')
                && (domain.len() < 3
                    || COMMON.contains(&domain.as_str())
                    || INTERNAL_TLDS.contains(&domain.as_str())
                    || PUBLIC_TLDS.contains(&domain.as_str())))
        {
            return;
        }
        let first = domain.split('.').next().unwrap_or("").to_string();
        let token = match self.names.get(&first) {
            Some(t) if t.starts_with("domain-") => t.clone(),
            _ => match self.add(Kind::Domain, &domain) {
                Some(t) => t,
                None => return,
            },
        };
        if !self.names.contains_key(&domain) && !is_token(&domain) {
            self.names.insert(domain.clone(), token.clone());
            self.matcher = None;
        }
        if domain.contains('.')
            && !COMMON.contains(&first.as_str())
            && !self.names.contains_key(&first)
            && first.len() >= 3
        {
            self.names.insert(first, token);
            self.matcher = None;
        }
    }

    /// A NetBIOS domain (the `CONTOSO` of `CONTOSO\user`): the token of the DNS domain whose
    /// first label it is, if known.
    fn add_netbios(&mut self, name: &str) {
        let key = name.to_lowercase();
        if self.names.contains_key(&key)
            || is_builtin_domain(&key)
            || COMMON.contains(&key.as_str())
            || is_version_folder(&key)
        {
            return;
        }
        let dns = self
            .names
            .iter()
            .find(|(k, t)| t.starts_with("domain-") && k.split('.').next() == Some(key.as_str()))
            .map(|(_, t)| t.clone());
        match dns {
            Some(t) => {
                self.names.insert(key, t);
                self.matcher = None;
            }
            None => {
                self.add(Kind::Domain, name);
            }
        }
    }

    fn add_user(&mut self, user: &str) {
        let u = user.trim().trim_end_matches(['.', '$']);
        let key = u.to_lowercase();
        if BUILTIN_USERS.contains(&key.as_str())
            || COMMON.contains(&key.as_str())
            || WELL_KNOWN_USERS.contains(&key.as_str())
            || key.starts_with("s-1-")
        {
            return;
        }
        // A computer account (`EX01$`) is the host.
        if user.trim().ends_with('$') {
            self.add_host(u);
        } else {
            self.add(Kind::User, u);
        }
    }

    /// An account written with its domain (`DOMAIN\\user`, `user@domain`, `sep` between): the
    /// pair is hidden as a whole, so even a well-known name such as `Administrator` goes.
    fn add_account(&mut self, domain: &str, sep: &str, user: &str) {
        let user = user.trim().trim_end_matches('.');
        let ukey = user.to_lowercase();
        if BUILTIN_USERS.contains(&ukey.as_str()) || ukey.is_empty() {
            return;
        }
        if WELL_KNOWN_USERS.contains(&ukey.as_str()) {
            let utok = match self.account_users.get(&ukey) {
                Some(t) => t.clone(),
                None => {
                    let t = self.token(Kind::User);
                    self.account_users.insert(ukey.clone(), t.clone());
                    t
                }
            };
            let dkey = domain.to_lowercase();
            let dtok = self
                .names
                .get(&dkey)
                .cloned()
                .unwrap_or_else(|| domain.to_string());
            let (pair, tok) = if sep == "@" {
                (format!("{ukey}@{dkey}"), format!("{utok}@{dtok}"))
            } else {
                (format!("{dkey}{sep}{ukey}"), format!("{dtok}{sep}{utok}"))
            };
            self.names.entry(pair).or_insert(tok);
            self.matcher = None;
        } else {
            self.add_user(user);
        }
    }

    /// `host.domain.tld`: the host label and the domain. With `trusted` (a field that holds a
    /// computer name) any dotted name counts; otherwise only internal or known domains do.
    fn add_fqdn(&mut self, fqdn: &str, trusted: bool) {
        let fqdn = fqdn.trim().trim_end_matches('.');
        let labels: Vec<&str> = fqdn.split('.').collect();
        if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
            return;
        }
        let lower = fqdn.to_lowercase();
        let tld = labels[labels.len() - 1].to_lowercase();
        if tld.chars().all(|c| c.is_ascii_digit()) {
            return;
        }
        if labels[..labels.len() - 1]
            .iter()
            .any(|l| FILE_EXTENSIONS.contains(&l.to_lowercase().as_str()))
            || FILE_EXTENSIONS.contains(&tld.as_str())
        {
            return;
        }
        let registrable = labels[labels.len() - 2..].join(".").to_lowercase();
        if VENDOR_DOMAINS.contains(&registrable.as_str()) {
            return;
        }
        let suffix_known = |r: &Redactor| {
            (1..labels.len()).any(|i| {
                let suffix = labels[i..].join(".").to_lowercase();
                suffix.contains('.')
                    && r.names
                        .get(&suffix)
                        .is_some_and(|t| t.starts_with("domain-"))
            })
        };
        let client = trusted
            || INTERNAL_TLDS.contains(&tld.as_str())
            || (PUBLIC_TLDS.contains(&tld.as_str()) && labels.len() >= 3)
            || suffix_known(self);
        if !client {
            return;
        }
        if labels.len() == 2 {
            self.add_domain(&lower);
            return;
        }
        self.add_domain(&labels[1..].join("."));
        if !COMMON.contains(&labels[0].to_lowercase().as_str()) {
            self.add(Kind::Host, labels[0]);
        }
    }

    /// Names in a structured fact: host.json, events' `Computer`, service accounts, ACLs.
    pub fn learn_facts(&mut self, facts: &FactSet) {
        for f in facts.iter() {
            match &f.kind {
                FactKind::Host(h) => {
                    if let Some(c) = &h.computer_name {
                        self.add_host(c);
                    }
                    if let Some(d) = &h.domain {
                        self.add_domain(d);
                    }
                }
                FactKind::Event(e) => {
                    self.add_host(&e.computer);
                }
                FactKind::Service(s) => {
                    if let Some(n) = &s.start_name {
                        self.learn_account(n);
                    }
                }
                FactKind::AclEntry(a) => self.learn_account(&a.principal),
                _ => {}
            }
        }
        for f in facts.iter() {
            self.learn_text(&f.evidence.excerpt);
        }
    }

    /// `DOMAIN\user`, `user@domain` or a bare account name from a field that holds one.
    fn learn_account(&mut self, account: &str) {
        if let Some((dom, user)) = account.split_once('\\') {
            if is_builtin_domain(dom) {
                return;
            }
            if dom != "." {
                self.add_netbios(dom);
            }
            self.add_account(dom, "\\", user);
        } else if let Some((user, dom)) = account.split_once('@') {
            self.add_domain(dom);
            self.add_account(dom, "@", user);
        }
        // A bare principal (`CREATOR OWNER`, `Everyone`, `LocalSystem`) is a well-known one.
    }

    /// Every string of the diagnosis, the bundle's host first.
    pub fn learn_diagnosis(&mut self, d: &Diagnosis) {
        if let Some(h) = &d.bundle.host {
            self.add_host(h);
        }
        for r in &d.runs {
            if let Some(v) = &r.version {
                self.versions.insert(v.clone());
            }
        }
        // Serialising reaches every field, including ones added after this was written.
        if let Ok(v) = serde_json::to_value(d) {
            let mut texts = Vec::new();
            collect_strings(&v, &mut texts);
            for t in texts {
                self.learn_text(&t);
            }
        }
    }

    /// Names recognisable in free text.
    pub fn learn_text(&mut self, s: &str) {
        for c in LDAP_DC.find_iter(s) {
            let labels: Vec<&str> = c
                .as_str()
                .split(',')
                .filter_map(|p| {
                    let p = p.trim();
                    p.get(..3)
                        .filter(|k| k.eq_ignore_ascii_case("dc="))
                        .map(|_| &p[3..])
                })
                .collect();
            if !labels.is_empty() {
                self.add_domain(&labels.join("."));
            }
        }
        for c in LDAP_SERVER.captures_iter(s) {
            self.add_host(&c[1]);
        }
        for c in LDAP_ORG.captures_iter(s) {
            let org = c[1].trim().to_string();
            if !COMMON.contains(&org.to_lowercase().as_str())
                && !self.names.contains_key(&org.to_lowercase())
            {
                self.add(Kind::Org, &org);
            }
        }
        for c in UPN.captures_iter(s) {
            self.add_domain(&c[2]);
            self.add_account(&c[2], "@", &c[1]);
        }
        for c in FQDN.find_iter(s) {
            if char_before(s, c.start()).is_some_and(|p| p == '.' || p == '@' || is_word(p)) {
                continue;
            }
            self.add_fqdn(c.as_str(), false);
        }
        for c in DOMAIN_USER.captures_iter(s) {
            let (Some(all), Some(dom), Some(user)) = (c.get(0), c.get(1), c.get(2)) else {
                continue;
            };
            // Part of a path (`D:\…\V14\Bin`, `HKLM\SOFTWARE\…`), not an account.
            let before = char_before(s, all.start());
            let after = char_after(s, all.end());
            if before.is_some_and(|b| b == '\\' || b == ':' || is_word(b)) || after == Some('\\') {
                continue;
            }
            let d = dom.as_str();
            let known = self
                .names
                .get(&d.to_lowercase())
                .is_some_and(|t| t.starts_with("domain-"));
            let netbios_like = d != "."
                && d.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
                && d.chars().any(|c| c.is_ascii_uppercase());
            if is_builtin_domain(d)
                || is_version_folder(&d.to_lowercase())
                || !(known || netbios_like || d == ".")
            {
                continue;
            }
            if d != "." {
                self.add_netbios(d);
            }
            self.add_account(d, "\\", user.as_str());
        }
        for c in USER_FIELD.captures_iter(s) {
            let v = c[1].trim();
            if v.contains('\\') || v.contains('@') {
                continue; // handled above
            }
            self.add_user(v);
        }
        for m in QUAD.find_iter(s) {
            if !quad_bounded(s, m.start(), m.end()) || m.as_str().parse::<Ipv4Addr>().is_err() {
                continue;
            }
            if version_cue(&s[..m.start()]) {
                self.versions.insert(m.as_str().to_string());
            } else {
                self.pending_ip(m.as_str());
            }
        }
        for m in V6.find_iter(s) {
            if let Some(ip) = ipv6_at(s, m.start(), m.end()) {
                self.pending_ip(ip);
            }
        }
    }

    fn pending_ip(&mut self, ip: &str) {
        let key = ip.to_lowercase();
        if !self.pending_ips.contains(&key) && !self.ips.contains_key(&key) {
            self.pending_ips.push(key);
        }
    }

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

    /// Redacts every string of the diagnosis.
    pub fn diagnosis(&mut self, d: &mut Diagnosis) {
        // Destructured in full so that a field added to the diagnosis does not compile until
        // it is decided here whether it can carry a name.
        let Diagnosis {
            schema_version: _,
            exhume_version: _,
            bundle,
            clock,
            status: _,
            verdict,
            root_causes,
            contributing,
            unexplained,
            findings,
            plan,
            runs,
            missing_evidence,
            skipped,
            problems,
            used,
            time_links,
            event_counts,
        } = d;
        let BundleInfo {
            path,
            form: _,
            sha256: _,
            host,
            has_manifest: _,
            custody,
            files: _,
        } = bundle;
        self.apply(path);
        self.opt(host);
        if let Some(c) = custody {
            self.all(&mut c.missing);
            self.all(&mut c.extra);
            self.all(&mut c.truncated);
            for a in &mut c.altered {
                self.apply(&mut a.path);
            }
        }
        self.apply(&mut clock.description);
        self.apply(verdict);
        for rc in root_causes {
            let RootCause {
                id,
                key,
                title,
                severity: _,
                confidence: _,
                subject,
                time: _,
                explains,
                chain,
                evidence,
                fix,
            } = rc;
            for s in [id, key, title] {
                self.apply(s);
            }
            self.opt(subject);
            self.all(explains);
            for ChainLink {
                key,
                title,
                depth: _,
                via,
            } in chain
            {
                for s in [key, title, via] {
                    self.apply(s);
                }
            }
            self.evidence(evidence);
            self.all(fix);
        }
        self.all(contributing);
        self.all(unexplained);
        for f in findings {
            self.finding(f);
        }
        for PlanStep {
            step: _,
            text,
            from,
        } in plan
        {
            self.apply(text);
            self.all(from);
        }
        for r in runs {
            let RunSummary {
                log,
                index: _,
                product,
                version,
                mode,
                start_local: _,
                start_utc: _,
                end_utc: _,
                outcome: _,
                failed_task,
                errors: _,
                locator,
            } = r;
            for s in [log, product, locator] {
                self.apply(s);
            }
            for o in [version, mode, failed_task] {
                self.opt(o);
            }
        }
        self.all(missing_evidence);
        for s in skipped {
            self.apply(&mut s.path);
            self.apply(&mut s.reason);
        }
        for p in problems {
            self.apply(&mut p.path);
            self.apply(&mut p.message);
        }
        self.all(used);
        for l in time_links {
            self.apply(&mut l.setup_error);
            self.apply(&mut l.event);
            self.apply(&mut l.about);
        }
        for c in event_counts {
            self.apply(&mut c.channel);
            self.apply(&mut c.provider);
        }
    }

    fn finding(&mut self, f: &mut Finding) {
        let Finding {
            id,
            title,
            kind: _,
            severity: _,
            confidence: _,
            subject,
            time: _,
            evidence,
            why,
            fix,
            references,
            explains,
        } = f;
        for s in [id, title, why] {
            self.apply(s);
        }
        self.opt(subject);
        self.evidence(evidence);
        self.all(fix);
        self.all(references);
        for Explains { id, subject } in explains {
            self.apply(id);
            self.opt(subject);
        }
    }

    fn evidence(&mut self, evidence: &mut [Evidence]) {
        for Evidence { locator, excerpt } in evidence {
            let Locator { path, at } = locator;
            self.apply(path);
            match at {
                Position::Key(s) | Position::Element(s) => self.apply(s),
                Position::File
                | Position::Line(_)
                | Position::Lines(..)
                | Position::Record(_)
                | Position::Row(_) => {}
            }
            self.apply(excerpt);
        }
    }

    fn all(&mut self, v: &mut [String]) {
        for s in v {
            self.apply(s);
        }
    }

    fn opt(&mut self, o: &mut Option<String>) {
        if let Some(s) = o {
            self.apply(s);
        }
    }
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
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

/// The text before a dotted quad ends with a word that makes it a version.
fn version_cue(before: &str) -> bool {
    let tail: String = before
        .chars()
        .rev()
        .take(32)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let tail = tail.trim_end_matches(|c: char| c.is_whitespace() || "'\"=:([".contains(c));
    let word: String = tail
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    VERSION_CUES.contains(&word.to_lowercase().as_str())
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

/// `NT AUTHORITY`, `BUILTIN`, `IIS APPPOOL`…: authorities that are the same everywhere.
fn is_builtin_domain(d: &str) -> bool {
    let d = d.trim().to_lowercase();
    BUILTIN_DOMAINS.contains(&d.as_str())
        || d.split_whitespace()
            .last()
            .is_some_and(|w| BUILTIN_DOMAINS.contains(&w))
}

/// `v14`, `V15`: Exchange's version folders, never a domain.
fn is_version_folder(s: &str) -> bool {
    s.strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// Addresses that identify nobody.
fn is_kept_ip(ip: &str) -> bool {
    matches!(
        ip,
        "0.0.0.0" | "127.0.0.1" | "255.255.255.255" | "::" | "::1" | "0:0:0:0:0:0:0:1"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    fn redacted(r: &mut Redactor, s: &str) -> String {
        let mut s = s.to_string();
        r.apply(&mut s);
        s
    }

    #[test]
    fn accounts_fqdns_and_ldap_paths_become_tokens() {
        let mut r = Redactor::default();
        r.add_host("EX01");
        let lines = [
            "Logged on user: CONTOSO\\Administrator.",
            "Setup will use the domain controller 'DC01.contoso.local'.",
            "'CN=EX01,CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=Contoso,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=local'",
            "mail for jane.doe@fabrikam.com from 10.1.2.3 and fe80::1c2d:3e4f%12",
        ];
        for l in lines {
            r.learn_text(l);
        }
        let out: Vec<String> = lines.iter().map(|l| redacted(&mut r, l)).collect();
        assert_eq!(out[0], "Logged on user: domain-1\\user-1.");
        assert_eq!(
            out[1],
            "Setup will use the domain controller 'host-2.domain-1'."
        );
        assert_eq!(
            out[2],
            "'CN=host-1,CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=domain-1,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=domain-1,DC=local'"
        );
        assert_eq!(out[3], "mail for user-2@domain-2 from ip-1 and ip-2");
        // Case does not matter; the token does not change.
        assert_eq!(redacted(&mut r, "ex01 Ex01 EX01"), "host-1 host-1 host-1");
    }

    #[test]
    fn paths_versions_cmdlets_and_vendor_names_stay() {
        let mut r = Redactor::default();
        r.add_host("EX01");
        let keep = [
            "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\Bin",
            "HKLM\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\Setup",
            "Setup 14.2.247.5 stopped; Version 15.1.2.3; build 8.3.83.6",
            "Add-ExchangeAdministrator -DomainController $RoleDomainController",
            "NT AUTHORITY\\SYSTEM, BUILTIN\\Administrators, IIS APPPOOL\\MSExchangeOWAAppPool",
            "see https://go.microsoft.com/fwlink/?LinkId=1 and setup.com /mode:upgrade",
            "Microsoft.Exchange.Management.dll System.Web.Mvc web.config [System.Math]::Abs(1)",
            "at 10:15:49.0269 on 02/12/2012, listening on 127.0.0.1",
        ];
        for l in keep {
            r.learn_text(l);
        }
        for l in keep {
            assert_eq!(redacted(&mut r, l), l);
        }
        assert_eq!(r.names.len(), 1, "{:?}", r.names);
    }

    #[test]
    fn an_address_equal_to_a_version_stays_a_version_everywhere() {
        let mut r = Redactor::default();
        r.learn_text("Setup version 14.2.247.5 started");
        r.learn_text("connect to 14.2.247.5 and 192.168.7.9");
        assert_eq!(
            redacted(&mut r, "connect to 14.2.247.5 and 192.168.7.9"),
            "connect to 14.2.247.5 and ip-1"
        );
    }

    #[test]
    fn seed_diagnosis_loses_host_domain_and_user_in_every_format() {
        let mut d = testing::seed();
        // The setup log names the logged-on account and the domain controller; put those lines
        // where a finding would quote them, as the event-log and setup rules do.
        let run = d
            .findings
            .iter_mut()
            .find(|f| f.id == "setup-stopped-critical")
            .expect("the seed's setup finding");
        run.evidence.push(Evidence::new(
            Locator::line("setup/ExchangeSetup.log", 1490),
            "[02/12/2012 20:41:07.5341] [0] Logged on user: CONTOSO\\Administrator.",
        ));
        run.evidence.push(Evidence::new(
            Locator::line("setup/ExchangeSetup.log", 1493),
            "[02/12/2012 20:41:08.1110] [0] Setup has chosen the local domain controller DC01.contoso.local for initial queries",
        ));
        let before = crate::report::json::render(&d);
        for s in ["EX01", "contoso", "Administrator", "DC01"] {
            assert!(before.contains(s), "the fixture must contain {s}");
        }
        let mut r = Redactor::default();
        r.learn_diagnosis(&d);
        r.diagnosis(&mut d);
        for out in [
            crate::report::json::render(&d),
            crate::report::md::render(&d),
            crate::report::html::render(&d),
            crate::report::text::render(&d, Default::default()),
        ] {
            // Names are hidden whatever their case. `Administrator` is the account; the word
            // "administrator" in rule text (and `Add-ExchangeAdministrator`) is not a name.
            for re in [
                r"(?i)\bex01\b",
                r"(?i)contoso",
                r"(?i)\bdc01\b",
                r"\bAdministrator\b",
            ] {
                let re = Regex::new(re).expect("regex");
                assert!(!re.is_match(&out), "{re} left in:\n{out}");
            }
            assert!(out.contains("host-1"));
        }
        assert_eq!(d.bundle.host.as_deref(), Some("host-1"));
        let json = crate::report::json::render(&d);
        assert!(json.contains("domain-1\\\\user-1"), "{json}");
        assert!(json.contains("host-2.domain-1"));
        // Versions and services are not names.
        assert!(json.contains("Setup 14.2.247.5 stopped at Install-BridgeheadRole"));
        assert!(json.contains("MSExchangeServiceHost"));
    }

    #[test]
    fn the_same_host_gets_the_same_token_in_the_report_and_the_timeline() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(testing::SEED);
        let opts = crate::Options {
            keep_all_events: true,
            ..Default::default()
        };
        let mut a = crate::analyze(&path, &opts).expect("seed analyses");
        let mut entries = crate::timeline::build(&a.facts, &a.clock);
        entries.push(TimelineEntry {
            datetime: chrono::Utc::now(),
            timestamp_desc: "Event logged".into(),
            message: "Service Control Manager 7040 on EX01.contoso.local by CONTOSO\\Administrator"
                .into(),
            source: "EVTX".into(),
            locator: "evtx/System.evtx record 9".into(),
        });
        timeline(&a, &mut entries);
        analysis(&mut a);
        let host = a.diagnosis.bundle.host.clone().expect("host");
        assert_eq!(host, "host-1");
        let last = &entries.last().expect("entry").message;
        assert_eq!(
            last,
            "Service Control Manager 7040 on host-1.domain-1 by domain-1\\user-1"
        );
    }

    #[test]
    fn tokens_are_not_taken_for_names() {
        let mut r = Redactor::default();
        r.learn_text("Logged on user: host-1\\user-2 on HOST-3.corp.local");
        assert!(r.names.keys().all(|k| !is_token(k)), "{:?}", r.names);
    }
}
