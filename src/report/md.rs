//! `--format md`: the report an analyst pastes into an email or a ticket.
//!
//! Verdict and facts about the bundle first, then the root causes with their chain and evidence,
//! the recovery plan, and the detail (other findings, setup runs, what could not be read).
//! Every string from the bundle is escaped, so a hostile excerpt can neither break a table nor
//! inject markup into a Markdown viewer.

use super::view::{self, Span};
use crate::diagnosis::{Diagnosis, RootCause};
use crate::facts::{Evidence, Finding};
use std::fmt::Write;

pub fn render(d: &Diagnosis) -> String {
    let mut o = String::new();
    header(&mut o, d);
    for (i, rc) in d.root_causes.iter().enumerate() {
        root_cause(&mut o, d, i, rc);
    }
    // Risks that likely made things worse, and symptoms no cause found explains.
    compact(
        &mut o,
        "Contributing causes",
        &view::by_keys(d, &d.contributing),
    );
    compact(
        &mut o,
        "Unexplained symptoms",
        &view::by_keys(d, &d.unexplained),
    );
    plan(&mut o, d);
    compact(
        &mut o,
        "Evidence for the explained findings",
        &view::explained(d),
    );
    let others: Vec<&Finding> = view::others(d)
        .into_iter()
        .filter(|f| f.kind != crate::facts::FindingKind::Info)
        .collect();
    compact(&mut o, "Other findings", &others);
    runs(&mut o, d);
    bullets(
        &mut o,
        "Missing evidence",
        d.missing_evidence.iter().map(|m| text(m)),
    );
    bullets(
        &mut o,
        "Problems reading the bundle",
        d.problems
            .iter()
            .map(|p| format!("{}: {}", code(&p.path, false), text(&p.message))),
    );
    let skipped = super::view::unexpected_skips(d);
    if skipped > 0 {
        // A paragraph of its own: capitalised ("One file", "Two files").
        let files = crate::repair::words::count(skipped, "file", "files");
        let mut chars = files.chars();
        let files: String = chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "\n{files} in the bundle {} not used (the JSON report lists {} with the reason).",
            if skipped == 1 { "was" } else { "were" },
            if skipped == 1 { "it" } else { "them" }
        );
    }
    let _ = writeln!(
        o,
        "\n---\n*exhume {}, report schema {}. Locators are paths inside the bundle, with a line, record id, registry key or XML element.*",
        text(d.exhume_version),
        text(d.schema_version)
    );
    o
}

fn header(o: &mut String, d: &Diagnosis) {
    let status = view::label(&d.status).to_uppercase();
    let _ = writeln!(o, "# Exchange setup diagnosis: {status}\n");
    let _ = writeln!(o, "> **{}**\n", text(&d.verdict));
    let b = &d.bundle;
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(
        o,
        "| Bundle | {} ({}, {} files) |",
        code(&b.path, true),
        view::label(&b.form),
        b.files
    );
    if let Some(i) = &b.inside {
        let _ = writeln!(o, "| Found inside it at | {} |", code(i, true));
    }
    if let Some(h) = &b.sha256 {
        let _ = writeln!(o, "| SHA-256 | {} |", code(h, true));
    }
    let _ = writeln!(
        o,
        "| Host | {} |",
        b.host.as_deref().map_or("unknown".to_string(), text)
    );
    let custody = match (&b.custody, b.has_manifest) {
        (Some(c), _) => {
            let mut s = format!("present; {} file(s) match their recorded hash", c.verified);
            for (n, what) in [
                (c.missing.len(), "missing"),
                (c.extra.len(), "not listed"),
                (c.altered.len(), "altered"),
                (c.truncated.len(), "truncated by the collector"),
            ] {
                if n > 0 {
                    let _ = write!(s, ", **{n} {what}**");
                }
            }
            s
        }
        (None, true) => "present, no chain-of-custody check".to_string(),
        (None, false) => {
            "**absent**: analysed best-effort, without a custody check or a known UTC offset"
                .to_string()
        }
    };
    let _ = writeln!(o, "| Manifest | {custody} |");
    let _ = writeln!(o, "| Clock | {} |", text(&d.clock.description));
    let mut checked = text(&d.checked.join(", "));
    if !d.not_in_bundle.is_empty() {
        let _ = write!(
            checked,
            "; **not in the bundle:** {}",
            text(&d.not_in_bundle.join(", "))
        );
    }
    let _ = writeln!(o, "| Checked | {checked} |");
    if !d.broke.is_empty() {
        let _ = writeln!(o, "| What it broke | {} |", text(&d.broke.join("; ")));
    }
}

fn meta(f_severity: &str, confidence: &str, subject: Option<&str>, time: Option<String>) -> String {
    let mut s = format!("Severity **{f_severity}** · confidence **{confidence}**");
    if let Some(subj) = subject {
        let _ = write!(s, " · about {}", code(subj, false));
    }
    if let Some(t) = time {
        let _ = write!(s, " · first seen {t}");
    }
    s
}

fn root_cause(o: &mut String, d: &Diagnosis, i: usize, rc: &RootCause) {
    let head = if d.root_causes.len() > 1 {
        format!("Root cause {}", i + 1)
    } else {
        "Root cause".to_string()
    };
    let _ = writeln!(o, "\n## {head}: {}\n", text(&rc.title));
    let _ = writeln!(
        o,
        "{} · key {}\n",
        meta(
            &view::label(&rc.severity),
            &view::label(&rc.confidence),
            rc.subject.as_deref(),
            rc.time.map(view::time)
        ),
        code(&rc.key, false)
    );
    if let Some(f) = d.finding(&rc.key) {
        if !f.why.is_empty() {
            let _ = writeln!(o, "{}\n", text(&f.why));
        }
        if !f.references.is_empty() {
            let refs: Vec<String> = f
                .references
                .iter()
                .map(|r| match view::reference_url(r) {
                    Some(u) => format!("[{}]({u})", text(r)),
                    None => text(r),
                })
                .collect();
            let _ = writeln!(o, "*References:* {}\n", refs.join("; "));
        }
    }
    if !rc.chain.is_empty() {
        let _ = writeln!(o, "**Chain**\n");
        let _ = writeln!(o, "- **{}** (root cause)", text(&rc.title));
        for node in view::chain_tree(rc) {
            chain_node(o, d, &node, 1);
        }
        let _ = writeln!(o);
    }
    evidence_table(o, &rc.evidence);
}

fn chain_node(o: &mut String, d: &Diagnosis, node: &view::ChainNode<'_>, level: usize) {
    let sev = d
        .finding(&node.link.key)
        .map(|f| format!(" · {}", view::label(&f.severity)))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "{}- {} ({}{sev})",
        "  ".repeat(level),
        text(&node.link.title),
        code(&node.link.key, false)
    );
    for c in &node.children {
        chain_node(o, d, c, level + 1);
    }
}

fn evidence_table(o: &mut String, evidence: &[Evidence]) {
    if evidence.is_empty() {
        return;
    }
    let (best, more) = view::best_evidence(evidence, view::BEST_EVIDENCE);
    let _ = writeln!(o, "| Locator | Excerpt |\n|---|---|");
    for e in best {
        let _ = writeln!(
            o,
            "| {} | {} |",
            code(&e.locator.to_string(), true),
            text(&e.excerpt)
        );
    }
    if more > 0 {
        let _ = writeln!(o, "| | *+{more} more in the JSON report* |");
    }
}

/// Findings already named above (in a chain) or of lesser weight: one row each, with the best
/// evidence line.
fn compact(o: &mut String, head: &str, findings: &[&Finding]) {
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n## {head}\n\n| Finding | Severity | Best evidence |\n|---|---|---|"
    );
    for f in findings {
        let (best, more) = view::best_evidence(&f.evidence, 1);
        let ev = best
            .first()
            .map(|e| {
                let mut s = format!(
                    "{} {}",
                    code(&e.locator.to_string(), true),
                    text(&e.excerpt)
                );
                if more > 0 {
                    let _ = write!(s, " *(+{more} more)*");
                }
                s
            })
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "| {} | {} | {ev} |",
            text(&f.title),
            view::label(&f.severity)
        );
    }
}

fn plan(o: &mut String, d: &Diagnosis) {
    if d.plan.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n## Recovery plan\n");
    for s in &d.plan {
        let _ = writeln!(o, "{}. {}", s.step, rule_text(&super::view::step_head(s)));
        for i in &s.items {
            let _ = writeln!(o, "    - {}", rule_text(i));
        }
    }
}

fn runs(o: &mut String, d: &Diagnosis) {
    if d.runs.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n## Setup runs\n\n| # | Version | Mode | Started (local) | Started (UTC) | Ended (UTC) | Outcome | Failed task | Errors | Locator |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in &d.runs {
        let _ = writeln!(
            o,
            "| {} | {} {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.index + 1,
            text(&r.product),
            r.version.as_deref().map(text).unwrap_or_default(),
            r.mode.as_deref().map(text).unwrap_or_default(),
            match (r.start_known, r.start_local) {
                (true, Some(t)) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
                (false, Some(t)) =>
                    format!("unknown (first line {})", t.format("%Y-%m-%d %H:%M:%S")),
                (_, None) => "unknown".into(),
            },
            match (r.start_known, r.start_utc) {
                (true, Some(t)) => view::time(t),
                _ => "—".into(),
            },
            r.end_utc.map(view::time).unwrap_or_else(|| "—".into()),
            outcome(&view::label(&r.outcome)),
            r.failed_task
                .as_deref()
                .map(|t| code(t, true))
                .unwrap_or_default(),
            r.errors,
            code(&r.locator, true)
        );
    }
    for (log, runs, note) in view::run_notes(d) {
        let which: Vec<String> = runs.iter().map(|r| format!("run {r}")).collect();
        let _ = writeln!(
            o,
            "\n*{}, {}:* {}",
            code(log, true),
            which.join(", "),
            text(note)
        );
    }
}

fn outcome(label: &str) -> String {
    match label {
        "failed" | "interrupted" => format!("**{label}**"),
        _ => label.to_string(),
    }
}

fn bullets(o: &mut String, head: &str, items: impl Iterator<Item = String>) {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n## {head}\n");
    for i in items {
        let _ = writeln!(o, "- {i}");
    }
}

/// Rule-written text (fix and plan steps): backtick spans stay code, the rest is escaped.
fn rule_text(s: &str) -> String {
    view::spans(s)
        .into_iter()
        .map(|sp| match sp {
            Span::Text(t) => text(t),
            Span::Code(c) => code(c, false),
        })
        .collect()
}

/// Escapes `s` as inline Markdown text: nothing in it can open markup, a link, an HTML tag or a
/// table cell, and it stays on one line. Backslashes are doubled only where Markdown would read
/// them as an escape, so Windows paths stay readable in the raw text.
pub fn text(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        match c {
            '\\' if next.is_none_or(|n| n.is_ascii_punctuation()) => out.push_str("\\\\"),
            // Intraword underscores never start emphasis: keep `MSExchange_Foo` and
            // `Component___115c` readable.
            '_' if intraword_underscore(&chars, i) => out.push('_'),
            // `&` only matters where it could start an entity (`&lt;`, `&#60;`).
            '&' if !next.is_some_and(|n| n.is_alphanumeric() || n == '#') => out.push('&'),
            '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The run of underscores around `chars[i]` has a letter or digit on both sides.
fn intraword_underscore(chars: &[char], i: usize) -> bool {
    let start = chars[..i]
        .iter()
        .rposition(|&c| c != '_')
        .map_or(0, |p| p + 1);
    let end = chars[i..]
        .iter()
        .position(|&c| c != '_')
        .map_or(chars.len(), |p| i + p);
    start > 0
        && chars[start - 1].is_alphanumeric()
        && chars.get(end).is_some_and(|c| c.is_alphanumeric())
}

/// A code span around `s`, with a fence longer than any backtick run inside it. In a table cell
/// `|` must still be escaped (GitHub-flavoured Markdown splits cells before code spans).
pub fn code(s: &str, in_table: bool) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = if in_table {
        flat.replace('|', "\\|")
    } else {
        flat
    };
    let longest = flat.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if flat.starts_with('`') || flat.ends_with('`') || flat.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{flat}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    #[test]
    fn text_escapes_markup_but_keeps_paths_readable() {
        assert_eq!(text("a|b"), "a\\|b");
        assert_eq!(text("<script>x</script>"), "\\<script\\>x\\</script\\>");
        assert_eq!(text("*bold* [l](u)"), "\\*bold\\* \\[l\\](u)");
        assert_eq!(
            text("D:\\Program Files\\V14\\"),
            "D:\\Program Files\\V14\\\\"
        );
        assert_eq!(text("C:\\*"), "C:\\\\\\*");
        assert_eq!(text("MSExchange_Foo _x_"), "MSExchange_Foo \\_x\\_");
        assert_eq!(
            text("Component___115c __init"),
            "Component___115c \\_\\_init"
        );
        assert_eq!(
            text("Read & Execute &lt;b&gt; &#60;"),
            "Read & Execute \\&lt;b\\&gt; \\&#60;"
        );
        assert_eq!(text("line\nbreak"), "line break");
    }

    #[test]
    fn code_spans_survive_backticks_and_pipes() {
        assert_eq!(code("a", false), "`a`");
        assert_eq!(code("a`b", false), "``a`b``");
        assert_eq!(code("`x`", false), "`` `x` ``");
        assert_eq!(code("a|b", true), "`a\\|b`");
        assert_eq!(code("a|b", false), "`a|b`");
    }

    /// Every table row has as many cells as its header, whatever the excerpts contain.
    fn assert_tables_are_rectangular(md: &str) {
        let mut width = None;
        for line in md.lines() {
            if !line.starts_with('|') {
                width = None;
                continue;
            }
            // Count unescaped pipes.
            let mut n = 0;
            let mut prev = ' ';
            for c in line.chars() {
                if c == '|' && prev != '\\' {
                    n += 1;
                }
                prev = if prev == '\\' && c == '\\' { ' ' } else { c };
            }
            match width {
                None => width = Some(n),
                Some(w) => assert_eq!(w, n, "ragged table row: {line}"),
            }
        }
    }

    /// The text of a line outside its code spans (a backtick run opens a span that only a run
    /// of the same length closes; an escaped backtick opens nothing).
    fn outside_code_spans(line: &str) -> String {
        let chars: Vec<char> = line.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '\\' && i + 1 < chars.len() {
                out.push(chars[i]);
                out.push(chars[i + 1]);
                i += 2;
                continue;
            }
            if chars[i] != '`' {
                out.push(chars[i]);
                i += 1;
                continue;
            }
            let run = chars[i..].iter().take_while(|&&c| c == '`').count();
            let mut j = i + run;
            let mut closed = None;
            while j < chars.len() {
                let r = chars[j..].iter().take_while(|&&c| c == '`').count();
                if r == run {
                    closed = Some(j + r);
                    break;
                }
                j += r.max(1);
            }
            match closed {
                Some(end) => i = end,
                None => {
                    out.extend(&chars[i..i + run]);
                    i += run;
                }
            }
        }
        out
    }

    #[test]
    fn seed_report_has_every_section_in_order() {
        let d = testing::seed();
        let md = render(&d);
        let order = [
            "# Exchange setup diagnosis: FAILED",
            "> **Setup 14.2.247.5 stopped at Install-BridgeheadRole",
            "| Host | EX01 |",
            "| Clock | setup-log times converted with UTC+11:00 from manifest.json",
            "## Root cause",
            "MSExchangeServiceHost is disabled, so setup could not start it",
            "**Chain**",
            "  - Setup 14.2.247.5 stopped at Install-BridgeheadRole",
            "| `setup/ExchangeSetup.log:1871-1880` | \\[ERROR\\] The service cannot be started",
            "## Recovery plan",
            "1. Back up what the following steps change",
            "## Setup runs",
            "| 3 | 2010 14.2.247.5 | Upgrade |",
        ];
        let mut at = 0;
        for needle in order {
            let found = md[at..]
                .find(needle)
                .unwrap_or_else(|| panic!("missing or out of order: {needle}\n\n{md}"));
            at += found + needle.len();
        }
        let sha = d.bundle.sha256.as_deref().expect("a zip has a digest");
        assert!(md.contains(&format!("| SHA-256 | `{sha}` |")));
        assert_tables_are_rectangular(&md);
    }

    #[test]
    fn rich_diagnosis_nests_the_chain_and_lists_every_group() {
        let d = testing::rich();
        let md = render(&d);
        // Depth 1, 2 and 3 under the root are indented 2, 4 and 6 spaces.
        assert!(md.contains("\n  - Setup 14.2.247.5 stopped"), "{md}");
        assert!(
            md.contains("\n    - Exchange roles left half-configured"),
            "{md}"
        );
        assert!(
            md.contains("\n      - Unexpanded %ExchangeInstallDir% in web.config"),
            "{md}"
        );
        assert!(md.contains("## Contributing causes"));
        assert!(md.contains("| Antivirus without Exchange exclusions |"));
        assert!(md.contains("## Unexplained symptoms"));
        assert!(md.contains("## Other findings"));
        assert!(
            md.contains("more)*"),
            "evidence beyond the best line is counted"
        );
        assert!(md.contains("## Missing evidence"));
        assert!(md.contains("## Problems reading the bundle"));
        assert!(md.contains("One file in the bundle was not used"));
        assert_tables_are_rectangular(&md);
    }

    #[test]
    fn hostile_strings_are_escaped_everywhere() {
        let d = testing::hostile();
        let md = render(&d);
        // Outside code spans (where Markdown shows text as is) no `<` opens a tag.
        for line in md.lines() {
            let outside = outside_code_spans(line);
            let mut prev = ' ';
            for c in outside.chars() {
                assert!(c != '<' || prev == '\\', "unescaped < in: {line}");
                prev = c;
            }
        }
        assert!(md.contains("\\<script\\>"));
        assert!(md.contains("`<script>alert('pwned')</script>`"));
        assert_tables_are_rectangular(&md);
        // The evidence row with pipes and backticks keeps two cells.
        let row = md
            .lines()
            .find(|l| l.contains("a \\| b"))
            .expect("the hostile excerpt row");
        assert!(row.contains("\\`rm\\`"), "{row}");
    }
}
