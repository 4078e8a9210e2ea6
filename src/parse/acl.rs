//! `system/acl/*.txt`: `icacls` output for the install dir, `ClientAccess` and `owa\auth`.
//!
//! Shape (UTF-16LE when redirected by PowerShell 5.1, UTF-8/ANSI from `cmd`):
//! ```text
//! D:\…\ClientAccess\Owa\auth NT AUTHORITY\Authenticated Users:(R)
//!                            BUILTIN\Administrators:(I)(OI)(CI)(F)
//!
//! Successfully processed 1 files; Failed processing 0 files
//! ```
//! The first line of a block is the target path, a space and the first entry; the following
//! entries are indented to the column where that first entry starts, which is how the path (which
//! may hold spaces) is told from the principal (which may too). A block with one entry has no such
//! column: well-known principal prefixes and the backslash count decide. Each entry becomes one
//! `AclEntry` fact with its line.

use super::text::LineReader;
use super::{Error, Input, Sink};
use crate::facts::{AclEntry, Evidence, Fact, FactKind, Locator};

/// Principals as icacls prints them, used when no indentation tells where the path ends:
/// English, and the authority and well-known names of localised Windows (German, French,
/// Spanish, Portuguese, Italian, Dutch, Swedish, Polish, Russian). An unresolved SID is printed
/// as `S-1-…`.
const KNOWN_PRINCIPALS: &[&str] = &[
    "NT AUTHORITY\\",
    "BUILTIN\\",
    "NT SERVICE\\",
    "IIS APPPOOL\\",
    "APPLICATION PACKAGE AUTHORITY\\",
    "CREATOR OWNER",
    "CREATOR GROUP",
    "Everyone",
    "S-1-",
    "NT-AUTORITÄT\\",
    "VORDEFINIERT\\",
    "ERSTELLER-BESITZER",
    "Jeder",
    "AUTORITE NT\\",
    "AUTORITÉ NT\\",
    "CREATEUR PROPRIETAIRE",
    "Tout le monde",
    "AUTORIDAD NT\\",
    "AUTORIDADE NT\\",
    "Todos",
    "NT-INSTANS\\",
    "NT INSTANS\\",
    "ZARZĄDZANIE NT\\",
    "Wszyscy",
    "Iedereen",
    "Alla",
    "Все",
];

pub fn parse(input: &Input<'_>, sink: &mut Sink) -> Result<(), Error> {
    let path = input.path().to_string();
    let max_line = input.limits.max_line_bytes;
    input
        .bundle
        .with_reader(input.entry, |r| parse_reader(r, &path, max_line, sink))
        .map_err(Error::from_io)?
}

/// A block's first line, kept until the next line shows the indentation.
struct First {
    line: u64,
    text: String,
}

struct State<'p> {
    path: &'p str,
    target: Option<String>,
    first: Option<First>,
    entries: u64,
    summaries: u64,
    /// (count, first line) of lines that are neither entries nor summaries.
    unknown: (u64, u64),
    /// icacls' own per-file errors (`path: The system cannot find …`).
    errors: Vec<(u64, String)>,
}

/// Parses icacls output from any reader; `path` is the bundle path used in locators.
pub fn parse_reader(
    reader: &mut dyn std::io::Read,
    path: &str,
    max_line: usize,
    sink: &mut Sink,
) -> Result<(), Error> {
    let mut lines = LineReader::new(reader, max_line).map_err(Error::from_io)?;
    let mut st = State {
        path,
        target: None,
        first: None,
        entries: 0,
        summaries: 0,
        unknown: (0, 0),
        errors: Vec::new(),
    };
    while let Some((n, line)) = lines.next_line().map_err(Error::from_io)? {
        st.on_line(n, line, sink);
    }
    st.resolve_alone(sink);
    lines.report(path, sink);
    for (n, e) in st.errors.iter().take(20) {
        sink.problem(path, format!("icacls reported at line {n}: {e}"));
    }
    if st.unknown.0 > 0 {
        sink.problem(
            path,
            format!(
                "{} line(s) are not icacls entries (first at line {})",
                st.unknown.0, st.unknown.1
            ),
        );
    }
    if st.entries > 0 && st.summaries == 0 {
        // icacls (and the collector's SID listing) always end with the summary line: without it
        // the listing was cut short, and the missing entries may be the ones that matter.
        sink.absorbed(
            "no closing `Successfully processed … files` line: the listing may be cut short",
        );
    }
    if st.entries == 0 && st.summaries == 0 {
        return Err(Error::format(
            "icacls output",
            "no `path principal:(rights)` line and no `Successfully processed` line",
        ));
    }
    Ok(())
}

impl State<'_> {
    fn on_line(&mut self, n: u64, line: &str, sink: &mut Sink) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            self.resolve_alone(sink);
            self.target = None;
            return;
        }
        if is_summary(line) {
            self.resolve_alone(sink);
            self.target = None;
            self.summaries += 1;
            return;
        }
        let indented = line.starts_with([' ', '\t']);
        if indented {
            let indent = line.chars().take_while(|c| *c == ' ' || *c == '\t').count();
            if let Some(first) = self.first.take() {
                self.resolve_with_indent(first, indent, sink);
            }
            match &self.target {
                Some(t) => {
                    let t = t.clone();
                    if !self.entry(n, &t, trimmed, trimmed, sink) {
                        self.unknown(n);
                    }
                }
                None => self.unknown(n),
            }
            return;
        }
        self.resolve_alone(sink);
        if line.contains(":(") {
            self.first = Some(First {
                line: n,
                text: line.trim_end().to_string(),
            });
        } else if line.contains(": ") && (line.starts_with("\\\\") || line.get(1..3) == Some(":\\"))
        {
            self.errors.push((n, crate::facts::clip(trimmed, 200)));
        } else {
            self.unknown(n);
        }
    }

    fn unknown(&mut self, n: u64) {
        if self.unknown.0 == 0 {
            self.unknown.1 = n;
        }
        self.unknown.0 += 1;
    }

    /// Splits the first line at the column the next (indented) line starts at.
    fn resolve_with_indent(&mut self, first: First, indent: usize, sink: &mut Sink) {
        let chars: Vec<char> = first.text.chars().collect();
        let fits = indent > 1 && indent < chars.len() && chars[indent - 1] == ' ';
        if !fits {
            return self.resolve_first(first, sink);
        }
        let target: String = chars[..indent]
            .iter()
            .collect::<String>()
            .trim_end()
            .to_string();
        let rest: String = chars[indent..].iter().collect();
        self.target = Some(target.clone());
        if !self.entry(first.line, &target, &rest, &first.text, sink) {
            self.unknown(first.line);
        }
    }

    /// A first line with no indented line after it.
    fn resolve_alone(&mut self, sink: &mut Sink) {
        if let Some(first) = self.first.take() {
            self.resolve_first(first, sink);
        }
    }

    fn resolve_first(&mut self, first: First, sink: &mut Sink) {
        let Some(colon) = first.text.find(":(") else {
            return self.unknown(first.line);
        };
        let head = &first.text[..colon];
        let Some(split) = split_target(head) else {
            return self.unknown(first.line);
        };
        let target = head[..split].trim_end().to_string();
        let rest = first.text[split + 1..].to_string();
        self.target = Some(target.clone());
        if !self.entry(first.line, &target, &rest, &first.text, sink) {
            self.unknown(first.line);
        }
    }

    /// `PRINCIPAL:(rights)` → one fact.
    fn entry(&mut self, n: u64, target: &str, text: &str, shown: &str, sink: &mut Sink) -> bool {
        let text = text.trim();
        let Some(colon) = text.find(":(") else {
            return false;
        };
        let principal = text[..colon].trim();
        let rights = text[colon + 1..].trim();
        if principal.is_empty() || rights.is_empty() {
            return false;
        }
        self.entries += 1;
        sink.push(Fact {
            time: None,
            evidence: Evidence::new(Locator::line(self.path, n), shown.trim()),
            kind: FactKind::AclEntry(AclEntry {
                target: target.to_string(),
                principal: principal.to_string(),
                rights: rights.to_string(),
            }),
        });
        true
    }
}

/// icacls' closing line, in any language: `Successfully processed 1 files; Failed processing 0
/// files`, `1 Dateien erfolgreich verarbeitet, bei 0 Dateien ist ein Verarbeitungsfehler
/// aufgetreten.`, `1 fichiers correctement traités ; échec du traitement de 0 fichiers`, `Se
/// procesaron correctamente 1 archivos; error al procesar 0 archivos`. What they share: not
/// indented, no `:(` entry, no path, and exactly two numbers (processed, failed).
fn is_summary(line: &str) -> bool {
    let t = line.trim();
    if t.starts_with("Successfully processed") {
        return true;
    }
    if line.starts_with([' ', '\t'])
        || t.contains(":(")
        || t.contains('\\')
        || t.get(1..3) == Some(":\\")
    {
        return false;
    }
    let numbers = t
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .count();
    numbers == 2 && t.chars().filter(|c| c.is_alphabetic()).count() >= 8
}

/// The byte index of the space between the path and the principal in `path principal`.
fn split_target(head: &str) -> Option<usize> {
    let spaces: Vec<usize> = head.match_indices(' ').map(|(i, _)| i).collect();
    let rest = |i: usize| &head[i + 1..];
    spaces
        .iter()
        .copied()
        .find(|&i| {
            KNOWN_PRINCIPALS
                .iter()
                // `get`: a byte count into non-ASCII text need not fall on a char boundary.
                .any(|p| {
                    rest(i)
                        .get(..p.len())
                        .is_some_and(|r| r.eq_ignore_ascii_case(p))
                })
        })
        .or_else(|| {
            // DOMAIN\user or a bare name: at most one backslash, and not a drive path.
            spaces.iter().copied().find(|&i| {
                let r = rest(i);
                r.matches('\\').count() <= 1 && r.get(1..3) != Some(":\\") && !r.is_empty()
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::text::utf16le_with_bom;

    /// icacls of owa\auth on the seed server: Authenticated Users with Read only.
    const SEED_OWA_AUTH: &str = concat!(
        "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Owa\\auth NT AUTHORITY\\Authenticated Users:(R)\r\n",
        "                                                                     NT AUTHORITY\\SYSTEM:(I)(OI)(CI)(F)\r\n",
        "                                                                     BUILTIN\\Administrators:(I)(OI)(CI)(F)\r\n",
        "                                                                     CONTOSO\\Exchange Servers:(I)(OI)(CI)(RX)\r\n",
        "\r\n",
        "Successfully processed 1 files; Failed processing 0 files\r\n",
    );

    fn run(bytes: &[u8]) -> (Result<(), Error>, Sink) {
        let mut sink = Sink::default();
        let mut r: &[u8] = bytes;
        let res = parse_reader(&mut r, "system/acl/owa-auth.txt", 1 << 20, &mut sink);
        (res, sink)
    }

    fn entries(sink: &Sink) -> Vec<(u64, AclEntry)> {
        sink.facts
            .iter()
            .filter_map(|f| match (&f.kind, &f.evidence.locator.at) {
                (FactKind::AclEntry(a), crate::facts::Position::Line(n)) => Some((*n, a.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn seed_owa_auth_utf16() {
        let (res, sink) = run(&utf16le_with_bom(SEED_OWA_AUTH));
        res.unwrap();
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        let e = entries(&sink);
        assert_eq!(e.len(), 4);
        let target = "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Owa\\auth";
        assert!(e.iter().all(|(_, a)| a.target == target));
        assert_eq!(e[0].0, 1);
        assert_eq!(e[0].1.principal, "NT AUTHORITY\\Authenticated Users");
        assert_eq!(e[0].1.rights, "(R)");
        assert_eq!(e[3].0, 4);
        assert_eq!(e[3].1.principal, "CONTOSO\\Exchange Servers");
        assert_eq!(e[3].1.rights, "(I)(OI)(CI)(RX)");
    }

    #[test]
    fn a_path_with_spaces_in_its_last_folder_uses_the_indentation() {
        // `CONTOSO\Users` is no well-known principal, and `Access CONTOSO\Users` would pass
        // for one: only the indentation of the next line tells.
        let target = "C:\\Exchange\\Client Access";
        let pad = " ".repeat(target.len() + 1);
        let text = format!(
            "{target} CONTOSO\\Users:(OI)(CI)(RX)\n{pad}Everyone:(R)\n\nSuccessfully processed 1 files; Failed processing 0 files\n"
        );
        let (res, sink) = run(text.as_bytes());
        res.unwrap();
        let e = entries(&sink);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].1.target, "C:\\Exchange\\Client Access");
        assert_eq!(e[1].1.principal, "Everyone");
    }

    #[test]
    fn single_entry_blocks_and_recursive_output() {
        let text = concat!(
            "D:\\V14\\ClientAccess NT AUTHORITY\\Authenticated Users:(OI)(CI)(RX)\n",
            "D:\\V14\\ClientAccess\\Owa CREATOR OWNER:(OI)(CI)(IO)(F)\n",
            "                         CONTOSO\\admin:(F)\n",
            "D:\\missing: The system cannot find the file specified.\n",
            "Successfully processed 2 files; Failed processing 1 files\n",
        );
        let (res, sink) = run(text.as_bytes());
        res.unwrap();
        let e = entries(&sink);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].1.target, "D:\\V14\\ClientAccess");
        assert_eq!(e[0].1.principal, "NT AUTHORITY\\Authenticated Users");
        assert_eq!(e[1].1.target, "D:\\V14\\ClientAccess\\Owa");
        assert_eq!(e[1].1.principal, "CREATOR OWNER");
        assert_eq!(e[2].1.principal, "CONTOSO\\admin");
        assert!(sink.problems.iter().any(|p| p.message.contains("line 4")));
    }

    /// `icacls <owa\auth>` on German, French and Spanish Windows: translated authorities,
    /// group names and closing line.
    fn localised(lang: &str) -> String {
        let target = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\ClientAccess\\Owa\\auth";
        let (entries, summary): (&[&str], &str) = match lang {
            "de" => (
                &[
                    "NT-AUTORITÄT\\Authentifizierte Benutzer:(OI)(CI)(RX)",
                    "NT-AUTORITÄT\\SYSTEM:(I)(OI)(CI)(F)",
                    "VORDEFINIERT\\Administratoren:(I)(OI)(CI)(F)",
                    "VORDEFINIERT\\Benutzer:(I)(OI)(CI)(RX)",
                    "ERSTELLER-BESITZER:(I)(OI)(CI)(IO)(F)",
                ],
                "1 Dateien erfolgreich verarbeitet, bei 0 Dateien ist ein Verarbeitungsfehler aufgetreten.",
            ),
            "fr" => (
                &[
                    "AUTORITE NT\\Utilisateurs authentifiés:(OI)(CI)(RX)",
                    "AUTORITE NT\\Système:(I)(OI)(CI)(F)",
                    "BUILTIN\\Administrateurs:(I)(OI)(CI)(F)",
                    "BUILTIN\\Utilisateurs:(I)(OI)(CI)(RX)",
                    "CREATEUR PROPRIETAIRE:(I)(OI)(CI)(IO)(F)",
                ],
                "1 fichiers correctement traités ; échec du traitement de 0 fichiers",
            ),
            _ => (
                &[
                    "NT AUTHORITY\\Usuarios autentificados:(OI)(CI)(RX)",
                    "NT AUTHORITY\\SYSTEM:(I)(OI)(CI)(F)",
                    "BUILTIN\\Administradores:(I)(OI)(CI)(F)",
                    "BUILTIN\\Usuarios:(I)(OI)(CI)(RX)",
                    "CREATOR OWNER:(I)(OI)(CI)(IO)(F)",
                ],
                "Se procesaron correctamente 1 archivos; error al procesar 0 archivos",
            ),
        };
        let pad = " ".repeat(target.chars().count() + 1);
        let mut out = format!("{target} {}\r\n", entries[0]);
        for e in &entries[1..] {
            out.push_str(&format!("{pad}{e}\r\n"));
        }
        out.push_str(&format!("\r\n{summary}\r\n\r\n"));
        out
    }

    #[test]
    fn german_french_and_spanish_output() {
        for (lang, first) in [
            ("de", "NT-AUTORITÄT\\Authentifizierte Benutzer"),
            ("fr", "AUTORITE NT\\Utilisateurs authentifiés"),
            ("es", "NT AUTHORITY\\Usuarios autentificados"),
        ] {
            let text = localised(lang);
            for bytes in [utf16le_with_bom(&text), text.clone().into_bytes()] {
                let (res, sink) = run(&bytes);
                res.unwrap();
                assert!(sink.problems.is_empty(), "{lang}: {:?}", sink.problems);
                let e = entries(&sink);
                assert_eq!(e.len(), 5, "{lang}");
                assert!(
                    e.iter().all(|(_, a)| a.target.ends_with("Owa\\auth")),
                    "{lang}"
                );
                assert_eq!(e[0].1.principal, first);
                assert_eq!(e[4].1.rights, "(I)(OI)(CI)(IO)(F)");
            }
            // One entry alone, where only the principal's prefix tells the path from it.
            let alone: String = text
                .lines()
                .take(1)
                .chain(text.lines().skip(5))
                .map(|l| format!("{l}\n"))
                .collect();
            let (res, sink) = run(alone.as_bytes());
            res.unwrap();
            assert!(sink.problems.is_empty(), "{lang}: {:?}", sink.problems);
            assert_eq!(entries(&sink)[0].1.principal, first);
        }
        // A line with two numbers that is no summary (a path, an entry) is not taken for one.
        assert!(!is_summary(
            "C:\\V15\\2019 CU1: The system cannot find the file specified."
        ));
        assert!(!is_summary("   1 2 indented text here"));
        assert!(!is_summary("garbage 12 34"));
    }

    #[test]
    fn hostile_inputs() {
        let (res, sink) = run(b"\x00\x01\x02\xff garbage with no entries\n");
        assert!(res.is_err());
        assert!(sink.facts.is_empty());
        let (res, _) = run(b"");
        assert!(res.is_err());
        // Truncated in the middle of a block: the complete lines are kept.
        let cut = &SEED_OWA_AUTH[..SEED_OWA_AUTH.find("BUILTIN").unwrap() + 9];
        let (res, sink) = run(cut.as_bytes());
        res.unwrap();
        assert_eq!(entries(&sink).len(), 2);
        // A 10 MB single line is cut at --max-line, reported, and the file goes on.
        let mut big = "x".repeat(10 << 20);
        big.push('\n');
        big.push_str(SEED_OWA_AUTH);
        let (res, sink) = run(big.as_bytes());
        res.unwrap();
        assert_eq!(entries(&sink).len(), 4);
        assert!(sink.problems.iter().any(|p| p.message.contains("cut")));
    }
}
