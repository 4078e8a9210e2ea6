//! `--format json`: the diagnosis as documented in `docs/report-schema.md`.

use crate::diagnosis::Diagnosis;

pub fn render(d: &Diagnosis) -> String {
    // Serialising plain data cannot fail; keep a valid document even if it somehow did.
    let mut s = serde_json::to_string_pretty(d)
        .unwrap_or_else(|e| format!("{{\"error\":\"{}\"}}", e.to_string().replace('"', "'")));
    s.push('\n');
    s
}
