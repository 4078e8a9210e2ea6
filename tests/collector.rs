//! The collector, `collectors/Collect-ExchangeEvidence.ps1`, tested on a machine without
//! PowerShell: what can be checked here is checked for real, and each check is shown to fail on
//! a deliberately broken input.
//!
//! - syntax: tree-sitter-powershell parses the script with no ERROR or MISSING node;
//! - PS 2.0: no construct newer than Windows PowerShell 2.0 outside a feature-test guard;
//! - read-only: every command is defined in the script or an allowed read-only cmdlet, and no
//!   native tool is given a writing verb;
//! - contract: the bundle paths the script writes are exactly the `LAYOUT` table, both ways, and
//!   its manifest and host.json keys are the ones the analyser reads;
//! - fixture: a bundle laid out as the script writes one is analysed with no unknown file and
//!   every file verified against the manifest;
//! - zip: the script's C# zip writer, compiled by mono's `mcs` in C# 2 mode, writes zips that
//!   exhume reads with `/` names, valid CRCs and an intact chain of custody (skipped, with a
//!   message, where mono is not installed).
//!
//! Not checkable here: that each cmdlet and .NET call behaves as expected on a real Windows
//! server; that is for a run on Windows PowerShell 2.0 and 5.1 (docs/collector.md).

use exhume::bundle::layout::{LAYOUT, glob_match};
use exhume::facts::FactKind;
use regex::Regex;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tree_sitter::{Node, Parser, Tree};

const SCRIPT: &str = "collectors/Collect-ExchangeEvidence.ps1";

fn script_source() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCRIPT);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(src: &str) -> Tree {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_powershell::LANGUAGE.into())
        .expect("the PowerShell grammar loads");
    parser.parse(src, None).expect("tree-sitter returns a tree")
}

fn children<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    (0..node.child_count() as u32)
        .filter_map(|i| node.child(i))
        .collect()
}

/// Every node of the tree, in document order.
fn all_nodes(tree: &Tree) -> Vec<Node<'_>> {
    all_nodes_under(tree.root_node())
}

fn text<'s>(node: Node<'_>, src: &'s str) -> &'s str {
    node.utf8_text(src.as_bytes()).unwrap_or("")
}

/// `row:col` (1-based), as an editor shows it.
fn at(node: Node<'_>) -> String {
    let p = node.start_position();
    format!("{}:{}", p.row + 1, p.column + 1)
}

// ---------------------------------------------------------------------------------------------
// Syntax
// ---------------------------------------------------------------------------------------------

/// Every ERROR and MISSING node, with its position and a short excerpt.
fn syntax_errors(src: &str) -> Vec<String> {
    let tree = parse(src);
    all_nodes(&tree)
        .into_iter()
        .filter(|n| n.is_error() || n.is_missing())
        .map(|n| {
            let what = if n.is_missing() {
                format!("MISSING {}", n.kind())
            } else {
                "ERROR".to_string()
            };
            let excerpt: String = text(n, src).chars().take(60).collect();
            format!("{} {what}: {excerpt:?}", at(n))
        })
        .collect()
}

#[test]
fn script_parses_without_syntax_errors() {
    let src = script_source();
    let errors = syntax_errors(&src);
    assert!(
        errors.is_empty(),
        "{SCRIPT} has syntax errors:\n{}",
        errors.join("\n")
    );
    // A parse that silently stopped early would also have no errors: check it reached the end.
    let tree = parse(&src);
    assert!(tree.root_node().end_byte() + 1 >= src.trim_end().len());
    let functions = all_nodes(&tree)
        .into_iter()
        .filter(|n| n.kind() == "function_statement")
        .count();
    assert!(functions > 30, "only {functions} functions parsed");
}

#[test]
fn syntax_check_catches_a_broken_script() {
    let broken =
        "function Get-Thing {\n    param([string]$Path\n    Get-Item -LiteralPath $Path\n}\n";
    let errors = syntax_errors(broken);
    assert!(!errors.is_empty(), "a missing ')' went unnoticed");
    assert!(
        errors
            .iter()
            .all(|e| Regex::new(r"^\d+:\d+ ").unwrap().is_match(e)),
        "{errors:?}"
    );
    let unclosed = "if ($true) {\n    Write-Host 'x'\n";
    assert!(!syntax_errors(unclosed).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Windows PowerShell 2.0 compatibility
// ---------------------------------------------------------------------------------------------

/// Type literals that do not exist on PowerShell 2.0 / .NET 2.0-3.5 (compared without `System.`).
const BANNED_TYPES: &[(&str, &str)] = &[
    ("ordered", "[ordered] is PowerShell 3.0"),
    ("pscustomobject", "[pscustomobject] is PowerShell 3.0"),
    (
        "io.compression.zipfile",
        "System.IO.Compression.ZipFile is .NET 4.5",
    ),
    (
        "io.compression.ziparchive",
        "System.IO.Compression.ZipArchive is .NET 4.5",
    ),
    (
        "io.compression.ziparchivemode",
        "System.IO.Compression is .NET 4.5",
    ),
    ("microsoft.win32.registryview", "RegistryView is .NET 4.0"),
];

/// Commands that PowerShell 2.0 does not have.
const BANNED_COMMANDS: &[(&str, &str)] = &[
    ("convertto-json", "ConvertTo-Json is PowerShell 3.0"),
    ("convertfrom-json", "ConvertFrom-Json is PowerShell 3.0"),
    ("get-filehash", "Get-FileHash is PowerShell 4.0"),
    ("compress-archive", "Compress-Archive is PowerShell 5.0"),
    ("expand-archive", "Expand-Archive is PowerShell 5.0"),
    ("get-ciminstance", "Get-CimInstance is PowerShell 3.0"),
    ("invoke-cimmethod", "CIM cmdlets are PowerShell 3.0"),
    ("new-cimsession", "CIM cmdlets are PowerShell 3.0"),
    ("invoke-webrequest", "Invoke-WebRequest is PowerShell 3.0"),
    ("invoke-restmethod", "Invoke-RestMethod is PowerShell 3.0"),
    (
        "get-itempropertyvalue",
        "Get-ItemPropertyValue is PowerShell 5.0",
    ),
];

/// Operators that PowerShell 2.0 does not have.
const BANNED_OPERATORS: &[&str] = &[
    "-in", "-notin", "-iin", "-inotin", "-cin", "-cnotin", "-shl", "-shr",
];

/// Automatic variables that PowerShell 2.0 does not set in a script.
const BANNED_VARIABLES: &[&str] = &["$pscommandpath", "$psscriptroot"];

/// What makes an `if` a feature test: a version check, or a probe for the command or type.
fn is_feature_guard(condition: &str) -> bool {
    let c = condition.to_ascii_lowercase();
    Regex::new(r"\$psversiontable\.psversion\.major\s*-(ge|gt)\s*\d")
        .unwrap()
        .is_match(&c)
        || c.contains("get-command")
        || c.contains("-as [type]")
}

/// True when `node` sits in the `then` block of an `if` whose condition is a feature test.
fn guarded(node: Node<'_>, src: &str) -> bool {
    let mut cur = node.parent();
    while let Some(p) = cur {
        if p.kind() == "if_statement" {
            let cond = p.child_by_field_name("condition").map(|c| text(c, src));
            let then = children(p)
                .into_iter()
                .find(|c| c.kind() == "statement_block");
            if let (Some(cond), Some(then)) = (cond, then)
                && is_feature_guard(cond)
                && then.start_byte() <= node.start_byte()
                && node.end_byte() <= then.end_byte()
            {
                return true;
            }
        }
        cur = p.parent();
    }
    false
}

/// The elements of a command after its name: parameters and arguments, separators dropped.
fn command_elements<'t>(cmd: Node<'t>) -> Vec<Node<'t>> {
    cmd.child_by_field_name("command_elements")
        .map(|e| {
            children(e)
                .into_iter()
                .filter(|c| c.kind() != "command_argument_sep")
                .collect()
        })
        .unwrap_or_default()
}

fn command_name(cmd: Node<'_>, src: &str) -> String {
    cmd.child_by_field_name("command_name")
        .map(|n| text(n, src).to_ascii_lowercase())
        .unwrap_or_default()
}

/// Every construct newer than PowerShell 2.0 found outside a feature-test guard.
fn ps2_violations(src: &str) -> Vec<String> {
    let tree = parse(src);
    let mut out = Vec::new();
    let mut report = |node: Node<'_>, why: &str| {
        if !guarded(node, src) {
            out.push(format!("{} {why}: {:?}", at(node), text(node, src)));
        }
    };
    for node in all_nodes(&tree) {
        match node.kind() {
            "type_literal" => {
                let name = text(node, src)
                    .trim_matches(|c| c == '[' || c == ']')
                    .trim()
                    .to_ascii_lowercase();
                let name = name.strip_prefix("system.").unwrap_or(&name);
                if let Some((_, why)) = BANNED_TYPES.iter().find(|(t, _)| *t == name) {
                    report(node, why);
                }
            }
            "command" => {
                let name = command_name(node, src);
                if let Some((_, why)) = BANNED_COMMANDS.iter().find(|(c, _)| *c == name) {
                    report(node, why);
                }
                let elements = command_elements(node);
                for (i, e) in elements.iter().enumerate() {
                    if e.kind() != "command_parameter" {
                        continue;
                    }
                    let p = text(*e, src).to_ascii_lowercase();
                    let next = elements
                        .get(i + 1)
                        .map(|n| text(*n, src).to_ascii_lowercase());
                    let gci = ["get-childitem", "gci", "dir", "ls"].contains(&name.as_str());
                    if p == "-nonewline" {
                        report(*e, "-NoNewline is PowerShell 5.0");
                    } else if p == "-raw"
                        && ["get-content", "gc", "cat", "type"].contains(&name.as_str())
                    {
                        report(*e, "Get-Content -Raw is PowerShell 3.0");
                    } else if gci && (p == "-file" || p == "-directory") {
                        report(*e, "Get-ChildItem -File/-Directory is PowerShell 3.0");
                    } else if ((p == "-erroraction" || p == "-ea")
                        && next.as_deref() == Some("ignore"))
                        || p == "-erroraction:ignore"
                        || p == "-ea:ignore"
                    {
                        report(*e, "-ErrorAction Ignore is PowerShell 3.0");
                    }
                }
            }
            "comparison_operator" => {
                let op = text(node, src).to_ascii_lowercase();
                if BANNED_OPERATORS.contains(&op.as_str()) {
                    report(node, "operator is PowerShell 3.0");
                }
            }
            "variable" => {
                let v = text(node, src).to_ascii_lowercase();
                if BANNED_VARIABLES.contains(&v.as_str()) {
                    report(
                        node,
                        "automatic variable is PowerShell 3.0 (use $MyInvocation)",
                    );
                }
            }
            "invokation_expression" => {
                let member = children(node)
                    .into_iter()
                    .find(|c| c.kind() == "member_name")
                    .map(|m| text(m, src).to_ascii_lowercase());
                let on_type = children(node)
                    .first()
                    .is_some_and(|c| c.kind() == "type_literal");
                match member.as_deref() {
                    Some("new") if on_type => report(node, "::new() is PowerShell 5.0"),
                    Some("where") | Some("foreach") => {
                        report(node, ".Where()/.ForEach() are PowerShell 4.0")
                    }
                    _ => {}
                }
            }
            "class_statement" | "enum_statement" => {
                report(node, "classes and enums are PowerShell 5.0")
            }
            "string_literal" => {
                let s = text(node, src).to_ascii_lowercase();
                if s.contains("compression.zipfile") || s.contains("compression.filesystem") {
                    report(node, "System.IO.Compression.ZipFile is .NET 4.5");
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn script_uses_nothing_newer_than_powershell_2() {
    let v = ps2_violations(&script_source());
    assert!(
        v.is_empty(),
        "{SCRIPT} uses constructs Windows PowerShell 2.0 lacks, outside a feature test:\n{}",
        v.join("\n")
    );
}

#[test]
fn ps2_check_catches_each_banned_construct() {
    let cases = [
        "$o = [ordered]@{ a = 1 }",
        "$o = [pscustomobject]@{ a = 1 }",
        "$j = $x | ConvertTo-Json",
        "$h = Get-FileHash -Path $p",
        "Compress-Archive -Path a -DestinationPath b.zip",
        "[System.IO.Compression.ZipFile]::CreateFromDirectory('a', 'b')",
        "Add-Type -AssemblyName 'System.IO.Compression.FileSystem'",
        "$os = Get-CimInstance Win32_OperatingSystem",
        "if ('a' -in $list) { 1 }",
        "$x = 1 -shl 4",
        "$here = $PSScriptRoot",
        "$sb = [System.Text.StringBuilder]::new()",
        "$big = $items.Where({ $_ -gt 1 })",
        "Get-ChildItem -Path C:\\ -File",
        "Get-Content -Path a.txt -Raw",
        "Get-Item x -ErrorAction Ignore",
        "Set-Content -Path a -Value b -NoNewline",
        "class Thing { [string]$Name }",
    ];
    for case in cases {
        assert!(
            syntax_errors(case).is_empty(),
            "test case does not parse: {case}"
        );
        assert!(
            !ps2_violations(case).is_empty(),
            "not caught as newer than PowerShell 2.0: {case}"
        );
    }
    // Behind a feature test, the same constructs are allowed; outside it (else), they are not.
    let guarded = "if ($PSVersionTable.PSVersion.Major -ge 3) {\n    $o = [pscustomobject]@{ a = 1 }\n    $j = $o | ConvertTo-Json\n}\n";
    assert_eq!(ps2_violations(guarded), Vec::<String>::new());
    let probed = "if (Get-Command Get-FileHash -ErrorAction SilentlyContinue) {\n    $h = Get-FileHash -Path $p\n}\n";
    assert_eq!(ps2_violations(probed), Vec::<String>::new());
    let in_else = "if ($PSVersionTable.PSVersion.Major -ge 3) {\n    $a = 1\n}\nelse {\n    $o = [ordered]@{ a = 1 }\n}\n";
    assert_eq!(ps2_violations(in_else).len(), 1);
    let not_a_guard = "if ($x -gt 3) {\n    $o = [ordered]@{ a = 1 }\n}\n";
    assert_eq!(ps2_violations(not_a_guard).len(), 1);
    // PowerShell 2.0 forms that look alike are not flagged.
    let fine = "$a = New-Object PSObject -Property @{ a = 1 }\n$b = $x -band 4\n$c = @($list) -contains 'a'\n$d = $MyInvocation.MyCommand.Path\nGet-ChildItem -Path C:\\ | Where-Object { -not $_.PSIsContainer }\n";
    assert_eq!(ps2_violations(fine), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Read-only on the server, and no unknown command
// ---------------------------------------------------------------------------------------------

/// The cmdlets the collector may call: each exists in Windows PowerShell 2.0 and only reads,
/// except `New-Item`/`Remove-Item`, used on the output and staging folders it creates.
/// `Get-ExchangeServer` comes from the optional Exchange snap-in.
const ALLOWED_CMDLETS: &[&str] = &[
    "add-pssnapin",
    "add-type",
    "foreach-object",
    "get-childitem",
    "get-exchangeserver",
    "get-item",
    "get-itemproperty",
    "get-wmiobject",
    "join-path",
    "new-item",
    "new-object",
    "out-null",
    "receive-job",
    "remove-item",
    "remove-job",
    "resolve-path",
    "select-object",
    "sort-object",
    "split-path",
    "start-job",
    "stop-job",
    "test-path",
    "wait-job",
    "where-object",
    "write-error",
    "write-host",
    "write-progress",
    "write-verbose",
    "write-warning",
];

/// String literals that would make a native tool change the server: tools that change
/// services, IIS or the network, and the writing verbs and switches of the tools the collector
/// runs (reg, wevtutil, icacls). `reg copy` is left out: "copy" is also the manifest method
/// of a plain file copy.
const WRITING_TOOL_WORDS: &[&str] = &[
    "sc.exe",
    "sc",
    "net.exe",
    "net",
    "netsh",
    "netsh.exe",
    "iisreset",
    "iisreset.exe",
    "appcmd",
    "appcmd.exe",
    "add",
    "delete",
    "import",
    "restore",
    "load",
    "unload",
    "cl",
    "clear-log",
    "sl",
    "set-log",
    "im",
    "install-manifest",
    "um",
    "uninstall-manifest",
    "/grant",
    "/deny",
    "/remove",
    "/reset",
    "/setowner",
    "/setintegritylevel",
    "/restore",
];

/// Commands that are neither defined in the script nor allowed, and string literals that would
/// make a native tool write.
fn write_risks(src: &str) -> Vec<String> {
    let tree = parse(src);
    let nodes = all_nodes(&tree);
    let defined: BTreeSet<String> = nodes
        .iter()
        .filter(|n| n.kind() == "function_name")
        .map(|n| text(*n, src).to_ascii_lowercase())
        .collect();
    let mut out = Vec::new();
    for n in &nodes {
        match n.kind() {
            "command" => {
                let name = command_name(*n, src);
                if !name.starts_with('$')
                    && !defined.contains(&name)
                    && !ALLOWED_CMDLETS.contains(&name.as_str())
                {
                    out.push(format!(
                        "{} {name} is neither defined in the script nor an allowed read-only PowerShell 2.0 cmdlet",
                        at(*n)
                    ));
                }
            }
            "verbatim_string_characters" | "expandable_string_literal" => {
                let t = text(*n, src).trim_matches(|c| c == '\'' || c == '"');
                if WRITING_TOOL_WORDS.iter().any(|w| t.eq_ignore_ascii_case(w)) {
                    out.push(format!(
                        "{} {t:?} would make a tool change the server",
                        at(*n)
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn script_only_reads_and_calls_known_commands() {
    let risks = write_risks(&script_source());
    assert!(risks.is_empty(), "{}", risks.join("\n"));
}

#[test]
fn read_only_check_catches_writes_and_unknown_commands() {
    let cases = [
        "Set-ItemProperty -Path HKLM:\\SOFTWARE\\x -Name a -Value 1",
        "Stop-Service -Name MSExchangeIS",
        "Write-CollectorLogs -Level 'INFO' -Message 'typo'",
        "$r = Invoke-Native -FilePath 'sc.exe' -Arguments @('config', 'x')",
        "$r = Invoke-Native -FilePath (Get-SystemTool 'reg.exe') -Arguments @('delete', 'HKLM\\x', '/f')",
        "$r = Invoke-Native -FilePath (Get-SystemTool 'wevtutil.exe') -Arguments @('cl', 'Application')",
        "$r = Invoke-Native -FilePath (Get-SystemTool 'icacls.exe') -Arguments @($d, '/grant', 'Everyone:F')",
    ];
    let defs = "function Invoke-Native {\n    param($FilePath, $Arguments)\n}\nfunction Get-SystemTool {\n    param($Name)\n}\n";
    for case in cases {
        let src = format!("{defs}{case}\n");
        assert!(syntax_errors(&src).is_empty(), "does not parse: {case}");
        assert!(!write_risks(&src).is_empty(), "not caught: {case}");
    }
    let fine = format!(
        "{defs}$r = Invoke-Native -FilePath (Get-SystemTool 'reg.exe') -Arguments @('export', 'HKLM\\x', $t, '/y')\nGet-ChildItem -Path C:\\ | Where-Object {{ $_ }}\n"
    );
    assert_eq!(write_risks(&fine), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Contract with the analyser: bundle paths
// ---------------------------------------------------------------------------------------------

/// One `-BundlePath` literal of the script and where it is.
#[derive(Debug, Clone)]
struct Template {
    path: String,
    at: String,
}

/// The functions that write into the bundle: those declaring a `$BundlePath` parameter.
fn bundle_helpers(tree: &Tree, src: &str) -> BTreeSet<String> {
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

/// `node` and every node below it, in document order.
fn all_nodes_under(node: Node<'_>) -> Vec<Node<'_>> {
    let mut out = Vec::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        out.push(n);
        let mut kids = children(n);
        kids.reverse();
        stack.extend(kids);
    }
    out
}

/// The innermost function a node is defined in.
fn enclosing_function(node: Node<'_>, src: &str) -> Option<String> {
    let mut cur = node.parent();
    while let Some(p) = cur {
        if p.kind() == "function_statement" {
            return children(p)
                .into_iter()
                .find(|c| c.kind() == "function_name")
                .map(|n| text(n, src).to_ascii_lowercase());
        }
        cur = p.parent();
    }
    None
}

/// A single-quoted string literal's value, if `node` is one (possibly wrapped in expressions).
fn verbatim_literal(node: Node<'_>, src: &str) -> Option<String> {
    let leaf = all_nodes_under(node)
        .into_iter()
        .find(|n| n.kind() == "verbatim_string_characters")?;
    // The literal must be the whole argument, not part of a larger expression.
    if text(node, src).trim() != text(leaf, src).trim() {
        return None;
    }
    let t = text(leaf, src);
    let inner = t.strip_prefix('\'').and_then(|s| s.strip_suffix('\''))?;
    Some(inner.replace("''", "'"))
}

/// Every bundle path template the script writes, or why the script breaks the convention that
/// makes them readable: each call of a bundle helper passes `-BundlePath '<literal>'`, and
/// `Register-BundleFile` (which puts a file into the manifest and the zip) is only called by
/// the helpers.
fn bundle_templates(src: &str) -> Result<Vec<Template>, Vec<String>> {
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
fn sample_values(placeholder: &str) -> &'static [&'static str] {
    if placeholder.ends_with("Dir") {
        &["ClientAccess", "ClientAccess/Owa", "FrontEnd/HttpProxy/ecp"]
    } else if placeholder.ends_with("Suffix") {
        &["", "_old", "-2011-12-04"]
    } else {
        &["Sample", "Sample Name 2", "MSExchange Management_1033"]
    }
}

/// The concrete paths a template stands for, one per combination of sample values.
fn expand(template: &str) -> Vec<String> {
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

/// Index of the LAYOUT entry a path falls under (first match wins, as in `classify`).
fn layout_index(path: &str) -> Option<usize> {
    LAYOUT.iter().position(|e| glob_match(e.pattern, path))
}

/// Differences between the script's templates and LAYOUT, both ways.
fn contract_gaps(templates: &[Template]) -> Vec<String> {
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

#[test]
fn script_writes_exactly_the_layout() {
    let templates = bundle_templates(&script_source()).unwrap_or_else(|e| {
        panic!(
            "{SCRIPT} breaks the bundle-path convention:\n{}",
            e.join("\n")
        )
    });
    assert!(templates.len() >= LAYOUT.len(), "{templates:?}");
    let gaps = contract_gaps(&templates);
    assert!(
        gaps.is_empty(),
        "{SCRIPT} and src/bundle/layout.rs disagree:\n{}",
        gaps.join("\n")
    );
}

#[test]
fn contract_check_catches_drift_both_ways() {
    let script = |body: &str| {
        format!(
            "function Copy-ToBundle {{\n    param([string]$BundlePath, [string]$Source)\n    Register-BundleFile -Name $BundlePath\n}}\n{body}\n"
        )
    };
    // A path the analyser does not know.
    let src = script(
        "Copy-ToBundle -BundlePath 'system/notes.txt' -Source 'a'\nCopy-ToBundle -BundlePath 'setup/{Name}.log' -Source 'b'",
    );
    let templates = bundle_templates(&src).unwrap();
    let gaps = contract_gaps(&templates);
    assert!(
        gaps.iter().any(|g| g.contains("system/notes.txt")),
        "{gaps:?}"
    );
    // LAYOUT patterns the script does not produce.
    assert!(
        gaps.iter().any(|g| g.contains("\"evtx/*.evtx\"")),
        "{gaps:?}"
    );
    // A placeholder that can change the artefact kind.
    let src = script("Copy-ToBundle -BundlePath 'setup/{Name}' -Source 'a'");
    let gaps = contract_gaps(&bundle_templates(&src).unwrap());
    assert!(
        gaps.iter().any(|g| g.contains("no LAYOUT pattern")),
        "{gaps:?}"
    );
    // Paths that cannot be read from the script.
    let src = script(
        "Copy-ToBundle -BundlePath $where -Source 'a'\nCopy-ToBundle -BundlePath (\"setup/\" + $n) -Source 'b'\nCopy-ToBundle -Source 'c'\nRegister-BundleFile -Name 'x/y'",
    );
    let errors = bundle_templates(&src).unwrap_err();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors[0].contains("single-quoted literal"), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("without -BundlePath")));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("Register-BundleFile called from the script body"))
    );
}

/// LAYOUT patterns that the layout table of docs/bundle-format.md does not list (as the first
/// cell of a row, in backticks).
fn undocumented_patterns(doc: &str) -> Vec<&'static str> {
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

#[test]
fn bundle_format_doc_lists_every_layout_pattern() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/bundle-format.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    assert_eq!(undocumented_patterns(&doc), Vec::<&str>::new());
    // A doc that lost a row is caught.
    let cut: String = doc
        .lines()
        .filter(|l| !l.starts_with("| `system/host.json`"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(undocumented_patterns(&cut), vec!["system/host.json"]);
}

// ---------------------------------------------------------------------------------------------
// Contract with the analyser: manifest, host.json and CSV columns
// ---------------------------------------------------------------------------------------------

/// Keys assigned as `$var['key'] = …` inside one function (or the whole script for `None`).
fn assigned_keys(src: &str, var: &str, function: Option<&str>) -> BTreeSet<String> {
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

#[test]
fn script_writes_the_manifest_and_host_keys_the_analyser_reads() {
    let src = script_source();
    let missing = |have: &BTreeSet<String>, want: &[&str]| -> Vec<String> {
        want.iter()
            .filter(|k| !have.contains(**k))
            .map(|k| k.to_string())
            .collect()
    };
    // src/bundle/manifest.rs
    let top = assigned_keys(&src, "m", None);
    let want_top = [
        "schema_version",
        "collector",
        "host",
        "collected_utc",
        "time_zone",
        "exchange",
        "files",
        "not_collected",
    ];
    assert_eq!(missing(&top, &want_top), Vec::<String>::new());
    assert!(src.contains("$script:SchemaVersion = '1.0'"));
    let collector = assigned_keys(&src, "collector", None);
    assert_eq!(
        missing(&collector, &["name", "version", "powershell"]),
        Vec::<String>::new()
    );
    let host = assigned_keys(&src, "h", None);
    assert_eq!(
        missing(&host, &["computer_name", "fqdn", "domain"]),
        Vec::<String>::new()
    );
    let tz = assigned_keys(&src, "tz", None);
    assert_eq!(
        missing(&tz, &["utc_offset_minutes", "id"]),
        Vec::<String>::new()
    );
    let ex = assigned_keys(&src, "ex", None);
    assert_eq!(
        missing(&ex, &["install_path", "version"]),
        Vec::<String>::new()
    );
    let file = assigned_keys(&src, "entry", Some("Register-BundleFile"));
    assert_eq!(
        missing(
            &file,
            &["path", "source", "size", "sha256", "method", "truncated"]
        ),
        Vec::<String>::new()
    );
    let not_collected = assigned_keys(&src, "entry", Some("Add-NotCollected"));
    assert_eq!(
        missing(&not_collected, &["what", "why"]),
        Vec::<String>::new()
    );
    // system/host.json: the key names the host parser reads.
    let host_json = assigned_keys(&src, "h", Some("Get-HostFacts"));
    assert_eq!(
        missing(
            &host_json,
            &[
                "computer_name",
                "domain",
                "os",
                "pending_reboot",
                "dotnet_release",
                "utc_offset_minutes",
                "time_zone_id",
            ]
        ),
        Vec::<String>::new()
    );
}

/// The CSV headers the script writes: every `Write-CsvFile -Columns @('A', 'B')` list and every
/// literal header line such as `'"A","B"'`.
fn script_csv_headers(src: &str) -> BTreeSet<Vec<String>> {
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

// ---------------------------------------------------------------------------------------------
// Fixture: a bundle as the script writes it
// ---------------------------------------------------------------------------------------------

/// A CSV as the script's `Write-CsvFile` writes it: UTF-8 with BOM, every field quoted, CRLF.
fn csv(columns: &[&str], rows: &[&[&str]]) -> Vec<u8> {
    let line = |fields: &[&str]| {
        fields
            .iter()
            .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut s = String::from("\u{feff}");
    s.push_str(&line(columns));
    s.push_str("\r\n");
    for r in rows {
        s.push_str(&line(r));
        s.push_str("\r\n");
    }
    s.into_bytes()
}

fn utf16le_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

fn utf8_bom(text: &str) -> Vec<u8> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    out.extend_from_slice(text.as_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// An EVTX file with a valid file header and no chunk: what `wevtutil epl` writes for a channel
/// with no event in the window.
fn empty_evtx() -> Vec<u8> {
    let mut h = vec![0u8; 4096];
    h[..8].copy_from_slice(b"ElfFile\0");
    h[24..32].copy_from_slice(&1u64.to_le_bytes()); // next record id
    h[32..36].copy_from_slice(&128u32.to_le_bytes()); // header size
    h[36..38].copy_from_slice(&1u16.to_le_bytes()); // minor version
    h[38..40].copy_from_slice(&3u16.to_le_bytes()); // major version
    h[40..42].copy_from_slice(&4096u16.to_le_bytes()); // header block size
    let crc = crc32(&h[..120]);
    h[124..128].copy_from_slice(&crc.to_le_bytes());
    h
}

const INSTALL: &str = "C:\\Program Files\\Microsoft\\Exchange Server\\V15";

/// Every bundle path of the fixture with its content: one or more files per LAYOUT kind, with
/// the names the script gives them. Exchange 2016 CU23, healthy.
fn fixture_files() -> Vec<(String, Vec<u8>)> {
    let mut f: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |p: &str, b: Vec<u8>| f.push((p.to_string(), b));
    add(
        "setup/ExchangeSetup.log",
        b"[03/11/2022 15:43:05.0713] [0] **********************************************\r\n\
[03/11/2022 15:43:05.0718] [0] Starting Microsoft Exchange Server 2016 Setup\r\n\
[03/11/2022 15:43:05.0719] [0] **********************************************\r\n\
[03/11/2022 15:43:05.0720] [0] Local time zone: (UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna.\r\n\
[03/11/2022 15:43:05.0721] [0] Setup version: 15.1.2507.6.\r\n\
[03/11/2022 15:43:05.0722] [0] Logged on user: CONTOSO\\Administrator.\r\n\
[03/11/2022 15:43:05.0741] [0] Command Line Parameter Name='mode', Value='Upgrade'.\r\n\
[03/11/2022 15:43:25.0159] [0] The installation mode is set to: 'BuildToBuildUpgrade'.\r\n\
[03/11/2022 16:31:24.0398] [0] The Exchange Server setup operation completed successfully.\r\n\
[03/11/2022 16:31:24.0400] [0] End of Setup\r\n\
[03/11/2022 16:31:24.0400] [0] **********************************************\r\n"
            .to_vec(),
    );
    add(
        "setup/ServiceControl.log",
        b"[15:44:20] * ServiceControl.ps1: 11.03.2022 15:44:20\r\n[15:44:30] Stopping service 'WinMgmt'.\r\n"
            .to_vec(),
    );
    add(
        "setup/UpdateCas.log",
        b"[16:20:01] ***********************************************\r\n[16:20:01] * UpdateCas.ps1: 11.03.2022 16:20:01\r\n"
            .to_vec(),
    );
    add(
        "setup/ExchangeSetup.msilog",
        b"=== Verbose logging started: 11.03.2022  15:50:12  Build type: SHIP UNICODE 5.00.10011.00 ===\r\nMSI (s) (A8:2C) [15:50:12:345]: Product: Microsoft Exchange Server -- Configuration completed successfully.\r\n"
            .to_vec(),
    );
    add(
        "setup/ServiceState.xml",
        utf8_bom(
            "<?xml version=\"1.0\"?>\r\n<Services><Service Name=\"MSExchangeIS\" StartMode=\"Auto\" /></Services>\r\n",
        ),
    );
    add(
        "registry/HKLM-SOFTWARE-Microsoft-ExchangeServer.reg",
        utf16le_bom(&format!(
            "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v15\\Setup]\r\n\"MsiInstallPath\"=\"{}\\\\\"\r\n\"MsiProductMajor\"=dword:0000000f\r\n\"MsiProductMinor\"=dword:00000001\r\n\"MsiBuildMajor\"=dword:000009cb\r\n\"MsiBuildMinor\"=dword:00000006\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v15\\MailboxRole]\r\n\"ConfiguredVersion\"=\"15.1.2507.6\"\r\n\"UnpackedVersion\"=\"15.1.2507.6\"\r\n\r\n",
            INSTALL.replace('\\', "\\\\")
        )),
    );
    add(
        "registry/HKLM-SYSTEM-CurrentControlSet-Services-MSExchangeIS.reg",
        utf16le_bom(
            "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeIS]\r\n\"Start\"=dword:00000002\r\n\"DisplayName\"=\"Microsoft Exchange Information Store\"\r\n\r\n",
        ),
    );
    add(
        "iis/applicationHost.config",
        utf8_bom(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<configuration>\r\n  <system.applicationHost>\r\n    <applicationPools>\r\n      <add name=\"MSExchangeOWAAppPool\" managedRuntimeVersion=\"v4.0\" autoStart=\"true\">\r\n        <processModel identityType=\"LocalSystem\" />\r\n      </add>\r\n    </applicationPools>\r\n  </system.applicationHost>\r\n</configuration>\r\n",
        ),
    );
    let web_config = |bin: &str| {
        utf8_bom(&format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n  <runtime>\r\n    <assemblyBinding xmlns=\"urn:schemas-microsoft-com:asm.v1\">\r\n      <dependentAssembly>\r\n        <assemblyIdentity name=\"Microsoft.Exchange.Diagnostics\" publicKeyToken=\"31bf3856ad364e35\" culture=\"neutral\" />\r\n        <codeBase version=\"15.0.0.0\" href=\"file:///{bin}Microsoft.Exchange.Diagnostics.dll\" />\r\n      </dependentAssembly>\r\n    </assemblyBinding>\r\n  </runtime>\r\n</configuration>\r\n"
        ))
    };
    add(
        "iis/webconfig/ClientAccess/Owa/web.config",
        web_config(&format!("{INSTALL}\\bin\\")),
    );
    add(
        "iis/webconfig/ClientAccess/Owa/web.config.bak",
        web_config("%ExchangeInstallDir%bin\\"),
    );
    add(
        "iis/webconfig/FrontEnd/HttpProxy/owa/web.config",
        web_config(&format!("{INSTALL}\\bin\\")),
    );
    add(
        "iis/webconfig/ClientAccess/SharedWebConfig.config",
        utf8_bom(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n  <appSettings />\r\n</configuration>\r\n",
        ),
    );
    add("evtx/Application.evtx", empty_evtx());
    add("evtx/MSExchange Management.evtx", empty_evtx());
    add(
        "evtx/Microsoft-Windows-Windows Defender%4Operational.evtx",
        empty_evtx(),
    );
    // wevtutil al output is binary; its content is not read by exhume.
    add(
        "evtx/LocaleMetaData/Application_1033.MTA",
        b"\x01\x00\x00\x00MTA\x00 message table".to_vec(),
    );
    add(
        "system/services.csv",
        csv(
            &[
                "Name",
                "DisplayName",
                "StartMode",
                "State",
                "StartName",
                "PathName",
            ],
            &[
                &[
                    "MSExchangeIS",
                    "Microsoft Exchange Information Store",
                    "Auto",
                    "Running",
                    "LocalSystem",
                    "\"C:\\Program Files\\Microsoft\\Exchange Server\\V15\\bin\\Microsoft.Exchange.Store.Service.exe\"",
                ],
                &[
                    "W3SVC",
                    "World Wide Web Publishing Service",
                    "Auto",
                    "Running",
                    "LocalSystem",
                    "C:\\Windows\\system32\\svchost.exe -k iissvcs",
                ],
            ],
        ),
    );
    add(
        "system/software.csv",
        csv(
            &["Name", "Version", "Publisher", "InstallDate", "Source"],
            &[
                &[
                    "Microsoft Exchange Server",
                    "15.1.2507.6",
                    "Microsoft Corporation",
                    "20220311",
                    "uninstall",
                ],
                &[
                    "Windows Defender Antivirus Service",
                    "",
                    "",
                    "",
                    "av-service:WinDefend (Running, Auto)",
                ],
                &["WdFilter", "", "", "", "fltmc-minifilter"],
            ],
        ),
    );
    add(
        "system/file-versions.csv",
        csv(
            &["Path", "FileVersion", "ProductVersion"],
            &[&[
                &format!("{INSTALL}\\Bin\\ExSetup.exe"),
                "15.01.2507.006",
                "15.01.2507.006",
            ]],
        ),
    );
    add(
        "system/inventory.csv",
        csv(
            &["RelativePath", "Length", "LastWriteTimeUtc"],
            &[
                &["Bin\\ExSetup.exe", "35128", "2022-03-11T15:20:01Z"],
                &[
                    "ClientAccess\\Owa\\auth\\exppw.dll",
                    "91512",
                    "2022-03-11T15:21:44Z",
                ],
            ],
        ),
    );
    let icacls = |dir: &str| {
        utf8_bom(&format!(
            "{dir} NT AUTHORITY\\SYSTEM:(OI)(CI)(F)\r\n{:w$} BUILTIN\\Administrators:(OI)(CI)(F)\r\n{:w$} NT AUTHORITY\\Authenticated Users:(OI)(CI)(RX)\r\n\r\nSuccessfully processed 1 files; Failed processing 0 files\r\n",
            "",
            "",
            w = dir.len()
        ))
    };
    add("system/acl/install-dir.txt", icacls(INSTALL));
    add(
        "system/acl/ClientAccess.txt",
        icacls(&format!("{INSTALL}\\ClientAccess")),
    );
    add(
        "system/acl/owa-auth.txt",
        icacls(&format!("{INSTALL}\\ClientAccess\\Owa\\auth")),
    );
    add(
        "system/host.json",
        serde_json::to_vec_pretty(&serde_json::json!({
            "computer_name": "EX01",
            "fqdn": "ex01.contoso.local",
            "domain": "contoso.local",
            "part_of_domain": true,
            "os": "Microsoft Windows Server 2016 Standard",
            "os_version": "10.0.14393",
            "pending_reboot": false,
            "pending_reboot_reasons": [],
            "dotnet_release": 528049,
            "utc_offset_minutes": 60,
            "time_zone_id": "W. Europe Standard Time",
            "powershell_version": "5.1.14393.5127",
            "exchange_version": "15.1.2507.6",
            "exchange_install_path": INSTALL,
        }))
        .unwrap(),
    );
    add(
        "collector.log",
        b"2022-03-14T09:00:00.000Z INFO  Collect-ExchangeEvidence.ps1 1.0.0 on EX01, PowerShell 5.1.14393.5127\r\n\
2022-03-14T09:00:00.100Z INFO  step 1/14: Find Exchange in the registry\r\n"
            .to_vec(),
    );
    f
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The manifest the script writes for `files` (same keys, same order).
fn fixture_manifest(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let entries: Vec<_> = files
        .iter()
        .map(|(path, bytes)| {
            serde_json::json!({
                "path": path,
                "source": format!("{INSTALL}\\{}", path.replace('/', "\\")),
                "size": bytes.len(),
                "sha256": hex(&Sha256::digest(bytes)),
                "method": "copy",
                "truncated": false,
            })
        })
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({
        "schema_version": "1.0",
        "collector": {"name": "Collect-ExchangeEvidence.ps1", "version": "1.0.0", "powershell": "5.1.14393.5127"},
        "host": {"computer_name": "EX01", "fqdn": "ex01.contoso.local", "domain": "contoso.local"},
        "collected_utc": "2022-03-14T09:00:00Z",
        "time_zone": {"utc_offset_minutes": 60, "id": "W. Europe Standard Time"},
        "exchange": {"install_path": format!("{INSTALL}\\"), "version": "15.1.2507.6"},
        "files": entries,
        "not_collected": [{"what": "file-system minifilters (fltmc filters)", "why": "fltmc exited with 1"}],
    }))
    .unwrap()
}

/// Writes the fixture bundle into `dir`; returns the number of files the manifest lists.
fn write_fixture(dir: &Path) -> usize {
    let files = fixture_files();
    for (path, bytes) in &files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
    }
    std::fs::write(dir.join("manifest.json"), fixture_manifest(&files)).unwrap();
    files.len()
}

/// What would make the fixture not "as the script writes it, fully understood": unknown files,
/// and anything but a complete custody check.
fn bundle_defects(a: &exhume::Analysis, listed: usize) -> Vec<String> {
    let d = &a.diagnosis;
    let mut out: Vec<String> = d
        .skipped
        .iter()
        .filter(|s| s.reason.starts_with("unknown file"))
        .map(|s| format!("skipped {}: {}", s.path, s.reason))
        .collect();
    if !d.bundle.has_manifest {
        out.push("no manifest read".into());
    }
    match &d.bundle.custody {
        None => out.push("no custody check".into()),
        Some(c) => {
            out.extend(c.missing.iter().map(|p| format!("missing: {p}")));
            out.extend(c.extra.iter().map(|p| format!("extra: {p}")));
            out.extend(c.altered.iter().map(|x| format!("altered: {}", x.path)));
            if c.verified != listed {
                out.push(format!("verified {} of {listed} files", c.verified));
            }
        }
    }
    out
}

/// Regex for the concrete paths a template stands for (`{…Dir}` spans folders).
fn template_regex(template: &str) -> Regex {
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

#[test]
fn fixture_is_laid_out_as_the_script_writes() {
    // Keeps the fixture honest: its names and CSV headers are the script's.
    let src = script_source();
    let templates = bundle_templates(&src).expect("the script's bundle paths are readable");
    let regexes: Vec<_> = templates.iter().map(|t| template_regex(&t.path)).collect();
    let headers = script_csv_headers(&src);
    let mut kinds = BTreeSet::new();
    for (path, bytes) in fixture_files() {
        assert!(
            regexes.iter().any(|r| r.is_match(&path)),
            "the fixture's {path} is not a path the script writes"
        );
        kinds.insert(layout_index(&path).expect("classified"));
        if path.ends_with(".csv") {
            let text = String::from_utf8(bytes).unwrap();
            let first = text.trim_start_matches('\u{feff}').lines().next().unwrap();
            let cols: Vec<String> = first
                .split(',')
                .map(|c| c.trim_matches('"').to_string())
                .collect();
            assert!(
                headers.contains(&cols),
                "{path}: header {cols:?} is not one the script writes ({headers:?})"
            );
        }
    }
    kinds.insert(layout_index("manifest.json").unwrap());
    assert_eq!(
        kinds.len(),
        LAYOUT.len(),
        "the fixture lacks a LAYOUT pattern"
    );
}

#[test]
fn fixture_bundle_is_fully_understood() {
    let dir = tempfile::tempdir().unwrap();
    let listed = write_fixture(dir.path());
    let a = exhume::analyze(dir.path(), &exhume::Options::default()).unwrap();
    let defects = bundle_defects(&a, listed);
    assert!(defects.is_empty(), "{defects:#?}");
    // The parsers that exist read what the script writes (the others, still being written,
    // may list their files as "no parser for this artefact in this build").
    let has = |f: &dyn Fn(&FactKind) -> bool| a.facts.iter().any(|x| f(&x.kind));
    assert!(a.facts.runs().next().is_some(), "no setup run read");
    assert!(has(
        &|k| matches!(k, FactKind::Service(s) if s.name == "MSExchangeIS" && s.start_mode == "Auto")
    ));
    assert!(has(
        &|k| matches!(k, FactKind::Software(s) if s.name == "Microsoft Exchange Server")
    ));
    assert!(has(
        &|k| matches!(k, FactKind::FileVersion(v) if v.version == "15.01.2507.006")
    ));
    assert!(has(
        &|k| matches!(k, FactKind::FileEntry(e) if e.path.ends_with("exppw.dll") && e.size == Some(91512))
    ));
    assert_eq!(a.diagnosis.clock.offset_minutes, 60);
}

#[test]
fn fixture_check_catches_unknown_and_altered_files() {
    let dir = tempfile::tempdir().unwrap();
    let listed = write_fixture(dir.path());
    std::fs::write(dir.path().join("notes.txt"), b"what the admin tried").unwrap();
    let services = dir.path().join("system/services.csv");
    let mut bytes = std::fs::read(&services).unwrap();
    bytes.extend_from_slice(b"\"Extra\",\"x\",\"Auto\",\"Running\",\"\",\"\"\r\n");
    std::fs::write(&services, bytes).unwrap();
    std::fs::remove_file(dir.path().join("system/acl/owa-auth.txt")).unwrap();
    let a = exhume::analyze(dir.path(), &exhume::Options::default()).unwrap();
    let defects = bundle_defects(&a, listed);
    let has = |s: &str| defects.iter().any(|d| d.contains(s));
    assert!(has("skipped notes.txt: unknown file"), "{defects:#?}");
    assert!(has("extra: notes.txt"), "{defects:#?}");
    assert!(has("altered: system/services.csv"), "{defects:#?}");
    assert!(has("missing: system/acl/owa-auth.txt"), "{defects:#?}");
    assert!(has("verified"), "{defects:#?}");
}

// ---------------------------------------------------------------------------------------------
// The zip writer (C#), compiled and run with mono where it is installed
// ---------------------------------------------------------------------------------------------

/// The C# source of the script's zip writer (the `$ZipWriterSource` here-string).
fn zip_writer_source(src: &str) -> String {
    let start = src
        .find("$ZipWriterSource = @'\n")
        .or_else(|| src.find("$ZipWriterSource = @'\r\n"))
        .expect("$ZipWriterSource here-string");
    let body = &src[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let end = body.find("\n'@").expect("end of the here-string");
    body[..end].to_string()
}

const DRIVER: &str = r#"
using System;
using System.IO;
public static class Driver
{
    // zip-path, then pairs of (source file, entry name); exit 3 on an exception.
    public static int Main(string[] args)
    {
        try
        {
            Exhume.Collector.ZipWriter zip = new Exhume.Collector.ZipWriter(args[0]);
            try
            {
                for (int i = 1; i + 1 < args.Length; i += 2)
                {
                    zip.AddFile(args[i], args[i + 1], File.GetLastWriteTime(args[i]));
                }
                zip.Finish();
            }
            finally { zip.Dispose(); }
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e.Message);
            return 3;
        }
    }
}
"#;

fn have(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Compiles the zip writer in C# 2 mode (what csc of .NET 2.0 accepts); `None` without mono.
fn build_zip_writer(work: &Path) -> Option<PathBuf> {
    if !have("mcs") || !have("mono") {
        eprintln!(
            "SKIPPED: mono is not installed (apt-get install mono-mcs mono-runtime); the C# zip writer was not compiled or run"
        );
        return None;
    }
    let cs = work.join("ZipWriter.cs");
    std::fs::write(&cs, zip_writer_source(&script_source())).unwrap();
    let driver = work.join("Driver.cs");
    std::fs::write(&driver, DRIVER).unwrap();
    let exe = work.join("zipwriter.exe");
    let out = std::process::Command::new("mcs")
        .arg("-langversion:ISO-2")
        .arg("-warnaserror+")
        .arg(format!("-out:{}", exe.display()))
        .arg(&cs)
        .arg(&driver)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the script's C# zip writer does not compile as C# 2:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(exe)
}

fn run_zip_writer(exe: &Path, zip: &Path, members: &[(PathBuf, String)]) -> std::process::Output {
    let mut cmd = std::process::Command::new("mono");
    cmd.arg(exe).arg(zip);
    for (src, name) in members {
        cmd.arg(src).arg(name);
    }
    cmd.output().unwrap()
}

#[test]
fn zip_writer_writes_zips_exhume_reads() {
    let work = tempfile::tempdir().unwrap();
    let Some(exe) = build_zip_writer(work.path()) else {
        return;
    };
    // The fixture, zipped in the script's order (manifest first), then analysed as a zip.
    let folder = work.path().join("bundle");
    let listed = write_fixture(&folder);
    let mut members = vec![(folder.join("manifest.json"), "manifest.json".to_string())];
    for (path, _) in fixture_files() {
        members.push((folder.join(&path), path));
    }
    // Plus the cases the writer must get right: incompressible (stored), empty, large.
    let extra = work.path().join("extra");
    std::fs::create_dir_all(&extra).unwrap();
    let mut noise = vec![0u8; 300_000];
    let mut x = 0x2545_F491_u32;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let big: Vec<u8> = (0..3_000_000u32)
        .flat_map(|i| format!("[03/11/2022 15:43:05.0713] [1] line {i}\r\n").into_bytes())
        .take(3_000_000)
        .collect();
    let cases: [(&str, &[u8]); 3] = [("noise.bin", &noise), ("empty.log", b""), ("big.log", &big)];
    let zip_only = work.path().join("cases.zip");
    let mut case_members = Vec::new();
    for (name, bytes) in cases {
        let p = extra.join(name);
        std::fs::write(&p, bytes).unwrap();
        case_members.push((p, format!("setup/{name}")));
    }

    let zip = work.path().join("EX01-20220314T090000Z-exhume.zip");
    let out = run_zip_writer(&exe, &zip, &members);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = exhume::analyze(&zip, &exhume::Options::default()).unwrap();
    assert_eq!(a.diagnosis.bundle.form, exhume::bundle::Form::Zip);
    let defects = bundle_defects(&a, listed);
    assert!(defects.is_empty(), "{defects:#?}");
    assert!(
        a.diagnosis
            .problems
            .iter()
            .all(|p| !p.message.contains("zip")),
        "{:#?}",
        a.diagnosis.problems
    );

    let out = run_zip_writer(&exe, &zip_only, &case_members);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_only).unwrap()).unwrap();
    let mut methods = BTreeMap::new();
    for i in 0..archive.len() {
        let mut m = archive.by_index(i).unwrap();
        let name = String::from_utf8_lossy(m.name_raw()).into_owned();
        assert!(!name.contains('\\'), "{name}");
        methods.insert(name.clone(), m.compression());
        let mut got = Vec::new();
        // Reading to the end checks the CRC-32 the writer computed.
        std::io::Read::read_to_end(&mut m, &mut got).unwrap();
        let want = cases
            .iter()
            .find(|(n, _)| format!("setup/{n}") == name)
            .unwrap()
            .1;
        assert!(got == want, "{name}: content differs after the round trip");
    }
    assert_eq!(methods.len(), 3);
    assert_eq!(methods["setup/noise.bin"], zip::CompressionMethod::Stored);
    assert_eq!(methods["setup/empty.log"], zip::CompressionMethod::Stored);
    assert_eq!(methods["setup/big.log"], zip::CompressionMethod::Deflated);
    assert!(std::fs::metadata(&zip_only).unwrap().len() < 1_500_000);
}

#[test]
fn zip_writer_refuses_backslash_names() {
    let work = tempfile::tempdir().unwrap();
    let Some(exe) = build_zip_writer(work.path()) else {
        return;
    };
    let f = work.path().join("a.log");
    std::fs::write(&f, b"x").unwrap();
    let out = run_zip_writer(
        &exe,
        &work.path().join("bad.zip"),
        &[(f, "setup\\a.log".into())],
    );
    assert_eq!(out.status.code(), Some(3), "a '\\' entry name was accepted");
    assert!(String::from_utf8_lossy(&out.stderr).contains("use '/'"));
}
