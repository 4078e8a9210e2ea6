use super::*;
use std::path::Path;

/// Asserts the gated set and a plain `RegexSet` of `patterns` agree on every line; returns
/// how many lines matched.
fn assert_same(patterns: &[&str], lines: &[String]) -> usize {
    let plain = RegexSet::new(patterns).unwrap();
    let gated = LineSet::new(patterns).unwrap();
    let mut matched = 0;
    for l in lines {
        let want = plain.is_match(l);
        assert_eq!(gated.is_match(l), want, "{l:?} against {patterns:?}");
        matched += usize::from(want);
    }
    matched
}

/// Each line as it is, with `[ERROR] ` before it, without its first character, and twice.
fn variants(base: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for l in base {
        out.push(l.to_string());
        out.push(format!("[ERROR] {l}"));
        let mut rest = l.chars();
        rest.next();
        out.push(rest.as_str().to_string());
        out.push(format!("{l}{l}"));
    }
    out
}

/// Anchored and unanchored patterns, case-insensitive ones, ones that match the empty string,
/// ones whose prefixes are too many to list (Unicode `\d`, `\s`), `(?m)` anchors that match
/// inside a text, an anchor in one branch only.
const PATTERNS: &[&str] = &[
    r"^Failed \[Rule:(?:SchemaUpdateRequired|ServerNotPrepared)\]",
    r"^(?:\[ERROR\] )?Setup encountered a problem while validating",
    r"^(?:\[ERROR\] |\d+\.\s+ErrorRecord: )The e-mail address policy",
    r"^(?:\[[\d:]{5,8}\] )?WARNING - skipping .+ - it does NOT exist",
    r"^(?:\[ERROR\] |\[WARNING\] )?.*on a computer in the domain (\S+) and site (.+?), and wait for replication to complete",
    r"^User specified parameters:.*-Component:'ServerWideOffline'",
    r"(?i)cannot start service",
    r"Watermark",
    r"(?i)\[ERROR\]",
    r"^$",
    r"^",
    r"^a|b",
    r"(?m)^Setup is stopping",
    r"\AEnd of Setup\z",
    r"^\p{Greek}+ λόγος",
    r"^é",
    r"^[^\[\s]+ ErrorRecord",
    r"^\s*Failed",
    r"^(?i)evaluated \[rule:x\]",
    r"\bexception\b",
    r"^.*$",
    r"x*",
    r"^\d",
    r"^(?:\[[^\]]{1,30}\] )?State file .*Service\w*\.xml already exists",
];

const LINES: &[&str] = &[
    "",
    " ",
    "Failed [Rule:ServerNotPrepared]",
    "Failed [Rule:GlobalUpdateRequired]",
    "[ERROR] Setup encountered a problem while validating the state of Active Directory",
    "Setup encountered a problem while validating",
    "0. ErrorRecord: The e-mail address policy object must have",
    "١٢. ErrorRecord: The e-mail address policy object",
    "12.\u{2003}ErrorRecord: The e-mail address policy",
    "[09:51:04] WARNING - skipping C:\\x - it does NOT exist",
    "WARNING - skipping C:\\x - it does NOT exist",
    "[WARNING] Run setup /PrepareAD on a computer in the domain contoso and site Default, and wait for replication to complete.",
    "Run it on a computer in the domain contoso.com and site Site1, and wait for replication to complete",
    "User specified parameters:  -Identity:'EX01' -Component:'ServerWideOffline' -State:'Active'",
    "User specified parameters:  -Component:'HubTransport'",
    "Cannot START Service FMS on computer '.'",
    "the service cannot start service",
    "xxWatermarkxx",
    "[error] lower case",
    "a",
    "ba",
    "xb",
    "line one\nSetup is stopping now",
    "End of Setup",
    "End of Setup.",
    "Ελληνικά λόγος",
    "é",
    "e",
    "évaluated [rule:x]",
    "EVALUATED [RULE:X] [Value:\"True\"]",
    "An exception occurred",
    "exceptional",
    "7 days",
    "\u{0660}",
    "   Failed",
    "\tFailed [Rule:X]",
    "\u{a0}Failed",
    "abc ErrorRecord",
    "[abc ErrorRecord",
    "[12:00] State file C:\\ExchangeSetupLogs\\ServiceState.xml already exists",
    "State file x ServiceStartupMode.xml already exists",
    "Beginning processing Install-MailboxRole",
];

#[test]
fn each_pattern_alone_and_all_together_match_the_lines_a_plain_set_does() {
    let lines = variants(LINES);
    let mut matched = 0;
    for p in PATTERNS {
        matched += assert_same(&[p], &lines);
    }
    assert!(
        matched > 100,
        "only {matched} matches: the lines test little"
    );
    assert_same(PATTERNS, &lines);
    // Without the patterns searched on every line (`^$`, `x*`…), the gates alone decide.
    let gated: Vec<&str> = PATTERNS
        .iter()
        .copied()
        .filter(|p| matches!(gate(p), Gate::Starts(..) | Gate::Ends(_)))
        .collect();
    assert!(gated.len() > 15, "{gated:?}");
    assert!(assert_same(&gated, &lines) > 20);
}

#[test]
fn patterns_are_gated_by_what_they_must_begin_or_end_with() {
    let set = |p: &str| LineSet::new([p]).unwrap();
    let starts = |p: &str| {
        let s = set(p);
        s.at_start.is_some() && s.inside.is_none() && s.always.is_none()
    };
    let inside = |p: &str| {
        let s = set(p);
        s.at_start.is_none() && s.inside.is_some() && s.always.is_none()
    };
    let always = |p: &str| {
        let s = set(p);
        s.at_start.is_none() && s.inside.is_none() && s.always.is_some()
    };
    assert!(starts(r"^Failed \[Rule:X\]"));
    assert!(
        set(r"^Failed \[Rule:X\]").needs[0].is_none(),
        "the prefix is the match"
    );
    let open = set(r"^User specified parameters:.*-Component:'ServerWideOffline'");
    let needles: Vec<&[u8]> = open.needs[0].iter().flatten().map(|f| f.needle()).collect();
    assert_eq!(needles, [&b"-Component:'ServerWideOffline'"[..]]);
    assert!(
        starts(r"^(?:\[ERROR\] |\d+\.\s+ErrorRecord: )x"),
        "by first byte"
    );
    assert!(inside(
        r"^(?:\[ERROR\] )?.*and wait for replication to complete"
    ));
    assert!(inside("Watermark"));
    assert!(
        inside(r"(?m)^Setup is stopping"),
        "matches after any line feed"
    );
    assert!(always("^$"));
    assert!(always("x*"));
    assert!(always(r"^.*\d"));
    // Too many literals to look for in every line.
    assert!(always("(?i)cannot start service"));
    let many: Vec<String> = (0..20).map(|i| format!("word{i}")).collect();
    let s = LineSet::new(&many).unwrap();
    assert!(s.ends.len() <= MAX_ENDS && s.always.is_some());
}

#[test]
fn a_bad_pattern_fails_as_in_a_plain_set() {
    let e = LineSet::new(["^ok", "(unclosed"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        RegexSet::new(["^ok", "(unclosed"]).unwrap_err().to_string()
    );
}

/// The catalogue's patterns: what every setup log is matched against.
fn catalogue() -> LineSet {
    let mut ib = crate::rules::InterestBuilder::default();
    for r in crate::rules::builtin() {
        r.interest(&mut ib);
    }
    let interest = ib.build().expect("catalogue patterns compile");
    interest.setup_lines.expect("the catalogue asks for lines")
}

/// Lines of the sample bundles' text files and of the real excerpts beside the repository.
fn sample_lines() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut dirs = vec![
        root.join("samples/scenarios"),
        root.join("../shared/reference/real-setup-logs"),
    ];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "log" || x == "txt" || x == "msilog")
            {
                files.push(p);
            }
        }
    }
    let mut lines = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let mut r: &[u8] = &bytes;
        let mut lr = crate::parse::text::LineReader::new(&mut r, 1 << 20).unwrap();
        while let Some((_, l)) = lr.next_line().unwrap() {
            // As the setup-log reader offers it: the text after the prefix.
            let text = match crate::parse::setup_stamp::prefix(l) {
                Some(p) => &l[p.text_at..],
                None => l.trim(),
            };
            lines.push(text.to_string());
        }
    }
    lines
}

#[test]
fn the_catalogue_keeps_the_lines_a_plain_set_does() {
    let set = catalogue();
    // Every built-in pattern is anchored or has a literal to look for: none is searched on
    // every line of a 200 MB log.
    assert!(set.always.is_none(), "searched on every line: {set:?}");
    assert!(set.ends.len() <= 2, "{:?}", set.ends);
    let patterns: Vec<&str> = set.patterns().iter().map(String::as_str).collect();
    assert!(patterns.len() > 100);
    let mut lines = sample_lines();
    assert!(lines.len() > 1000, "{} sample lines", lines.len());
    // Lines that pass the gates and go on to the set: every prefix a pattern must begin with,
    // followed by sample text.
    let tails: Vec<String> = lines.iter().step_by(37).cloned().collect();
    let mut crafted = Vec::new();
    for bucket in set.starts.iter() {
        for start in bucket.iter() {
            let s = String::from_utf8_lossy(&start.prefix);
            crafted.push(s.to_string());
            crafted.extend(tails.iter().map(|t| format!("{s}{t}")));
            // And the literals the patterns' matches end with, after it.
            for &k in &start.patterns {
                for f in set.needs[k].iter().flatten() {
                    let end = String::from_utf8_lossy(f.needle());
                    crafted.push(format!("{s}{end}"));
                    crafted.extend(tails.iter().map(|t| format!("{s}{t} {end}")));
                }
            }
        }
    }
    lines.extend(crafted);
    let matched = assert_same(&patterns, &lines);
    assert!(matched > 50, "only {matched} lines matched");
}
