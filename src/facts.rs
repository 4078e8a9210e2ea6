//! The model: facts observed in a bundle, findings concluded from them, and the diagnosis.
//!
//! No I/O lives here. Parsers produce [`Fact`]s, rules turn facts into [`Finding`]s, the
//! correlator turns findings into a [`Diagnosis`], reports render it. Every fact and every
//! finding carries [`Evidence`] with a [`Locator`], so an analyst can check it in seconds.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where in the bundle something was seen.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Locator {
    /// Bundle-relative path with `/` separators, as listed in the manifest.
    pub path: String,
    #[serde(flatten)]
    pub at: Position,
}

/// The place inside a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Position {
    /// The file as a whole.
    File,
    /// A 1-based line number.
    Line(u64),
    /// An inclusive 1-based line range.
    Lines(u64, u64),
    /// An EVTX event record id.
    Record(u64),
    /// A registry key (and optionally value, as `KEY\\@Value`).
    Key(String),
    /// An XML element path, e.g. `configuration/system.webServer/globalModules/add[@name='exppw']`.
    Element(String),
    /// A 1-based data row of a CSV file (the header is row 0).
    Row(u64),
}

impl Locator {
    pub fn new(path: impl Into<String>, at: Position) -> Self {
        Locator {
            path: path.into(),
            at,
        }
    }
    pub fn file(path: impl Into<String>) -> Self {
        Self::new(path, Position::File)
    }
    pub fn line(path: impl Into<String>, line: u64) -> Self {
        Self::new(path, Position::Line(line))
    }
}

impl std::fmt::Display for Locator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.at {
            Position::File => write!(f, "{}", self.path),
            Position::Line(n) => write!(f, "{}:{}", self.path, n),
            Position::Lines(a, b) if a == b => write!(f, "{}:{}", self.path, a),
            Position::Lines(a, b) => write!(f, "{}:{}-{}", self.path, a, b),
            Position::Record(r) => write!(f, "{} record {}", self.path, r),
            Position::Key(k) => write!(f, "{} [{}]", self.path, k),
            Position::Element(e) => write!(f, "{} <{}>", self.path, e),
            Position::Row(r) => write!(f, "{} row {}", self.path, r),
        }
    }
}

/// A locator plus a short excerpt of what is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub locator: Locator,
    pub excerpt: String,
}

impl Evidence {
    /// Excerpts are for people: keep them to one screen line.
    pub const MAX_EXCERPT: usize = 300;

    pub fn new(locator: Locator, excerpt: impl Into<String>) -> Self {
        Evidence {
            locator,
            excerpt: clip(&excerpt.into(), Self::MAX_EXCERPT),
        }
    }
}

/// Shortens `s` to at most `max` characters on a char boundary, marking the cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// When a fact happened. Setup logs are written in the server's local time and EVTX in UTC;
/// the timeline puts both on one clock once the offset is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "zone", content = "time", rename_all = "snake_case")]
pub enum Stamp {
    Utc(DateTime<Utc>),
    Local(NaiveDateTime),
}

/// One observation from one artefact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fact {
    pub time: Option<Stamp>,
    pub evidence: Evidence,
    pub kind: FactKind,
}

/// What was observed. Variants are grouped by the artefact that yields them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FactKind {
    // --- setup logs -------------------------------------------------------------------------
    /// One run of Setup.exe, from its banner to its end marker (or the end of the file).
    SetupRun(SetupRun),
    /// One `[ERROR]` block, grouped with its reference, task and failing command.
    SetupError(SetupError),
    /// A setup-log line that a rule asked to see (see [`crate::parse::Interest`]).
    SetupLine(SetupLine),

    // --- event logs -------------------------------------------------------------------------
    Event(Event),

    // --- registry ---------------------------------------------------------------------------
    RoleState(RoleState),
    InstallPath(InstallPath),
    ServiceRegistry(ServiceRegistry),
    /// IIS as `HKLM\SOFTWARE\Microsoft\InetStp` describes it.
    IisSetup(IisSetup),

    // --- IIS --------------------------------------------------------------------------------
    UnexpandedToken(UnexpandedToken),
    WebConfigFile(WebConfigFile),
    IisGlobalModule(IisGlobalModule),
    IisLocationModules(IisLocationModules),
    AppPool(AppPool),
    IisApplication(IisApplication),
    IisAuthentication(IisAuthentication),
    HttpRedirect(HttpRedirect),

    // --- host -------------------------------------------------------------------------------
    Service(ServiceState),
    Software(Software),
    FileVersion(FileVersion),
    FileEntry(FileEntry),
    AclEntry(AclEntry),
    Host(HostFacts),
}

/// How a setup run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Completed,
    /// "Setup is stopping now because of one or more critical errors" or "didn't complete".
    Failed,
    /// The run has no end marker: setup was killed, the server rebooted, or the log was cut.
    Interrupted,
    /// An end marker without a success or failure statement.
    Ended,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetupRun {
    /// 0-based index of the run in its file.
    pub index: usize,
    /// e.g. "2010", "2016", "Subscription Edition".
    pub product: String,
    /// `Setup version:` e.g. 14.2.247.5.
    pub version: Option<String>,
    /// `Command Line Parameter Name='mode'` or the installation mode.
    pub mode: Option<String>,
    pub installation_mode: Option<String>,
    /// `The backup copy of the previously installed version is '…'`.
    pub previous_version: Option<String>,
    /// The time of the run's first line read: its header's, or, when the log begins after
    /// the header (`header` false), only a bound. None for console text, which has no time.
    pub start: Option<NaiveDateTime>,
    /// The `Starting Microsoft Exchange Server … Setup` header was read.
    pub header: bool,
    pub end: Option<NaiveDateTime>,
    pub outcome: RunOutcome,
    pub first_line: u64,
    pub last_line: u64,
    /// The task (cmdlet) that was running when the run stopped, if it failed.
    pub failed_task: Option<String>,
    pub error_count: usize,
    /// True for the last run in the file: the one that left the server as it is.
    pub is_last: bool,
    /// What had to be assumed to read the run (a start not in the log, the order of day and
    /// month), for the report to say.
    pub notes: Vec<String>,
}

impl SetupRun {
    /// `started 2012-02-12 21:10:01`, or what the log shows when its start is not in it.
    pub fn started(&self) -> String {
        match (self.start, self.header) {
            (Some(t), true) => format!("started {}", t.format("%Y-%m-%d %H:%M:%S")),
            (Some(t), false) => format!(
                "read from {} (its start is not in the log)",
                t.format("%Y-%m-%d %H:%M:%S")
            ),
            (None, _) => "read from text without times".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetupError {
    pub run: usize,
    /// The `[ERROR]` lines' text, in order, continuation lines joined.
    pub messages: Vec<String>,
    /// `[ERROR-REFERENCE] Id=…`.
    pub reference_id: Option<String>,
    /// `Component=…`.
    pub component: Option<String>,
    /// The task that was being processed (`Beginning processing Install-BridgeheadRole`).
    pub task: Option<String>,
    /// The script or command that failed, from `The following error was generated when "…" was run`.
    pub command: Option<String>,
    /// Whether setup stopped right after this error.
    pub critical: bool,
    pub first_line: u64,
    pub last_line: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetupLine {
    pub run: Option<usize>,
    pub line: u64,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub channel: String,
    pub provider: String,
    pub event_id: u32,
    pub qualifiers: Option<u32>,
    pub level: u8,
    pub record_id: u64,
    pub computer: String,
    /// EventData/UserData by name; unnamed `<Data>` get their position ("0", "1", …).
    pub data: BTreeMap<String, String>,
    /// Set on a fact standing for many events exactly like this one (same provider, id,
    /// computer and data; only their records and times differ) that were not kept one by one,
    /// so memory does not grow with the logs (`parse::digest`). `None` on a single event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<Box<Repeats>>,
}

/// The events one [`Event`] fact stands for when it is not a single record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeats {
    /// How many events.
    pub count: u64,
    /// Their lowest and highest record ids.
    pub records: (u64, u64),
    /// Their latest time (the fact's own time is their earliest).
    pub last: Option<DateTime<Utc>>,
    /// The files they are in, sorted (the first few only: enough for a line of evidence).
    pub paths: Vec<String>,
}

impl Event {
    /// How many events this fact stands for: 1, or more for [`Event::repeats`].
    pub fn weight(&self) -> u64 {
        self.repeats.as_ref().map_or(1, |r| r.count)
    }

    /// The latest time of the events this fact stands for.
    pub fn latest(&self, time: Option<Stamp>) -> Option<Stamp> {
        match self.repeats.as_ref().and_then(|r| r.last) {
            Some(t) => Some(Stamp::Utc(t)),
            None => time,
        }
    }

    /// All data values joined, for text matching.
    pub fn text(&self) -> String {
        self.data.values().cloned().collect::<Vec<_>>().join(" | ")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleState {
    /// Registry key name, e.g. `HubTransportRole` (setup logs call it `BridgeheadRole`).
    pub role: String,
    /// `v14` or `v15`.
    pub major: String,
    pub configured_version: Option<String>,
    pub unpacked_version: Option<String>,
    pub watermark: Option<String>,
    pub action: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstallPath {
    pub major: String,
    /// `Setup\MsiInstallPath`, with its trailing `\`.
    pub path: String,
    /// MsiProductMajor.Minor.BuildMajor.BuildMinor when present.
    pub build: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRegistry {
    pub name: String,
    /// `Start`: 2 automatic, 3 manual, 4 disabled.
    pub start: Option<u32>,
    pub image_path: Option<String>,
    pub depend_on: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IisSetup {
    /// `MajorVersion.MinorVersion` (`10.0`), else `VersionString`.
    pub version: Option<String>,
    pub install_path: Option<String>,
    /// Components whose value under `InetStp\Components` is non-zero (`W3SVC`, `WindowsAuthentication`).
    pub components: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnexpandedToken {
    pub token: String,
    pub attribute: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebConfigFile {
    /// Path under the install dir, e.g. `ClientAccess/Owa/web.config`.
    pub relative: String,
    pub token_count: usize,
    pub has_backup: bool,
    /// The live file equals its `.bak` except that one has tokens where the other has paths.
    pub differs_from_backup_only_in_paths: bool,
    /// Is this file itself the `.bak`?
    pub is_backup: bool,
    /// Native modules the file adds under `system.webServer/modules`.
    pub modules: Vec<String>,
    /// Secrets left in clear (`machineKey validationKey`, a connection-string password): where
    /// they are, never their values.
    #[serde(default)]
    pub secrets: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IisGlobalModule {
    pub name: String,
    pub image: String,
    pub pre_condition: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IisLocationModules {
    /// `Default Web Site/owa`.
    pub location: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppPool {
    pub name: String,
    pub identity_type: Option<String>,
    pub auto_start: Option<bool>,
    pub managed_runtime_version: Option<String>,
    pub enable_32bit: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IisApplication {
    pub site: String,
    pub path: String,
    pub app_pool: Option<String>,
    pub physical_path: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IisAuthentication {
    pub location: String,
    /// Enabled methods: `basic`, `windows`, `anonymous`, `digest`, `clientCertificateMapping`…
    pub enabled: Vec<String>,
    pub disabled: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpRedirect {
    pub location: String,
    pub enabled: bool,
    pub destination: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceState {
    pub name: String,
    pub display_name: String,
    /// `Auto`, `Manual`, `Disabled` (Win32_Service.StartMode).
    pub start_mode: String,
    /// `Running`, `Stopped`, …
    pub state: String,
    pub start_name: Option<String>,
    pub path_name: Option<String>,
}

impl ServiceState {
    pub fn is_disabled(&self) -> bool {
        self.start_mode.eq_ignore_ascii_case("disabled")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Software {
    pub name: String,
    pub version: Option<String>,
    pub publisher: Option<String>,
    pub install_date: Option<String>,
    /// Where it was found: `uninstall`, `service`, `securitycenter`.
    pub source: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileVersion {
    pub path: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the Exchange install dir, `\` separators as on Windows.
    pub path: String,
    pub size: Option<u64>,
    pub modified: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AclEntry {
    /// The folder the icacls output is about.
    pub target: String,
    pub principal: String,
    /// Raw rights as icacls prints them, e.g. `(OI)(CI)(RX)`.
    pub rights: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostFacts {
    pub computer_name: Option<String>,
    pub domain: Option<String>,
    pub os: Option<String>,
    pub pending_reboot: Option<bool>,
    pub dotnet_release: Option<u32>,
    pub utc_offset_minutes: Option<i32>,
    pub time_zone_id: Option<String>,
    pub other: BTreeMap<String, String>,
}

// ------------------------------------------------------------------------------------------
// Findings and diagnosis
// ------------------------------------------------------------------------------------------

/// What role a finding plays in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Cause,
    Symptom,
    Risk,
    Info,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

/// A declared link: "this finding explains findings with `id`", narrowed to those about the same
/// `subject` when one is given (e.g. the same service name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explains {
    pub id: String,
    pub subject: Option<String>,
}

impl Explains {
    pub fn any(id: &str) -> Self {
        Explains {
            id: id.to_string(),
            subject: None,
        }
    }
    pub fn about(id: &str, subject: &str) -> Self {
        Explains {
            id: id.to_string(),
            subject: Some(subject.to_string()),
        }
    }
}

/// What a rule concluded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// Stable rule id, e.g. `service-disabled`.
    pub id: String,
    pub title: String,
    pub kind: FindingKind,
    pub severity: Severity,
    pub confidence: Confidence,
    /// What the finding is about (a service, a role, a file); lets explains-links match.
    pub subject: Option<String>,
    /// The earliest time the evidence shows, on the bundle's UTC clock.
    pub time: Option<DateTime<Utc>>,
    pub evidence: Vec<Evidence>,
    pub why: String,
    /// What to do: typed actions the planner merges into the recovery plan.
    pub fix: Vec<crate::repair::Action>,
    pub references: Vec<String>,
    pub explains: Vec<Explains>,
}

impl Finding {
    /// The key that identifies this finding within a diagnosis (`id` or `id:subject`).
    pub fn key(&self) -> String {
        match &self.subject {
            Some(s) => format!("{}:{}", self.id, s),
            None => self.id.clone(),
        }
    }
}

/// Something that could not be read, or was read only in part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Bundle path, or `bundle` for the container itself.
    pub path: String,
    pub message: String,
}

/// A file in the bundle that no parser used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// The facts of one bundle, with the lookups rules need.
#[derive(Debug, Default)]
pub struct FactSet {
    pub facts: Vec<Fact>,
    /// Where the runs and the service rows are: rules look them up once per event, and a
    /// years-long setup log makes hundreds of thousands of facts to walk each time.
    index: KindIndex,
}

#[derive(Debug, Default)]
struct KindIndex {
    /// How many facts there were when the index was made: facts pushed since (tests do)
    /// make it stale, and the lookups walk every fact instead.
    len: usize,
    runs: Vec<usize>,
    services: Vec<usize>,
    /// Every run's span on its log's clock (start, end, position in `runs`), by start; an
    /// open run counts as [`OPEN_RUN_HOURS`] long.
    spans: Vec<(NaiveDateTime, NaiveDateTime, usize)>,
    /// The longest span, which bounds how far back a run holding a time can start.
    longest: chrono::Duration,
}

/// A run without an end marker is taken to last this long at most (it was killed, or the log
/// was cut): long enough for a real upgrade, short enough not to swallow the next week.
pub const OPEN_RUN_HOURS: i64 = 12;

impl FactSet {
    pub fn new(facts: Vec<Fact>) -> Self {
        let mut index = KindIndex {
            len: facts.len(),
            ..Default::default()
        };
        for (i, f) in facts.iter().enumerate() {
            match &f.kind {
                FactKind::SetupRun(r) => {
                    if let Some(start) = r.start {
                        let end = r
                            .end
                            .unwrap_or(start + chrono::Duration::hours(OPEN_RUN_HOURS));
                        index.spans.push((start, end, index.runs.len()));
                        index.longest = index.longest.max(end - start);
                    }
                    index.runs.push(i);
                }
                FactKind::Service(_) => index.services.push(i),
                _ => {}
            }
        }
        index.spans.sort();
        FactSet { facts, index }
    }

    /// The first run, in file order, whose span holds `t` (on the setup logs' clock).
    pub fn run_at(&self, t: NaiveDateTime) -> Option<(&Fact, &SetupRun)> {
        let holds = |r: &SetupRun| {
            r.start.is_some_and(|start| {
                let end = r
                    .end
                    .unwrap_or(start + chrono::Duration::hours(OPEN_RUN_HOURS));
                start <= t && t <= end
            })
        };
        if self.index.len != self.facts.len() {
            return self.runs().find(|(_, r)| holds(r));
        }
        // Only runs starting between `t - longest` and `t` can hold it.
        let spans = &self.index.spans;
        let from = spans.partition_point(|(start, ..)| *start < t - self.index.longest);
        let to = spans.partition_point(|(start, ..)| *start <= t);
        let first = spans[from..to]
            .iter()
            .filter(|(_, end, _)| t <= *end)
            .map(|(.., n)| *n)
            .min()?;
        let f = &self.facts[self.index.runs[first]];
        match &f.kind {
            FactKind::SetupRun(r) => Some((f, r)),
            _ => None,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Fact> {
        self.facts.iter()
    }

    /// The facts at `positions` when the index is current, else all of them.
    fn indexed<'a>(&'a self, positions: &'a [usize]) -> impl Iterator<Item = &'a Fact> {
        use rayon::iter::Either;
        if self.index.len == self.facts.len() {
            Either::Left(positions.iter().map(|i| &self.facts[*i]))
        } else {
            Either::Right(self.facts.iter())
        }
    }

    /// Setup runs of every log, in file order.
    pub fn runs(&self) -> impl Iterator<Item = (&Fact, &SetupRun)> {
        self.indexed(&self.index.runs)
            .filter_map(|f| match &f.kind {
                FactKind::SetupRun(r) => Some((f, r)),
                _ => None,
            })
    }

    /// The last run of each setup log (the one that left the server as it is).
    pub fn last_runs(&self) -> impl Iterator<Item = (&Fact, &SetupRun)> {
        self.runs().filter(|(_, r)| r.is_last)
    }

    pub fn setup_errors(&self) -> impl Iterator<Item = (&Fact, &SetupError)> {
        self.facts.iter().filter_map(|f| match &f.kind {
            FactKind::SetupError(e) => Some((f, e)),
            _ => None,
        })
    }

    /// Errors of the last run of the log that `run_fact` belongs to.
    pub fn errors_of(&self, run_fact: &Fact, run: &SetupRun) -> Vec<(&Fact, &SetupError)> {
        self.setup_errors()
            .filter(|(f, e)| {
                f.evidence.locator.path == run_fact.evidence.locator.path && e.run == run.index
            })
            .collect()
    }

    /// The error a failed run stopped on (its critical error, else its first one) and the task
    /// that was running: setup's own account of it, else the error's.
    pub fn stop_of(
        &self,
        run_fact: &Fact,
        run: &SetupRun,
    ) -> (Option<(&Fact, &SetupError)>, Option<String>) {
        let errors = self.errors_of(run_fact, run);
        let stop = errors
            .iter()
            .find(|(_, e)| e.critical)
            .or(errors.first())
            .copied();
        let task = run
            .failed_task
            .clone()
            .or_else(|| stop.and_then(|(_, e)| e.task.clone()));
        (stop, task)
    }

    pub fn setup_lines(&self) -> impl Iterator<Item = (&Fact, &SetupLine)> {
        self.facts.iter().filter_map(|f| match &f.kind {
            FactKind::SetupLine(l) => Some((f, l)),
            _ => None,
        })
    }

    pub fn services(&self) -> impl Iterator<Item = (&Fact, &ServiceState)> {
        self.indexed(&self.index.services)
            .filter_map(|f| match &f.kind {
                FactKind::Service(s) => Some((f, s)),
                _ => None,
            })
    }

    /// The services.csv row of a service, by key name or display name.
    pub fn service(&self, name: &str) -> Option<(&Fact, &ServiceState)> {
        self.services().find(|(_, s)| {
            s.name.eq_ignore_ascii_case(name) || s.display_name.eq_ignore_ascii_case(name)
        })
    }

    pub fn events(&self) -> impl Iterator<Item = (&Fact, &Event)> {
        self.facts.iter().filter_map(|f| match &f.kind {
            FactKind::Event(e) => Some((f, e)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(day: u32, hour: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2012, 2, day)
            .unwrap()
            .and_hms_opt(hour, 0, 0)
            .unwrap()
    }

    fn run(log: &str, index: usize, start: NaiveDateTime, end: Option<NaiveDateTime>) -> Fact {
        Fact {
            time: None,
            evidence: Evidence::new(Locator::new(log, Position::Line(index as u64 + 1)), ""),
            kind: FactKind::SetupRun(SetupRun {
                index,
                product: "2010".into(),
                version: None,
                mode: None,
                installation_mode: None,
                previous_version: None,
                start: Some(start),
                header: true,
                end,
                outcome: RunOutcome::Failed,
                first_line: 1,
                last_line: 1,
                failed_task: None,
                error_count: 0,
                is_last: false,
                notes: Vec::new(),
            }),
        }
    }

    fn found(facts: &FactSet, t: NaiveDateTime) -> Option<(String, usize)> {
        facts
            .run_at(t)
            .map(|(f, r)| (f.evidence.locator.path.clone(), r.index))
    }

    #[test]
    fn the_run_holding_a_time_is_the_first_in_file_order() {
        let mut facts = FactSet::new(vec![
            // A long run of one log, listed first, holding a short run of another log.
            run("a.log", 0, at(10, 0), Some(at(12, 0))),
            run("b.log", 0, at(11, 1), Some(at(11, 3))),
            // Open: taken to last OPEN_RUN_HOURS.
            run("b.log", 1, at(14, 0), None),
        ]);
        assert_eq!(found(&facts, at(11, 2)), Some(("a.log".into(), 0)));
        assert_eq!(
            found(&facts, at(12, 0)),
            Some(("a.log".into(), 0)),
            "end included"
        );
        assert_eq!(found(&facts, at(13, 0)), None);
        assert_eq!(found(&facts, at(14, 11)), Some(("b.log".into(), 1)));
        assert_eq!(found(&facts, at(14, 13)), None, "open run over");
        assert_eq!(found(&facts, at(9, 23)), None);
        // Facts pushed after the set was made are still seen.
        facts
            .facts
            .push(run("c.log", 0, at(13, 0), Some(at(13, 5))));
        assert_eq!(found(&facts, at(13, 1)), Some(("c.log".into(), 0)));
        assert_eq!(found(&facts, at(11, 2)), Some(("a.log".into(), 0)));
    }
}
