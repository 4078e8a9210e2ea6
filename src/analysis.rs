//! The pipeline, end to end: open → parse → facts → clock → rules → correlate → diagnosis.

use crate::bundle::{self, ArtefactKind, Bundle, Limits};
use crate::correlate;
use crate::diagnosis::{BundleInfo, ClockInfo, Diagnosis, EventCount, RunSummary, SCHEMA_VERSION};
use crate::facts::{FactKind, FactSet, Stamp};
use crate::parse;
use crate::rules::{self, Context, InterestBuilder, Rule};
use crate::timeline::{self, Clock};
use std::path::{Path, PathBuf};

/// What the caller can set; built by the CLI from its flags.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub limits: Limits,
    /// Extra declarative rules (`--rules DIR`).
    pub rules_dir: Option<PathBuf>,
    /// Keep every event as a fact, not only those rules ask for (for library callers that want
    /// them all in memory; `exhume timeline` streams them instead, see [`crate::export`]).
    pub keep_all_events: bool,
    /// How far from a setup error an event may be to be linked to it (default 5 minutes).
    pub link_window: Option<chrono::Duration>,
    /// The setup logs' UTC offset in minutes, as the analyst knows it (`--utc-offset`): used
    /// over anything the bundle says.
    pub utc_offset: Option<i32>,
}

/// Default for [`Options::link_window`].
pub const LINK_WINDOW_MINUTES: i64 = 5;

/// Why an analysis could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bundle(#[from] bundle::Error),
    #[error(transparent)]
    Rules(#[from] rules::pattern::LoadError),
    #[error("a rule pattern does not compile: {0}")]
    Interest(#[from] regex::Error),
}

/// The diagnosis plus what it was built from.
pub struct Analysis {
    pub diagnosis: Diagnosis,
    pub facts: FactSet,
    pub clock: Clock,
}

/// Loads the built-in catalogue and any `--rules DIR`.
pub fn load_rules(opts: &Options) -> Result<Vec<Box<dyn Rule>>, Error> {
    let mut rules = rules::builtin();
    if let Some(dir) = &opts.rules_dir {
        rules.extend(rules::pattern::load_dir(dir)?);
    }
    Ok(rules)
}

pub fn analyze(path: &Path, opts: &Options) -> Result<Analysis, Error> {
    let rules = load_rules(opts)?;
    analyze_with(path, opts, &rules)
}

/// Analyses one bundle with an already loaded catalogue (batch mode loads it once).
pub fn analyze_with(
    path: &Path,
    opts: &Options,
    rules: &[Box<dyn Rule>],
) -> Result<Analysis, Error> {
    let interest = interest_of(rules, opts)?;
    analyze_prepared(path, opts, rules, &interest)
}

/// What `rules` ask the parsers to keep, compiled: a few dozen case-insensitive patterns make a
/// large regex set, worth building once for many bundles.
pub fn interest_of(rules: &[Box<dyn Rule>], opts: &Options) -> Result<parse::Interest, Error> {
    let mut ib = InterestBuilder::default();
    for r in rules {
        r.interest(&mut ib);
    }
    let mut interest = ib.build()?;
    interest.events.all = opts.keep_all_events;
    interest.events.link_window = opts.link_window;
    Ok(interest)
}

/// Analyses one bundle with a catalogue and its compiled [`interest_of`].
pub fn analyze_prepared(
    path: &Path,
    opts: &Options,
    rules: &[Box<dyn Rule>],
    interest: &parse::Interest,
) -> Result<Analysis, Error> {
    let bundle = Bundle::open(path, &opts.limits)?;
    let mut interest = interest.clone();
    // The kept-events budget is per bundle: a fresh counter, not the one of the last bundle.
    interest.events.kept = Default::default();

    let parsed = parse::parse_bundle(&bundle, &interest);
    bundle.hash_remaining();
    let custody = bundle.custody();
    let sha256 = bundle.digest().ok();

    let facts = FactSet::new(parsed.facts);
    let clock = match opts.utc_offset {
        Some(offset_minutes) => timeline::Clock {
            offset_minutes,
            source: timeline::ClockSource::Given,
            pairs: 0,
        },
        None => timeline::choose_clock(
            bundle
                .manifest
                .as_ref()
                .and_then(|m| m.utc_offset_minutes()),
            &facts,
        ),
    };
    let ctx = Context {
        facts: &facts,
        clock: &clock,
    };
    let mut findings = rules::run(rules, &ctx);
    let window = opts
        .link_window
        .unwrap_or_else(|| chrono::Duration::minutes(LINK_WINDOW_MINUTES));
    let time_links = timeline::link_errors_to_events(&facts, &clock, window);
    attach_linked_events(&mut findings, &facts, &time_links);
    if let Some(c) = &custody {
        findings.extend(rules::custody::findings(c));
    }
    findings.extend(rules::secrets::findings(&facts));

    let mut problems = bundle.problems.clone();
    problems.extend(parsed.problems);
    let mut skipped = bundle.skipped.clone();
    skipped.extend(parsed.skipped);
    skipped.sort_by(|a, b| a.path.cmp(&b.path));

    let missing = missing_evidence(&Seen {
        facts: &facts,
        used: &parsed.used,
        skipped: &skipped,
        partial: &parsed.partial,
        manifest: bundle.manifest.as_ref(),
        manifest_unusable: bundle.manifest_unusable.as_deref(),
        custody: custody.as_ref(),
    });
    let runs = run_summaries(&facts, &clock);
    let status = correlate::status(&findings, &missing);
    let last_run = runs.last();
    let correlation = correlate::correlate(&findings, &crate::repair::PlanContext { last_run });
    let coverage = coverage(&parsed.used);
    let verdict = correlate::verdict(
        status,
        &findings,
        &correlation,
        last_run,
        &missing,
        &coverage,
    );
    if bundle.manifest.is_none() {
        problems.push(crate::facts::Problem {
            path: "manifest.json".into(),
            message: "no usable manifest: analysed best-effort, without a chain-of-custody check or a known UTC offset".into(),
        });
    }

    let diagnosis = Diagnosis {
        schema_version: SCHEMA_VERSION,
        exhume_version: env!("CARGO_PKG_VERSION"),
        bundle: BundleInfo {
            path: bundle.path.display().to_string(),
            form: bundle.form,
            sha256,
            host: bundle
                .host()
                .map(str::to_string)
                .or_else(|| host_from_facts(&facts)),
            has_manifest: bundle.manifest.is_some(),
            custody,
            files: bundle.entries.len(),
            inside: None,
        },
        clock: ClockInfo {
            offset_minutes: clock.offset_minutes,
            source: clock.source,
            description: clock.describe(),
        },
        status,
        verdict: verdict.headline,
        broke: verdict.broke,
        checked: coverage.checked,
        not_in_bundle: coverage.absent,
        root_causes: correlation.root_causes,
        contributing: correlation.contributing,
        unexplained: correlation.unexplained,
        findings,
        plan: correlation.plan,
        runs,
        missing_evidence: missing,
        skipped,
        problems,
        used: parsed.used,
        time_links,
        event_counts: parsed
            .event_counts
            .into_iter()
            .map(|((channel, provider, event_id), count)| EventCount {
                channel,
                provider,
                event_id,
                count,
            })
            .collect(),
    };
    Ok(Analysis {
        diagnosis,
        facts,
        clock,
    })
}

/// A finding citing a setup error also cites the events linked to that error in time.
fn attach_linked_events(
    findings: &mut [crate::facts::Finding],
    facts: &FactSet,
    links: &[timeline::TimeLink],
) {
    for f in findings.iter_mut() {
        let cited: Vec<String> = f.evidence.iter().map(|e| e.locator.to_string()).collect();
        for link in links.iter().filter(|l| cited.contains(&l.setup_error)) {
            if f.evidence
                .iter()
                .any(|e| e.locator.to_string() == link.event)
            {
                continue;
            }
            if let Some(ev) = facts
                .events()
                .find(|(ef, _)| ef.evidence.locator.to_string() == link.event)
            {
                f.evidence.push(ev.0.evidence.clone());
            }
        }
    }
}

fn host_from_facts(facts: &FactSet) -> Option<String> {
    facts.iter().find_map(|f| match &f.kind {
        FactKind::Host(h) => h.computer_name.clone(),
        _ => None,
    })
}

fn run_summaries(facts: &FactSet, clock: &Clock) -> Vec<RunSummary> {
    facts
        .runs()
        .map(|(f, r)| RunSummary {
            log: f.evidence.locator.path.clone(),
            index: r.index,
            product: r.product.clone(),
            version: r.version.clone(),
            mode: r.mode.clone(),
            start_local: r.start,
            start_utc: r.start.map(|s| clock.to_utc(Stamp::Local(s))),
            start_known: r.header && r.start.is_some(),
            end_utc: r.end.map(|e| clock.to_utc(Stamp::Local(e))),
            outcome: r.outcome,
            failed_task: r.failed_task.clone(),
            errors: r.error_count,
            locator: f.evidence.locator.to_string(),
            notes: r.notes.clone(),
        })
        .collect()
}

/// The kinds of evidence read, in plain words, and those a verdict depends on that the bundle
/// does not have at all: the same whether or not a manifest says why.
fn coverage(used: &[String]) -> correlate::Coverage {
    const KINDS: &[(&str, bool)] = &[
        ("setup logs", true),
        ("event logs", true),
        ("services", true),
        ("registry", true),
        ("IIS configuration", true),
        ("installed programs", false),
        ("file inventory", false),
        ("folder permissions", false),
    ];
    let kind_of = |p: &str| match bundle::classify(p) {
        Some(ArtefactKind::SetupLog | ArtefactKind::SetupText) => Some("setup logs"),
        Some(ArtefactKind::Evtx) => Some("event logs"),
        Some(ArtefactKind::Services) => Some("services"),
        Some(ArtefactKind::Registry) => Some("registry"),
        Some(ArtefactKind::AppHostConfig | ArtefactKind::WebConfig) => Some("IIS configuration"),
        Some(ArtefactKind::Software) => Some("installed programs"),
        Some(ArtefactKind::FileVersions | ArtefactKind::Inventory) => Some("file inventory"),
        Some(ArtefactKind::Acl) => Some("folder permissions"),
        _ => None,
    };
    let read: std::collections::BTreeSet<&str> = used.iter().filter_map(|p| kind_of(p)).collect();
    correlate::Coverage {
        checked: KINDS
            .iter()
            .filter(|(k, _)| read.contains(k))
            .map(|(k, _)| k.to_string())
            .collect(),
        absent: KINDS
            .iter()
            .filter(|(k, core)| *core && !read.contains(k))
            .map(|(k, _)| k.to_string())
            .collect(),
    }
}

/// What [`missing_evidence`] looks at.
struct Seen<'a> {
    facts: &'a FactSet,
    used: &'a [String],
    skipped: &'a [crate::facts::Skipped],
    partial: &'a [crate::facts::Skipped],
    manifest: Option<&'a bundle::Manifest>,
    /// Why the bundle's manifest could not be used, if it has one.
    manifest_unusable: Option<&'a str>,
    custody: Option<&'a bundle::Custody>,
}

/// Evidence a "healthy" verdict depends on that was absent, unreadable or read only in part.
///
/// Healthy means "we looked at everything that could show a failure and saw none", so anything
/// that could have shown one and was not seen whole is listed: the setup log, any layout
/// artefact skipped or cut short, what the manifest lists and the bundle lacks or has altered,
/// what the collector says it could not get, and the manifest itself (without it nobody can
/// say what is missing).
fn missing_evidence(e: &Seen<'_>) -> Vec<String> {
    let is_evidence = |path: &str| {
        let kind = bundle::classify(path);
        kind.is_some() && kind != Some(ArtefactKind::EvtxLocale)
    };
    let mut out = Vec::new();
    if e.facts.runs().next().is_none() {
        out.push("no readable ExchangeSetup.log (setup/ExchangeSetup.log)".to_string());
    }
    if e.manifest.is_none() {
        out.push(match e.manifest_unusable {
            Some(why) => format!(
                "no usable manifest.json ({why}): whether evidence is missing from the bundle cannot be checked"
            ),
            None => "no usable manifest.json: whether evidence is missing from the bundle cannot be checked"
                .to_string(),
        });
    }
    for s in e.skipped {
        if is_evidence(&s.path) {
            out.push(format!("{} could not be read: {}", s.path, s.reason));
        }
    }
    for s in e.partial {
        if is_evidence(&s.path) {
            out.push(format!("{} was read only in part: {}", s.path, s.reason));
        }
    }
    // A list every row of which was unusable (wrong columns, garbage) says nothing, though its
    // parser did not fail. These artefacts are never empty on a real server: every server has
    // services, programs, Exchange files and ACL entries, and an export or configuration file
    // the collector took always holds what it was taken for.
    let cited: std::collections::HashSet<&str> = e
        .facts
        .iter()
        .map(|f| f.evidence.locator.path.as_str())
        .collect();
    for p in e.used {
        let never_empty = matches!(
            bundle::classify(p),
            Some(
                ArtefactKind::Services
                    | ArtefactKind::Software
                    | ArtefactKind::FileVersions
                    | ArtefactKind::Inventory
                    | ArtefactKind::Acl
                    | ArtefactKind::Registry
                    | ArtefactKind::AppHostConfig
                    | ArtefactKind::WebConfig
                    | ArtefactKind::HostJson
            )
        );
        if never_empty && !cited.contains(p.as_str()) {
            out.push(format!(
                "{p} gave nothing usable (wrong columns, wrong format or damaged)"
            ));
        }
    }
    if let Some(c) = e.custody {
        for m in &c.missing {
            out.push(format!("{m} is listed in the manifest but absent"));
        }
        for a in &c.altered {
            out.push(format!("{} does not match its manifest hash", a.path));
        }
    }
    if let Some(m) = e.manifest {
        // Only artefacts of the layout: optional extras (EMS queries, minifilters) do not
        // decide a verdict.
        for n in &m.not_collected {
            let what = n.what.replace('\\', "/");
            if is_evidence(&what) || what.eq_ignore_ascii_case("setup logs") {
                out.push(format!("{} was not collected: {}", n.what, n.why));
            }
        }
    }
    out
}
