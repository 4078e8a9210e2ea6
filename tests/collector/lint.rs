//! Lints on the script's syntax tree: Windows PowerShell 2.0 compatibility, and that it only
//! reads (allowed cmdlets, no writing verb given to a native tool).

use super::ps::*;
use regex::Regex;
use std::collections::BTreeSet;
use tree_sitter::Node;

/// Type literals that do not exist on PowerShell 2.0 / .NET 2.0-3.5 (compared without `System.`).
pub const BANNED_TYPES: &[(&str, &str)] = &[
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
pub const BANNED_COMMANDS: &[(&str, &str)] = &[
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
pub const BANNED_OPERATORS: &[&str] = &[
    "-in", "-notin", "-iin", "-inotin", "-cin", "-cnotin", "-shl", "-shr",
];

/// Automatic variables that PowerShell 2.0 does not set in a script.
pub const BANNED_VARIABLES: &[&str] = &["$pscommandpath", "$psscriptroot"];

/// What makes an `if` a feature test: a version check, or a probe for the command or type.
pub fn is_feature_guard(condition: &str) -> bool {
    let c = condition.to_ascii_lowercase();
    Regex::new(r"\$psversiontable\.psversion\.major\s*-(ge|gt)\s*\d")
        .unwrap()
        .is_match(&c)
        || c.contains("get-command")
        || c.contains("-as [type]")
}

/// True when `node` sits in the `then` block of an `if` whose condition is a feature test.
pub fn guarded(node: Node<'_>, src: &str) -> bool {
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

/// Every construct newer than PowerShell 2.0 found outside a feature-test guard.
pub fn ps2_violations(src: &str) -> Vec<String> {
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

/// The cmdlets the collector may call: each exists in Windows PowerShell 2.0 and only reads,
/// except `New-Item`/`Remove-Item`, used on the output and staging folders it creates.
/// `Get-ExchangeServer` comes from the optional Exchange snap-in.
pub const ALLOWED_CMDLETS: &[&str] = &[
    "add-pssnapin",
    "add-type",
    "foreach-object",
    "get-acl",
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
    "set-strictmode",
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
pub const WRITING_TOOL_WORDS: &[&str] = &[
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
pub fn write_risks(src: &str) -> Vec<String> {
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
