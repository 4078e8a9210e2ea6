//! Reports: one module per format, each rendering a [`Diagnosis`] and nothing else.

pub mod html;
pub mod json;
pub mod md;
pub mod redact;
#[cfg(test)]
mod testing;
pub mod text;
mod view;

use crate::diagnosis::Diagnosis;

/// Output formats of `exhume analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Md,
    Html,
}

/// Rendering options.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// ANSI colour (only on a terminal, never with `NO_COLOR`).
    pub color: bool,
    /// Text: every evidence line, not only the best three per finding.
    pub verbose: bool,
}

pub fn render(d: &Diagnosis, format: Format, style: Style) -> String {
    match format {
        Format::Text => text::render(d, style),
        Format::Json => json::render(d),
        Format::Md => md::render(d),
        Format::Html => html::render(d),
    }
}

pub mod timeline;

/// `exhume rules`: one block per rule.
pub fn catalogue(rules: &[&crate::rules::RuleMeta]) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "{} rules\n", rules.len());
    for r in rules {
        let _ = writeln!(o, "{}  [{:?}, {:?}]  {}", r.id, r.kind, r.severity, r.title);
        let _ = writeln!(o, "    looks for: {}", r.looks_for);
        if !r.references.is_empty() {
            let refs: Vec<String> = r
                .references
                .iter()
                .map(|x| match view::reference_url(x) {
                    Some(u) => format!("{x} <{u}>"),
                    None => x.clone(),
                })
                .collect();
            let _ = writeln!(o, "    reference: {}", refs.join("; "));
        }
    }
    o
}
