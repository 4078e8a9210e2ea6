//! What the script writes, read from its syntax tree, against what the analyser reads: bundle
//! paths (`LAYOUT`), manifest and host.json keys, CSV headers, and the layout table of the docs.

use super::ps::*;
use exhume::bundle::layout::{LAYOUT, glob_match};
use regex::Regex;
use std::collections::BTreeSet;
use tree_sitter::Tree;

/// One `-BundlePath` literal of the script and where it is.
#[derive(Debug, Clone)]
pub struct Template {
    pub path: String,
    pub at: String,
}

/// The functions that write into the bundle: those declaring a `$BundlePath` parameter.
pub fn bundle_helpers(tree: &Tree, src: &str) -> BTreeSet<String> {
    all_nodes(tree)
        .into_iter()
        .filter(|n| n.kind() == "function_statement")
        .filter(|f| {
            all_nodes_under(*f).into_iter().any(|n| {
                n.kind() == "script_parameter"
                    && children(n).into_iter().any(|c| {
                        c.kind() == "variable" && text(c, src).eq_ignore_ascii_case("$BundlePath")
                    })
            })
        })
        .filter_map(|f| {
            children(f)
                .into_iter()
                .find(|c| c.kind() == "function_name")
                .map(|n| text(n, src).to_ascii_lowercase())
        })
        .collect()
}

/// Every bundle path template the script writes, or why the script breaks the convention that
/// makes them readable: each call of a bundle helper passes `-BundlePath '<literal>'`, and
/// `Register-BundleFile` (which puts a file into the manifest and the zip) is only called by
/// the helpers.
pub fn bundle_templates(src: &str) -> Result<Vec<Template>, Vec<String>> {
    let tree = parse(src);
    let helpers = bundle_helpers(&tree, src);
    let mut errors = Vec::new();
    let mut out = Vec::new();
    if helpers.is_empty() {
        errors.push("no function declares a $BundlePath parameter".to_string());
    }
    for cmd in all_nodes(&tree)
        .into_iter()
        .filter(|n| n.kind() == "command")
    {
        let name = command_name(cmd, src);
        if name == "register-bundlefile" {
            match enclosing_function(cmd, src) {
                Some(f) if helpers.contains(&f) => {}
                other => errors.push(format!(
                    "{} Register-BundleFile called from {}, not from a bundle helper",
                    at(cmd),
                    other.unwrap_or_else(|| "the script body".into())
                )),
            }
            continue;
        }
        if !helpers.contains(&name) {
            continue;
        }
        let elements = command_elements(cmd);
        let param = elements.iter().position(|e| {
            let p = text(*e, src).to_ascii_lowercase();
            e.kind() == "command_parameter" && p.len() >= 3 && "-bundlepath".starts_with(&p)
        });
        let Some(i) = param else {
            errors.push(format!("{} {name} is called without -BundlePath", at(cmd)));
            continue;
        };
        match elements.get(i + 1).and_then(|a| verbatim_literal(*a, src)) {
            Some(path) => out.push(Template { path, at: at(cmd) }),
            None => errors.push(format!(
                "{} {name} -BundlePath must be a single-quoted literal, found {:?}",
                at(cmd),
                elements
                    .get(i + 1)
                    .map(|a| text(*a, src))
                    .unwrap_or("nothing")
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Placeholder values standing for what the script may put there. They follow the script's
/// `Resolve-BundlePath`: a `{…Dir}` placeholder may span folders, a `{…Suffix}` may be empty,
/// any other is one path segment (the script replaces `\ / :` in it).
pub fn sample_values(placeholder: &str) -> &'static [&'static str] {
    if placeholder.ends_with("Dir") {
        &["ClientAccess", "ClientAccess/Owa", "FrontEnd/HttpProxy/ecp"]
    } else if placeholder.ends_with("Suffix") {
        &["", "_old", "-2011-12-04"]
    } else {
        &["Sample", "Sample Name 2", "MSExchange Management_1033"]
    }
}

/// The concrete paths a template stands for, one per combination of sample values.
pub fn expand(template: &str) -> Vec<String> {
    let re = Regex::new(r"\{([A-Za-z]+)\}").unwrap();
    let Some(m) = re.captures(template) else {
        return vec![template.to_string()];
    };
    let whole = m.get(0).unwrap();
    let name = &m[1];
    sample_values(name)
        .iter()
        .flat_map(|v| {
            let filled = format!(
                "{}{}{}",
                &template[..whole.start()],
                v,
                &template[whole.end()..]
            );
            expand(&filled)
        })
        .collect()
}

/// Regex for the concrete paths a template stands for (`{…Dir}` spans folders).
pub fn template_regex(template: &str) -> Regex {
    let re = Regex::new(r"\{([A-Za-z]+)\}").unwrap();
    let mut out = String::from("(?i)^");
    let mut last = 0;
    for m in re.captures_iter(template) {
        let whole = m.get(0).unwrap();
        out.push_str(&regex::escape(&template[last..whole.start()]));
        out.push_str(if m[1].ends_with("Dir") {
            "[^/]+(?:/[^/]+)*"
        } else if m[1].ends_with("Suffix") {
            "[^/]*"
        } else {
            "[^/]+"
        });
        last = whole.end();
    }
    out.push_str(&regex::escape(&template[last..]));
    out.push('$');
    Regex::new(&out).unwrap()
}

/// Index of the LAYOUT entry a path falls under (first match wins, as in `classify`).
pub fn layout_index(path: &str) -> Option<usize> {
    LAYOUT.iter().position(|e| glob_match(e.pattern, path))
}

/// Differences between the script's templates and LAYOUT, both ways.
pub fn contract_gaps(templates: &[Template]) -> Vec<String> {
    let mut gaps = Vec::new();
    let mut covered = BTreeSet::new();
    for t in templates {
        let mut entries = BTreeSet::new();
        for path in expand(&t.path) {
            match layout_index(&path) {
                Some(i) => {
                    entries.insert(i);
                }
                None => gaps.push(format!(
                    "{} the script writes {path:?} (from {:?}), which no LAYOUT pattern classifies",
                    t.at, t.path
                )),
            }
        }
        if entries.len() > 1 {
            let pats: Vec<_> = entries.iter().map(|i| LAYOUT[*i].pattern).collect();
            gaps.push(format!(
                "{} {:?} falls under several LAYOUT patterns depending on its value: {pats:?}",
                t.at, t.path
            ));
        }
        covered.extend(entries);
    }
    for (i, e) in LAYOUT.iter().enumerate() {
        if !covered.contains(&i) {
            gaps.push(format!(
                "LAYOUT pattern {:?} ({}) is never written by the script",
                e.pattern, e.what
            ));
        }
    }
    gaps
}

/// LAYOUT patterns that the layout table of docs/bundle-format.md does not list (as the first
/// cell of a row, in backticks).
pub fn undocumented_patterns(doc: &str) -> Vec<&'static str> {
    let listed: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |").map(|(p, _)| p.to_string()))
        .collect();
    LAYOUT
        .iter()
        .map(|e| e.pattern)
        .filter(|p| !listed.contains(*p))
        .collect()
}

/// Keys assigned as `$var['key'] = …` inside one function (or the whole script for `None`).
pub fn assigned_keys(src: &str, var: &str, function: Option<&str>) -> BTreeSet<String> {
    let tree = parse(src);
    let scope = match function {
        None => tree.root_node(),
        Some(f) => all_nodes(&tree)
            .into_iter()
            .find(|n| {
                n.kind() == "function_statement"
                    && children(*n).into_iter().any(|c| {
                        c.kind() == "function_name" && text(c, src).eq_ignore_ascii_case(f)
                    })
            })
            .unwrap_or_else(|| panic!("no function {f}")),
    };
    let re = Regex::new(&format!(r"^\${}\['([a-z0-9_]+)'\]$", regex::escape(var))).unwrap();
    all_nodes_under(scope)
        .into_iter()
        .filter(|n| n.kind() == "left_assignment_expression")
        .filter_map(|n| re.captures(text(n, src).trim()).map(|c| c[1].to_string()))
        .collect()
}

/// The CSV headers the script writes: every `Write-CsvFile -Columns @('A', 'B')` list and every
/// literal header line such as `'"A","B"'`.
pub fn script_csv_headers(src: &str) -> BTreeSet<Vec<String>> {
    let tree = parse(src);
    let mut out = BTreeSet::new();
    for cmd in all_nodes(&tree)
        .into_iter()
        .filter(|n| n.kind() == "command" && command_name(*n, src) == "write-csvfile")
    {
        let elements = command_elements(cmd);
        if let Some(i) = elements
            .iter()
            .position(|e| text(*e, src).eq_ignore_ascii_case("-Columns"))
            && let Some(list) = elements.get(i + 1)
        {
            let cols: Vec<String> = all_nodes_under(*list)
                .into_iter()
                .filter(|n| n.kind() == "verbatim_string_characters")
                .map(|n| text(n, src).trim_matches('\'').to_string())
                .collect();
            out.insert(cols);
        }
    }
    let header = Regex::new(r#"^'("[A-Za-z]+")(,"[A-Za-z]+")*'$"#).unwrap();
    for n in all_nodes(&tree)
        .into_iter()
        .filter(|n| n.kind() == "verbatim_string_characters")
    {
        let t = text(n, src);
        if header.is_match(t) {
            out.insert(
                t.trim_matches('\'')
                    .split(',')
                    .map(|c| c.trim_matches('"').to_string())
                    .collect(),
            );
        }
    }
    out
}

/// What keeps `Get-Help <script> -Full` complete: the script must open with a comment-based help
/// block that has a synopsis, a description, an example and a `.PARAMETER` for every parameter of
/// the script's own `param()` block. Returns what is missing.
pub fn help_gaps(src: &str) -> Vec<String> {
    let tree = parse(src);
    let root = tree.root_node();
    let mut gaps = Vec::new();
    let help = children(root)
        .into_iter()
        .find(|n| n.kind() == "comment")
        .map(|n| text(n, src))
        .filter(|t| t.starts_with("<#"));
    let Some(help) = help else {
        return vec!["the script does not open with a <# … #> help block".into()];
    };
    for keyword in [".SYNOPSIS", ".DESCRIPTION", ".EXAMPLE"] {
        if !help.lines().any(|l| l.trim() == keyword) {
            gaps.push(format!("help has no {keyword}"));
        }
    }
    let params = all_nodes(&tree)
        .into_iter()
        .find(|n| n.kind() == "param_block" && enclosing_function(*n, src).is_none());
    for p in params.map(all_nodes_under).unwrap_or_default() {
        if p.kind() != "script_parameter" {
            continue;
        }
        let Some(var) = children(p).into_iter().find(|c| c.kind() == "variable") else {
            continue;
        };
        let name = text(var, src).trim_start_matches('$');
        let documented = help.lines().any(|l| {
            l.trim()
                .strip_prefix(".PARAMETER ")
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(name))
        });
        if !documented {
            gaps.push(format!("help has no .PARAMETER {name}"));
        }
    }
    gaps
}
