//! The collector script as a tree-sitter-powershell syntax tree, and the queries the checks share.

use std::path::Path;
use tree_sitter::{Node, Parser, Tree};

pub const SCRIPT: &str = "collectors/Collect-ExchangeEvidence.ps1";

pub fn script_source() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCRIPT);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn parse(src: &str) -> Tree {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_powershell::LANGUAGE.into())
        .expect("the PowerShell grammar loads");
    parser.parse(src, None).expect("tree-sitter returns a tree")
}

pub fn children<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    (0..node.child_count() as u32)
        .filter_map(|i| node.child(i))
        .collect()
}

/// Every node of the tree, in document order.
pub fn all_nodes(tree: &Tree) -> Vec<Node<'_>> {
    all_nodes_under(tree.root_node())
}

/// `node` and every node below it, in document order.
pub fn all_nodes_under(node: Node<'_>) -> Vec<Node<'_>> {
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

pub fn text<'s>(node: Node<'_>, src: &'s str) -> &'s str {
    node.utf8_text(src.as_bytes()).unwrap_or("")
}

/// `row:col` (1-based), as an editor shows it.
pub fn at(node: Node<'_>) -> String {
    let p = node.start_position();
    format!("{}:{}", p.row + 1, p.column + 1)
}

/// Every ERROR and MISSING node, with its position and a short excerpt.
pub fn syntax_errors(src: &str) -> Vec<String> {
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

/// The elements of a command after its name: parameters and arguments, separators dropped.
pub fn command_elements<'t>(cmd: Node<'t>) -> Vec<Node<'t>> {
    cmd.child_by_field_name("command_elements")
        .map(|e| {
            children(e)
                .into_iter()
                .filter(|c| c.kind() != "command_argument_sep")
                .collect()
        })
        .unwrap_or_default()
}

pub fn command_name(cmd: Node<'_>, src: &str) -> String {
    cmd.child_by_field_name("command_name")
        .map(|n| text(n, src).to_ascii_lowercase())
        .unwrap_or_default()
}

/// The innermost function a node is defined in.
pub fn enclosing_function(node: Node<'_>, src: &str) -> Option<String> {
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
pub fn verbatim_literal(node: Node<'_>, src: &str) -> Option<String> {
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
