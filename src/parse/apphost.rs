//! `iis/applicationHost.config`: the IIS configuration Exchange's virtual directories live in.
//!
//! Yields the native modules registered server-wide (`globalModules`: is `exppw` there, with which
//! image?), the modules each `<location>` adds or removes (is `exppw` enabled for
//! `Default Web Site/owa`?), application pools (identity, autoStart, runtime, 32-bit), the
//! applications of each site with their physical paths, and per location the authentication
//! methods and the HTTP redirect. The server level (outside any `<location>`) is reported as
//! location `""`.
//!
//! Values are as written; an application pool attribute the pool does not set is taken from
//! `applicationPoolDefaults` when the file has one (as IIS does), and left `None` otherwise (the
//! IIS built-in default applies). The XML is read with [`super::xml::walk`].

use super::xml::{self, Element, Node};
use super::{Error, Input, Sink};
use crate::facts::{
    AppPool, Evidence, Fact, FactKind, HttpRedirect, IisApplication, IisAuthentication,
    IisGlobalModule, IisLocationModules, Locator, Position,
};

/// Pools are held until `</applicationPools>` to apply the defaults; past this they are emitted
/// as written.
const MAX_PENDING_POOLS: usize = 10_000;
/// A real applicationHost.config yields a few hundred facts; a hostile one is not allowed to fill
/// memory with millions. Past this, facts are counted and dropped.
const MAX_FACTS: usize = 100_000;

pub fn parse(input: &Input<'_>, sink: &mut Sink) -> Result<(), Error> {
    let path = input.path().to_string();
    let max_depth = input.limits.max_xml_depth;
    input
        .bundle
        .with_reader(input.entry, |r| parse_reader(r, &path, max_depth, sink))
        .map_err(Error::from_io)?
}

/// What one `<location>` (or the server level) says, gathered until it closes.
#[derive(Default)]
struct Scope {
    /// `None` for the server level.
    location: Option<String>,
    line: u64,
    modules_line: Option<u64>,
    added: Vec<String>,
    removed: Vec<String>,
    auth_line: Option<u64>,
    enabled: Vec<String>,
    disabled: Vec<String>,
    /// (line, enabled, destination)
    redirect: Option<(u64, bool, Option<String>)>,
}

struct PendingPool {
    line: u64,
    tag: String,
    pool: AppPool,
}

#[derive(Default)]
struct PoolDefaults {
    identity_type: Option<String>,
    auto_start: Option<bool>,
    managed_runtime_version: Option<String>,
    enable_32bit: Option<bool>,
}

struct PendingApp {
    line: u64,
    site: String,
    app: IisApplication,
}

struct State<'p> {
    path: &'p str,
    facts: Vec<Fact>,
    dropped: u64,
    server: Scope,
    location: Option<Scope>,
    pools: Vec<PendingPool>,
    pool_defaults: PoolDefaults,
    site: Option<String>,
    app: Option<PendingApp>,
}

/// Parses applicationHost.config from any reader; `path` is the bundle path used in locators.
pub fn parse_reader(
    reader: &mut dyn std::io::Read,
    path: &str,
    max_depth: usize,
    sink: &mut Sink,
) -> Result<(), Error> {
    let mut st = State {
        path,
        facts: Vec::new(),
        dropped: 0,
        server: Scope::default(),
        location: None,
        pools: Vec::new(),
        pool_defaults: PoolDefaults::default(),
        site: None,
        app: None,
    };
    let summary = xml::walk(reader, max_depth, &mut |node| match node {
        Node::Open(e) => st.open(e),
        Node::Close { name, ancestors } => st.close(name, ancestors),
    })
    .map_err(Error::from_io)?;
    for p in &summary.problems {
        sink.problem(path, p.clone());
    }
    summary.absorb_into(sink);
    if summary.elements == 0 {
        return Err(Error::format(
            "an XML configuration file",
            summary
                .problems
                .first()
                .cloned()
                .unwrap_or_else(|| "no element found".into()),
        ));
    }
    // A truncated file: emit what was gathered for the elements left open.
    st.flush_pools();
    if let Some(app) = st.app.take() {
        st.emit_app(app);
    }
    if let Some(loc) = st.location.take() {
        st.emit_scope(loc);
    }
    let server = std::mem::take(&mut st.server);
    st.emit_scope(server);
    if st.dropped > 0 {
        let why = format!(
            "{} more configuration facts beyond the first {MAX_FACTS} were dropped (not a real applicationHost.config?)",
            st.dropped
        );
        sink.problem(path, why.clone());
        sink.absorbed(why);
    }
    // Through the sink, so the bundle's fact-memory cap counts them too.
    sink.extend(std::mem::take(&mut st.facts));
    Ok(())
}

fn parse_bool(v: Option<&str>) -> Option<bool> {
    match v?.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// `<add name="x" image="y"/>` on one line, for excerpts.
fn tag(e: &Element<'_>) -> String {
    let mut s = format!("<{}", e.name);
    for (k, v) in e.attrs {
        s.push_str(&format!(" {k}=\"{v}\""));
    }
    s.push_str(if e.self_closing { "/>" } else { ">" });
    s
}

impl State<'_> {
    fn keep(&mut self, f: Fact) {
        if self.facts.len() < MAX_FACTS {
            self.facts.push(f);
        } else {
            self.dropped += 1;
        }
    }

    /// The scope an element belongs to and its path below the scope's `system.webServer`.
    fn scope_of<'a>(&mut self, ancestors: &'a [String]) -> Option<(&mut Scope, &'a [String])> {
        let a: Vec<&str> = ancestors.iter().map(String::as_str).collect();
        match a.as_slice() {
            ["configuration", "location", "system.webServer", ..] => {
                let loc = self.location.as_mut()?;
                Some((loc, &ancestors[3..]))
            }
            ["configuration", "system.webServer", ..] => Some((&mut self.server, &ancestors[2..])),
            _ => None,
        }
    }

    fn open(&mut self, e: &Element<'_>) {
        let anc: Vec<&str> = e.ancestors.iter().map(String::as_str).collect();
        match (anc.as_slice(), e.name) {
            (["configuration"], "location") => {
                self.location = Some(Scope {
                    location: Some(e.attr("path").unwrap_or("").to_string()),
                    line: e.line,
                    ..Scope::default()
                });
                return;
            }
            ([.., "system.webServer", "globalModules"], "add") => {
                let name = e.attr("name").unwrap_or("").to_string();
                self.keep(Fact {
                    time: None,
                    evidence: Evidence::new(
                        Locator::new(self.path, Position::Element(e.path(Some("name")))),
                        format!("line {}: {}", e.line, tag(e)),
                    ),
                    kind: FactKind::IisGlobalModule(IisGlobalModule {
                        name,
                        image: e.attr("image").unwrap_or("").to_string(),
                        pre_condition: e.attr("preCondition").map(str::to_string),
                    }),
                });
                return;
            }
            ([.., "system.applicationHost", "applicationPools"], "add") => {
                self.pools.push(PendingPool {
                    line: e.line,
                    tag: tag(e),
                    pool: AppPool {
                        name: e.attr("name").unwrap_or("").to_string(),
                        identity_type: None,
                        auto_start: parse_bool(e.attr("autoStart")),
                        managed_runtime_version: e
                            .attr("managedRuntimeVersion")
                            .map(str::to_string),
                        enable_32bit: parse_bool(e.attr("enable32BitAppOnWin64")),
                    },
                });
                if self.pools.len() > MAX_PENDING_POOLS {
                    self.flush_pools();
                }
                return;
            }
            ([.., "applicationPools", "add"], "processModel") => {
                if let Some(p) = self.pools.last_mut() {
                    p.pool.identity_type = e.attr("identityType").map(str::to_string);
                    p.tag.push_str(&format!(" {}", tag(e)));
                }
                return;
            }
            ([.., "system.applicationHost", "applicationPools"], "applicationPoolDefaults") => {
                let d = &mut self.pool_defaults;
                d.auto_start = parse_bool(e.attr("autoStart"));
                d.managed_runtime_version = e.attr("managedRuntimeVersion").map(str::to_string);
                d.enable_32bit = parse_bool(e.attr("enable32BitAppOnWin64"));
                return;
            }
            ([.., "applicationPools", "applicationPoolDefaults"], "processModel") => {
                self.pool_defaults.identity_type = e.attr("identityType").map(str::to_string);
                return;
            }
            ([.., "system.applicationHost", "sites"], "site") => {
                self.site = Some(e.attr("name").unwrap_or("").to_string());
                return;
            }
            ([.., "sites", "site"], "application") => {
                self.app = Some(PendingApp {
                    line: e.line,
                    site: self.site.clone().unwrap_or_default(),
                    app: IisApplication {
                        site: self.site.clone().unwrap_or_default(),
                        path: e.attr("path").unwrap_or("").to_string(),
                        app_pool: e.attr("applicationPool").map(str::to_string),
                        physical_path: None,
                    },
                });
                return;
            }
            ([.., "site", "application"], "virtualDirectory") => {
                if e.attr("path") == Some("/")
                    && let Some(a) = self.app.as_mut()
                {
                    a.app.physical_path = e.attr("physicalPath").map(str::to_string);
                }
                return;
            }
            _ => {}
        }

        let line = e.line;
        let name = e.name;
        let Some((scope, rel)) = self.scope_of(e.ancestors) else {
            return;
        };
        let rel: Vec<&str> = rel.iter().map(String::as_str).collect();
        match (rel.as_slice(), name) {
            ([], "modules") => scope.modules_line = Some(line),
            (["modules"], "add") | (["modules"], "remove") => {
                scope.modules_line.get_or_insert(line);
                if let Some(n) = e.attr("name") {
                    if name == "add" {
                        scope.added.push(n.to_string());
                    } else {
                        scope.removed.push(n.to_string());
                    }
                }
            }
            (["security"], "authentication") => {
                scope.auth_line.get_or_insert(line);
            }
            (["security", "authentication"], method) => {
                let Some(m) = method.strip_suffix("Authentication") else {
                    return;
                };
                scope.auth_line.get_or_insert(line);
                match parse_bool(e.attr("enabled")) {
                    Some(true) => scope.enabled.push(m.to_string()),
                    Some(false) => scope.disabled.push(m.to_string()),
                    None => {}
                }
            }
            ([], "httpRedirect") => {
                scope.redirect = Some((
                    line,
                    parse_bool(e.attr("enabled")).unwrap_or(false),
                    e.attr("destination").map(str::to_string),
                ));
            }
            _ => {}
        }
    }

    fn close(&mut self, name: &str, ancestors: &[String]) {
        let anc: Vec<&str> = ancestors.iter().map(String::as_str).collect();
        match (anc.as_slice(), name) {
            (["configuration"], "location") => {
                if let Some(loc) = self.location.take() {
                    self.emit_scope(loc);
                }
            }
            ([.., "system.applicationHost"], "applicationPools") => self.flush_pools(),
            ([.., "sites", "site"], "application") => {
                if let Some(app) = self.app.take() {
                    self.emit_app(app);
                }
            }
            ([.., "system.applicationHost", "sites"], "site") => self.site = None,
            _ => {}
        }
    }

    fn flush_pools(&mut self) {
        let d = &self.pool_defaults;
        let mut out = Vec::with_capacity(self.pools.len());
        for mut p in self.pools.drain(..) {
            let mut inherited = Vec::new();
            if p.pool.identity_type.is_none() && d.identity_type.is_some() {
                p.pool.identity_type = d.identity_type.clone();
                inherited.push("identityType");
            }
            if p.pool.auto_start.is_none() && d.auto_start.is_some() {
                p.pool.auto_start = d.auto_start;
                inherited.push("autoStart");
            }
            if p.pool.managed_runtime_version.is_none() && d.managed_runtime_version.is_some() {
                p.pool.managed_runtime_version = d.managed_runtime_version.clone();
                inherited.push("managedRuntimeVersion");
            }
            if p.pool.enable_32bit.is_none() && d.enable_32bit.is_some() {
                p.pool.enable_32bit = d.enable_32bit;
                inherited.push("enable32BitAppOnWin64");
            }
            let mut excerpt = format!("line {}: {}", p.line, p.tag);
            if !inherited.is_empty() {
                excerpt.push_str(&format!(
                    " ({} from applicationPoolDefaults)",
                    inherited.join(", ")
                ));
            }
            let element = format!(
                "configuration/system.applicationHost/applicationPools/add[@name='{}']",
                p.pool.name
            );
            out.push(Fact {
                time: None,
                evidence: Evidence::new(
                    Locator::new(self.path, Position::Element(element)),
                    excerpt,
                ),
                kind: FactKind::AppPool(p.pool),
            });
        }
        for f in out {
            self.keep(f);
        }
    }

    fn emit_app(&mut self, a: PendingApp) {
        let element = format!(
            "configuration/system.applicationHost/sites/site[@name='{}']/application[@path='{}']",
            a.site, a.app.path
        );
        let excerpt = format!(
            "line {}: {}{} applicationPool={} physicalPath={}",
            a.line,
            a.site,
            a.app.path,
            a.app.app_pool.as_deref().unwrap_or("(default)"),
            a.app.physical_path.as_deref().unwrap_or("(none)")
        );
        self.keep(Fact {
            time: None,
            evidence: Evidence::new(Locator::new(self.path, Position::Element(element)), excerpt),
            kind: FactKind::IisApplication(a.app),
        });
    }

    fn emit_scope(&mut self, s: Scope) {
        let location = s.location.clone().unwrap_or_default();
        let base = match &s.location {
            Some(p) => format!("configuration/location[@path='{p}']/system.webServer"),
            None => "configuration/system.webServer".to_string(),
        };
        let shown = if location.is_empty() {
            "server level".to_string()
        } else {
            location.clone()
        };
        let path = self.path;
        let at = |what: &str| Locator::new(path, Position::Element(format!("{base}/{what}")));
        // Every location gets a modules fact (an empty one says "adds nothing here"); the
        // server level only when it has a modules section.
        if s.location.is_some() || s.modules_line.is_some() {
            let line = s.modules_line.unwrap_or(s.line);
            let mut excerpt = format!("line {line}: {shown}: modules");
            if s.modules_line.is_none() {
                excerpt.push_str(" section absent");
            }
            if !s.added.is_empty() {
                excerpt.push_str(&format!(" add {}", s.added.join(", ")));
            }
            if !s.removed.is_empty() {
                excerpt.push_str(&format!(" remove {}", s.removed.join(", ")));
            }
            if s.modules_line.is_some() && s.added.is_empty() && s.removed.is_empty() {
                excerpt.push_str(" (empty)");
            }
            self.keep(Fact {
                time: None,
                evidence: Evidence::new(at("modules"), excerpt),
                kind: FactKind::IisLocationModules(IisLocationModules {
                    location: location.clone(),
                    added: s.added,
                    removed: s.removed,
                }),
            });
        }
        if let Some(line) = s.auth_line {
            let excerpt = format!(
                "line {line}: {shown}: authentication enabled [{}] disabled [{}]",
                s.enabled.join(", "),
                s.disabled.join(", ")
            );
            self.keep(Fact {
                time: None,
                evidence: Evidence::new(at("security/authentication"), excerpt),
                kind: FactKind::IisAuthentication(IisAuthentication {
                    location: location.clone(),
                    enabled: s.enabled,
                    disabled: s.disabled,
                }),
            });
        }
        if let Some((line, enabled, destination)) = s.redirect {
            let mut excerpt = format!("line {line}: {shown}: <httpRedirect enabled=\"{enabled}\"");
            if let Some(d) = &destination {
                excerpt.push_str(&format!(" destination=\"{d}\""));
            }
            excerpt.push('>');
            self.keep(Fact {
                time: None,
                evidence: Evidence::new(at("httpRedirect"), excerpt),
                kind: FactKind::HttpRedirect(HttpRedirect {
                    location,
                    enabled,
                    destination,
                }),
            });
        }
    }
}

#[cfg(test)]
mod tests;
