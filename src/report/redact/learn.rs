//! Which names to hide: the word lists and the patterns that find host, domain, organisation
//! and user names and addresses in facts and text.

use super::{
    Kind, QUAD, Redactor, V6, char_after, char_before, ipv6_at, is_token, is_word, quad_bounded,
};
use crate::diagnosis::Diagnosis;
use crate::facts::{FactKind, FactSet};
use regex::Regex;
use std::net::Ipv4Addr;
use std::sync::LazyLock;

/// Words that name Exchange or Windows things: never hidden as bare words even when they are
/// the first label of a host name (`autodiscover.contoso.com`) or a user part (`CONTOSO\Exchange
/// Servers`), or the report would lose its meaning.
pub(super) const COMMON: &[&str] = &[
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
pub(super) const BUILTIN_DOMAINS: &[&str] = &[
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
pub(super) const BUILTIN_USERS: &[&str] = &[
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
pub(super) const INTERNAL_TLDS: &[&str] = &[
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
pub(super) const PUBLIC_TLDS: &[&str] = &[
    "com", "net", "org", "edu", "gov", "mil", "io", "biz", "info", "co", "uk", "de", "fr", "au",
    "nz", "ca", "nl", "be", "ch", "at", "it", "es", "se", "no", "dk", "fi", "jp", "cn", "in", "br",
    "ru", "pl", "cz", "ie", "za", "sg", "hk", "us", "eu", "pt", "gr", "hu", "ro", "mx", "ar", "cl",
    "kr", "tw", "il", "tr", "ae",
];

/// Vendors' domains that show up in references and configuration: not the client's.
pub(super) const VENDOR_DOMAINS: &[&str] = &[
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
pub(super) const VERSION_CUES: &[&str] = &[
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
pub(super) const WELL_KNOWN_USERS: &[&str] = &[
    "administrator",
    "admin",
    "guest",
    "krbtgt",
    "defaultaccount",
    "wdagutilityaccount",
];

/// Labels that are file extensions: `app.exe.local` is a file, not a host.
pub(super) const FILE_EXTENSIONS: &[&str] = &[
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

impl Redactor {
    pub(super) fn token(&mut self, kind: Kind) -> String {
        let n = self.counters.entry(kind).or_insert(0);
        *n += 1;
        format!("{}-{n}", kind.prefix())
    }

    /// Registers `name` as `kind` unless it is known; returns its token.
    pub(super) fn add(&mut self, kind: Kind, name: &str) -> Option<String> {
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

    pub(super) fn add_host(&mut self, name: &str) {
        let name = name.trim();
        if name.contains('.') {
            self.add_fqdn(name, true);
        } else if !COMMON.contains(&name.to_lowercase().as_str()) {
            self.add(Kind::Host, name);
        }
    }

    /// A DNS domain; its first label (the NetBIOS name, usually) shares its token.
    pub(super) fn add_domain(&mut self, domain: &str) {
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
    pub(super) fn add_netbios(&mut self, name: &str) {
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

    pub(super) fn add_user(&mut self, user: &str) {
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
    pub(super) fn add_account(&mut self, domain: &str, sep: &str, user: &str) {
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
    pub(super) fn add_fqdn(&mut self, fqdn: &str, trusted: bool) {
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
    pub(super) fn learn_account(&mut self, account: &str) {
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

    pub(super) fn pending_ip(&mut self, ip: &str) {
        let key = ip.to_lowercase();
        if !self.pending_ips.contains(&key) && !self.ips.contains_key(&key) {
            self.pending_ips.push(key);
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
