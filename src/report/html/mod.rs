//! `--format html`: one self-contained page to send to a client or attach to a ticket.
//!
//! Inline CSS and SVG only: no script, no font, no image fetched from anywhere, and a
//! Content-Security-Policy that forbids any load, so the file opens the same offline and cannot
//! call home. Every string from the bundle is hostile input; the page is built with `maud`,
//! whose templates escape every interpolated value unless it is wrapped in `PreEscaped`, which
//! only the embedded stylesheet is.

mod chain;
mod timeline;

use super::view::{self, Span};
use crate::diagnosis::{Diagnosis, RootCause};
use crate::facts::{Evidence, Finding};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use std::collections::HashMap;

const CSS: &str = include_str!("style.css");

/// Nothing may be loaded: styles are inline, images would be `data:`, scripts are forbidden.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

/// Anchor ids for findings. Keys come from the bundle (`id:subject`), so ids are made from the
/// finding's position instead of its key.
pub struct Ids(HashMap<String, usize>);

impl Ids {
    fn new(d: &Diagnosis) -> Self {
        let mut m = HashMap::new();
        for (i, f) in d.findings.iter().enumerate() {
            m.entry(f.key()).or_insert(i);
        }
        Ids(m)
    }
    fn id(&self, key: &str) -> Option<String> {
        self.0.get(key).map(|i| format!("f{i}"))
    }
    fn href(&self, key: &str) -> String {
        self.id(key)
            .map_or_else(|| "#findings".into(), |i| format!("#{i}"))
    }
}

pub fn render(d: &Diagnosis) -> String {
    let ids = Ids::new(d);
    let status = view::label(&d.status);
    let host = d.bundle.host.as_deref().unwrap_or("unknown host");
    let marks = timeline::marks(d);
    let explained = view::explained(d);
    let contributing = view::by_keys(d, &d.contributing);
    let unexplained = view::by_keys(d, &d.unexplained);
    let others = view::others(d);
    let has_bundle_issues =
        !(d.missing_evidence.is_empty() && d.problems.is_empty() && d.skipped.is_empty());
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(CSP);
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content=(format!("exhume {}", d.exhume_version));
                title { "exhume · " (status.to_uppercase()) " · " (host) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header class=(format!("top status-{status}")) {
                    div.wrap {
                        div.brand { b { "exhume" } " · Exchange setup diagnosis · " (host) }
                        div.verdict-row {
                            span.badge { (status.to_uppercase()) }
                            p.verdict.long[d.verdict.chars().count() > 220] #verdict { (d.verdict) }
                        }
                        @if !d.broke.is_empty() {
                            ul.broke { @for b in &d.broke { li { (b) } } }
                        }
                    }
                }
                div.wrap {
                    (facts(d))
                    nav.toc {
                        @if !d.root_causes.is_empty() { a href="#root-causes" { "Root cause" } }
                        a href="#timeline" { "Timeline" }
                        @if !d.plan.is_empty() { a href="#plan" { "Recovery plan" } }
                        @if !contributing.is_empty() { a href="#contributing" { "Contributing" } }
                        @if !unexplained.is_empty() { a href="#unexplained" { "Unexplained" } }
                        @if !explained.is_empty() { a href="#explained" { "Symptoms" } }
                        @if !others.is_empty() { a href="#others" { "Other findings" } }
                        @if !d.runs.is_empty() { a href="#runs" { "Setup runs" } }
                        @if !d.time_links.is_empty() { a href="#links" { "Linked events" } }
                        @if has_bundle_issues { a href="#bundle" { "Bundle issues" } }
                    }
                    @if !d.root_causes.is_empty() {
                        section #root-causes {
                            h2 { @if d.root_causes.len() > 1 { "Root causes" } @else { "Root cause" } }
                            p.lead { "What nothing else in the bundle explains, with the chain of what it explains in turn." }
                            @for (i, rc) in d.root_causes.iter().enumerate() {
                                (root_cause(d, rc, &ids, i))
                            }
                        }
                    }
                    section #timeline {
                        h2 { "Timeline" }
                        p.lead {
                            "Times in UTC; " (d.clock.description) ". Each numbered marker is a finding; "
                            "the axis is broken where nothing happened for more than six hours."
                        }
                        @if d.runs.is_empty() && marks.is_empty() {
                            p.empty { "No setup run or finding in the bundle has a time." }
                        } @else {
                            div.diagram { (timeline::chart(d, &marks, &ids)) }
                            div.legend {
                                @for o in ["completed", "failed", "interrupted", "ended"] {
                                    span { i style=(format!("background:{}", timeline::outcome_color(o))) {} "run " (o) }
                                }
                                @for s in ["critical", "high", "medium", "low", "info"] {
                                    span { i.dot style=(format!("background:{}", timeline::severity_color(s))) {} (s) }
                                }
                            }
                            @if !marks.is_empty() {
                                table {
                                    thead { tr { th.num { "#" } th { "Time (UTC)" } th { "Finding" } th { "Kind" } th { "Severity" } } }
                                    tbody {
                                        @for m in &marks {
                                            tr {
                                                td.num { (m.number) }
                                                td.mono.nowrap { (view::time(m.time)) }
                                                td { a href=(ids.href(&m.finding.key())) { (m.finding.title) } }
                                                td { (view::label(&m.finding.kind)) }
                                                td { (severity(&view::label(&m.finding.severity))) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if !d.plan.is_empty() {
                        section #plan {
                            h2 { "Recovery plan" }
                            p.lead { "In this order. Each step names the findings it comes from." }
                            ol.plan {
                                @for s in &d.plan {
                                    li {
                                        p { (rule_text(&super::view::step_head(s))) }
                                        @if !s.items.is_empty() { ul { @for i in &s.items { li { (rule_text(i)) } } } }
                                        @if !s.from.is_empty() {
                                            div.from {
                                                "From"
                                                @for k in &s.from { a href=(ids.href(k)) { (k) } }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    (group("contributing", "Contributing causes",
                        "Risks that explain no symptom by themselves but likely made things worse.",
                        &contributing, &ids, true))
                    (group("unexplained", "Unexplained symptoms",
                        "No cause found in the bundle explains these: investigate them separately.",
                        &unexplained, &ids, true))
                    (group("explained", "Symptoms explained by the root cause",
                        "The best evidence line behind each link of the chain; the recovery plan repairs them.", &explained, &ids, false))
                    (group("others", "Other findings", "", &others, &ids, false))
                    @if !d.runs.is_empty() { (runs(d)) }
                    @if !d.time_links.is_empty() { (links(d)) }
                    @if has_bundle_issues { (bundle_issues(d)) }
                    footer {
                        "Generated by exhume " (d.exhume_version) " (report schema " (d.schema_version) "). "
                        "Locators are paths inside the bundle with a line, record id, registry key or XML element. "
                        "This page is self-contained and loads nothing."
                    }
                }
            }
        }
    };
    page.into_string()
}

fn facts(d: &Diagnosis) -> Markup {
    let b = &d.bundle;
    html! {
        dl.facts {
            div { dt { "Status" } dd { (view::label(&d.status)) } }
            div { dt { "Host" } dd { (b.host.as_deref().unwrap_or("unknown")) } }
            div { dt { "Bundle" } dd { code { (b.path) } " (" (view::label(&b.form)) ", " (b.files) " files)" } }
            @if let Some(i) = &b.inside { div { dt { "Found inside it at" } dd { code { (i) } } } }
            div { dt { "SHA-256" } dd { code { (b.sha256.as_deref().unwrap_or("not computed")) } } }
            div {
                dt { "Manifest" }
                dd {
                    @match (&b.custody, b.has_manifest) {
                        (Some(c), _) => {
                            "present; " (c.verified) " file(s) match their recorded hash"
                            @for (n, what) in [(c.missing.len(), "missing"), (c.extra.len(), "not listed"),
                                (c.altered.len(), "altered"), (c.truncated.len(), "truncated by the collector")] {
                                @if n > 0 { ", " span.warn { (n) " " (what) } }
                            }
                        }
                        (None, true) => { "present, no chain-of-custody check" }
                        (None, false) => { span.warn { "absent" } ": analysed best-effort, without a custody check or a known UTC offset" }
                    }
                }
            }
            div {
                dt { "Checked" }
                dd {
                    (d.checked.join(", "))
                    @if !d.not_in_bundle.is_empty() { "; " span.warn { "not in the bundle: " (d.not_in_bundle.join(", ")) } }
                }
            }
            div {
                dt { "Clock" }
                dd { "UTC" (crate::timeline::format_offset(d.clock.offset_minutes)) " (" (view::label(&d.clock.source)) "): " (d.clock.description) }
            }
        }
    }
}

fn severity(s: &str) -> Markup {
    html! { span class=(format!("chip sev sev-{s}")) { (s) } }
}

/// Rule-written text: backtick spans become `<code>`, everything escaped.
fn rule_text(s: &str) -> Markup {
    html! {
        @for sp in view::spans(s) {
            @match sp {
                Span::Text(t) => { (t) }
                Span::Code(c) => { code { (c) } }
            }
        }
    }
}

fn chips(
    severity_label: &str,
    confidence: &str,
    subject: Option<&str>,
    time: Option<String>,
    key: &str,
) -> Markup {
    html! {
        div.chips {
            (severity(severity_label))
            span.chip { "confidence " (confidence) }
            @if let Some(s) = subject { span.chip { "about " code { (s) } } }
            @if let Some(t) = time { span.chip { "first seen " (t) } }
            span.chip { "key " code { (key) } }
        }
    }
}

fn evidence_table(evidence: &[Evidence], n: usize) -> Markup {
    let (best, more) = view::best_evidence(evidence, n);
    html! {
        @if !evidence.is_empty() {
            table.evidence {
                thead { tr { th { "Locator" } th { "Excerpt" } } }
                tbody {
                    @for e in best {
                        tr { td.loc { code { (e.locator.to_string()) } } td.excerpt { (e.excerpt) } }
                    }
                    @if more > 0 {
                        tr { td {} td.more { "+" (more) " more in the JSON report" } }
                    }
                }
            }
        }
    }
}

fn details(f: &Finding) -> Markup {
    html! {
        @if !f.why.is_empty() { p.why { (f.why) } }
        @if !f.fix.is_empty() {
            details open {
                summary { "How to fix (" (f.fix.len()) " step" @if f.fix.len() > 1 { "s" } ")" }
                ol { @for s in &f.fix { li { (rule_text(&s.sentence())) } } }
            }
        }
        @if !f.references.is_empty() {
            p.refs {
                "References: "
                @for (i, r) in f.references.iter().enumerate() {
                    @if i > 0 { "; " }
                    @match view::reference_url(r) {
                        Some(u) => { a href=(u) { (r) } }
                        None => { (r) }
                    }
                }
            }
        }
    }
}

fn root_cause(d: &Diagnosis, rc: &RootCause, ids: &Ids, n: usize) -> Markup {
    let f = d.finding(&rc.key);
    html! {
        article.finding.kind-cause.root id=[ids.id(&rc.key)] {
            header {
                span.kind { @if d.root_causes.len() > 1 { "root cause " (n + 1) } @else { "root cause" } }
                h3 { (rc.title) }
            }
            (chips(&view::label(&rc.severity), &view::label(&rc.confidence), rc.subject.as_deref(),
                rc.time.map(view::time), &rc.key))
            @if let Some(f) = f { (details(f)) }
            @if !rc.chain.is_empty() {
                div.diagram { (chain::diagram(d, rc, ids, n)) }
                div.legend {
                    @for k in ["cause", "symptom", "risk", "info"] {
                        span { i style=(format!("background:{}", chain::kind_color(k))) {} (k) }
                    }
                }
            }
            (evidence_table(&rc.evidence, view::BEST_EVIDENCE))
        }
    }
}

/// A finding with its evidence; `full` adds why, how to fix and references (findings a chain
/// already explains are repaired by the plan, so theirs would say it twice).
fn finding_card(f: &Finding, ids: &Ids, full: bool) -> Markup {
    let kind = view::label(&f.kind);
    html! {
        article class=(format!("finding kind-{kind}")) id=[ids.id(&f.key())] {
            header { span.kind { (kind) } h3 { (f.title) } }
            (chips(&view::label(&f.severity), &view::label(&f.confidence), f.subject.as_deref(),
                f.time.map(view::time), &f.key()))
            @if full { (details(f)) (evidence_table(&f.evidence, view::BEST_EVIDENCE)) }
            @else { (evidence_table(&f.evidence, 1)) }
        }
    }
}

fn group(id: &str, head: &str, lead: &str, findings: &[&Finding], ids: &Ids, full: bool) -> Markup {
    html! {
        @if !findings.is_empty() {
            section id=(id) {
                h2 { (head) }
                @if !lead.is_empty() { p.lead { (lead) } }
                @for f in findings { (finding_card(f, ids, full)) }
            }
        }
    }
}

fn runs(d: &Diagnosis) -> Markup {
    html! {
        section #runs {
            h2 { "Setup runs" }
            p.lead { "Every run found in the setup logs, oldest first; the last run of a log is the one that left the server as it is." }
            table {
                thead { tr {
                    th.num { "#" } th { "Version" } th { "Mode" } th { "Started (UTC)" }
                    th { "Ended (UTC)" } th { "Outcome" } th { "Failed task" }
                    th.num { "Errors" } th { "Locator" }
                } }
                tbody {
                    @for r in &d.runs {
                        @let outcome = view::label(&r.outcome);
                        tr {
                            td.num { (r.index + 1) }
                            td.nowrap { (r.product) " " (r.version.as_deref().unwrap_or("")) }
                            td { (r.mode.as_deref().unwrap_or("")) }
                            td.mono.nowrap {
                                @match (r.start_known, r.start_utc, r.start_local) {
                                    (true, Some(utc), Some(local)) => {
                                        (utc.format("%Y-%m-%d %H:%M:%S"))
                                        span.sub { "local " (local.format("%Y-%m-%d %H:%M:%S")) }
                                    }
                                    (false, Some(utc), _) => {
                                        "unknown"
                                        span.sub { "first line " (utc.format("%Y-%m-%d %H:%M:%S")) }
                                    }
                                    _ => { "unknown" }
                                }
                            }
                            td.mono.nowrap { (r.end_utc.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "no end marker".into())) }
                            td { span class=(format!("outcome outcome-{outcome}")) { (outcome) } }
                            td.task { @if let Some(t) = &r.failed_task { code { (t) } } }
                            td.num { (r.errors) }
                            td.loc { code { (r.locator) } }
                        }
                    }
                }
            }
            @for (log, runs, note) in view::run_notes(d) {
                p.note {
                    code { (log) } ", run " (runs.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")) ": " (note)
                }
            }
        }
    }
}

fn links(d: &Diagnosis) -> Markup {
    html! {
        section #links {
            h2 { "Events near setup errors" }
            p.lead { "Events within the link window of a setup error that name the same service, file, module or app pool." }
            table {
                thead { tr { th { "Setup error" } th { "Event" } th.num { "Event − error" } th { "About" } } }
                tbody {
                    @for l in &d.time_links {
                        tr {
                            td { code { (l.setup_error) } }
                            td { code { (l.event) } }
                            td.num { (format!("{:+} s", l.delta_seconds)) }
                            td { (l.about) }
                        }
                    }
                }
            }
        }
    }
}

fn bundle_issues(d: &Diagnosis) -> Markup {
    html! {
        section #bundle {
            h2 { "What could not be read" }
            @if !d.missing_evidence.is_empty() {
                h3 { "Missing evidence" }
                ul.plain { @for m in &d.missing_evidence { li { (m) } } }
            }
            @if !d.problems.is_empty() {
                h3 { "Problems reading the bundle" }
                table {
                    thead { tr { th { "File" } th { "Problem" } } }
                    tbody { @for p in &d.problems { tr { td.loc { code { (p.path) } } td { (p.message) } } } }
                }
            }
            @if !d.skipped.is_empty() {
                h3 { "Skipped files" }
                table {
                    thead { tr { th { "File" } th { "Reason" } } }
                    tbody { @for s in &d.skipped { tr { td.loc { code { (s.path) } } td { (s.reason) } } } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    #[test]
    fn seed_page_has_the_verdict_chain_timeline_and_plan() {
        let d = testing::seed();
        let page = render(&d);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("id=\"verdict\">Setup 14.2.247.5 stopped at Install-BridgeheadRole"));
        assert!(page.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chain\""));
        assert!(page.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\""));
        assert!(page.contains("<ol class=\"plan\">"));
        assert!(page.contains("<code>setup/ExchangeSetup.log:1871-1880</code>"));
        // Three runs drawn as bars, the failed one red.
        assert_eq!(
            page.matches("height=\"24\" rx=\"4\" fill=\"#c4232f\"")
                .count(),
            1,
            "one failed run bar"
        );
        assert_eq!(
            page.matches("height=\"24\" rx=\"4\" fill=\"#2d9a4e\"")
                .count(),
            2,
            "two completed runs"
        );
    }

    #[test]
    fn nothing_is_loaded_from_anywhere() {
        let page = render(&testing::rich());
        for needle in [
            "<script", "src=", "http://", "https://", "@import", "url(http", "<link",
        ] {
            let hits: Vec<&str> = page
                .match_indices(needle)
                .map(|(i, _)| &page[i.saturating_sub(30)..(i + 60).min(page.len())])
                .filter(|ctx| !ctx.contains("xmlns=\"http://www.w3.org/2000/svg\""))
                // A reference's link is followed by a click, never loaded by the page.
                .filter(|ctx| !ctx.contains("a href=\"https://"))
                .collect();
            assert!(hits.is_empty(), "{needle}: {hits:?}");
        }
        assert!(page.contains("Content-Security-Policy"));
        assert!(page.contains("default-src 'none'"));
    }

    #[test]
    fn hostile_strings_are_inert() {
        let d = testing::hostile();
        let page = render(&d);
        // No tag the bundle wrote survives: only escaped forms.
        for bad in [
            "<script",
            "<img",
            "<svg onload",
            "<b>bold",
            "<i>this",
            "</style><style>",
            "<![CDATA[",
        ] {
            assert!(!page.contains(bad), "{bad} reached the page");
        }
        assert!(page.contains("&lt;script&gt;alert('pwned')&lt;/script&gt;"));
        assert!(page.contains("a | b `rm` &lt;img src=x onerror=alert(1)&gt;"));
        // Attribute values cannot be broken out of.
        assert!(!page.contains("title=\"<"));
        // The hostile finding is in the chain or a group, with its own anchor.
        assert!(page.contains("Title &lt;script&gt;"));
    }

    #[test]
    fn every_link_points_at_an_anchor_on_the_page() {
        let page = render(&testing::rich());
        for (i, _) in page.match_indices("href=\"#") {
            let rest = &page[i + 7..];
            let id = &rest[..rest.find('"').expect("closing quote")];
            assert!(
                page.contains(&format!("id=\"{id}\"")),
                "dangling link to #{id}"
            );
        }
    }
}
