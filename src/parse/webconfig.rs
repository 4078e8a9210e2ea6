//! `web.config` (and `web.config.bak`, `SharedWebConfig.config`) under `iis/webconfig/`, the path
//! after that prefix being the path under the Exchange install dir.
//!
//! What matters in these files for a failed setup: Exchange ships them with
//! `file:///%ExchangeInstallDir%bin\….dll` in `codeBase href` and setup replaces the token with
//! `MsiInstallPath`; a run that stops early leaves the tokens, and .NET then cannot load a single
//! Exchange assembly. So every `%NAME%` environment token in a path-like attribute value becomes an
//! `UnexpandedToken` fact with its line, and each file one `WebConfigFile` fact with the count, the
//! native modules it adds, and how it compares with a `web.config.bak` beside it.
//!
//! The XML is read with [`super::xml::walk`] (no entity expansion, depth and token caps).

use super::xml::{self, Node};
use super::{Error, Input, Sink};
use crate::facts::{Evidence, Fact, FactKind, Locator, UnexpandedToken, WebConfigFile};
use std::collections::BTreeMap;

/// The bundle folder holding the copies, path under the install dir kept after it.
pub const PREFIX: &str = "iis/webconfig/";

/// What the collector writes in place of a secret it removed while copying (`copy-redacted`):
/// `<machineKey validationKey="REMOVED-BY-COLLECTOR" …>`, `…;Password=REMOVED-BY-COLLECTOR;…`.
pub const REDACTED: &str = "REMOVED-BY-COLLECTOR";
/// Secrets located per file (their places, never their values).
const MAX_SECRETS: usize = 100;

/// More token facts than this per file are counted, not kept (a real file has a few hundred).
const MAX_TOKEN_FACTS: usize = 10_000;

/// One element as compared with the backup: depth, name, attributes.
pub type Sig = (usize, String, Vec<(String, String)>);

/// What is known of the file's backup when the file is parsed.
pub enum Backup {
    /// The file is itself a `.bak`.
    IsBackup,
    /// No `.bak` beside it.
    Absent,
    /// A `.bak` is beside it: its elements, or why they could not be read.
    Sibling(Result<Vec<Sig>, String>),
}

pub fn parse(input: &Input<'_>, sink: &mut Sink) -> Result<(), Error> {
    let path = input.path().to_string();
    let max_depth = input.limits.max_xml_depth;
    // A twin's display path (`… (copy 2)`) is the file it shares a name with.
    let base = crate::bundle::base_path(&path);
    let is_backup = base.to_ascii_lowercase().ends_with(".bak");
    let backup = if is_backup {
        Backup::IsBackup
    } else {
        let want = format!("{}.bak", base.to_ascii_lowercase());
        match input
            .bundle
            .entries
            .iter()
            .find(|e| e.path.to_ascii_lowercase() == want)
        {
            None => Backup::Absent,
            Some(e) => Backup::Sibling(
                match input.bundle.with_reader(e, |r| {
                    signature(r, max_depth, input.limits.max_compare_bytes)
                }) {
                    Ok(Ok(sig)) => Ok(sig),
                    Ok(Err(why)) => Err(format!("{}: {why}", e.path)),
                    Err(io) => Err(format!("{}: {io}", e.path)),
                },
            ),
        }
    };
    input
        .bundle
        .with_reader(input.entry, |r| {
            parse_reader(r, &path, max_depth, backup, sink)
        })
        .map_err(Error::from_io)?
}

/// The path under the install dir: `iis/webconfig/ClientAccess/Owa/web.config` →
/// `ClientAccess/Owa/web.config`.
pub fn relative_path(path: &str) -> &str {
    match path.get(..PREFIX.len()) {
        Some(p) if p.eq_ignore_ascii_case(PREFIX) => &path[PREFIX.len()..],
        _ => path,
    }
}

/// Parses one config file from any reader; `path` is the bundle path used in locators.
pub fn parse_reader(
    reader: &mut dyn std::io::Read,
    path: &str,
    max_depth: usize,
    backup: Backup,
    sink: &mut Sink,
) -> Result<(), Error> {
    // The live file's elements are held only as long as they could still match the backup's:
    // no more of them, and not much larger (a token expands to a path of a few dozen bytes).
    let (want_sig, max_sig_bytes, max_sig_len) = match &backup {
        Backup::Sibling(Ok(bak)) => (
            true,
            2 * bak.iter().map(sig_size).sum::<usize>() + (1 << 20),
            bak.len(),
        ),
        _ => (false, 0, 0),
    };
    let mut sig: Vec<Sig> = Vec::new();
    let mut sig_bytes = 0usize;
    let mut sig_overflow = false;
    let mut tokens: BTreeMap<String, usize> = BTreeMap::new();
    let mut token_count = 0usize;
    let mut modules: Vec<String> = Vec::new();
    let mut secrets: Vec<String> = Vec::new();
    let mut facts: Vec<Fact> = Vec::new();
    let summary = xml::walk(reader, max_depth, &mut |node| {
        let Node::Open(e) = node else {
            return;
        };
        for (attr, value) in e.attrs {
            if secrets.len() < MAX_SECRETS && secret_in(e.name, attr, value) {
                secrets.push(format!("line {}: <{}> {attr}", e.line, e.name));
            }
        }
        if want_sig && !sig_overflow {
            let one = (e.ancestors.len(), e.name.to_string(), e.attrs.to_vec());
            sig_bytes += sig_size(&one);
            if sig.len() >= max_sig_len || sig_bytes > max_sig_bytes {
                // Cannot match the backup any more: drop what was held.
                sig_overflow = true;
                sig = Vec::new();
            } else {
                sig.push(one);
            }
        }
        if e.name == "add"
            && e.under(&["system.webServer", "modules"])
            && let Some(n) = e.attr("name")
        {
            modules.push(n.to_string());
        }
        for (attr, value) in e.attrs {
            let found = find_tokens(value);
            if found.is_empty() || !path_like(value, &found) {
                continue;
            }
            for (a, b) in found {
                let token = &value[a..b];
                token_count += 1;
                *tokens.entry(token.to_ascii_lowercase()).or_default() += 1;
                if facts.len() < MAX_TOKEN_FACTS {
                    facts.push(Fact {
                        time: None,
                        evidence: Evidence::new(Locator::line(path, e.line), tag(e)),
                        kind: FactKind::UnexpandedToken(UnexpandedToken {
                            token: token.to_string(),
                            attribute: attr.clone(),
                            value: scrub(e.name, attr, value),
                        }),
                    });
                }
            }
        }
    })
    .map_err(Error::from_io)?;

    for p in &summary.problems {
        sink.problem(path, p.clone());
    }
    summary.absorb_into(sink);
    if summary.elements == 0 {
        return Err(Error::format(
            "an XML configuration file",
            summary
                .problems
                .first()
                .cloned()
                .unwrap_or_else(|| "no element found".into()),
        ));
    }
    if token_count > MAX_TOKEN_FACTS {
        sink.problem(
            path,
            format!(
                "{token_count} unexpanded tokens: the first {MAX_TOKEN_FACTS} are kept as facts, all are counted"
            ),
        );
        // The elements past the cap are not cited one by one: a limit was hit.
        sink.absorbed(format!("more than {MAX_TOKEN_FACTS} unexpanded tokens"));
    }
    sink.extend(facts);

    let is_backup = matches!(backup, Backup::IsBackup);
    let has_backup = matches!(backup, Backup::Sibling(_));
    let differs_only_in_paths = match backup {
        // A damaged live file cannot be said to differ "only" in paths.
        Backup::Sibling(Ok(bak)) if summary.complete && !sig_overflow => {
            only_paths_differ(&sig, &bak)
        }
        Backup::Sibling(Err(why)) => {
            let why = format!("not compared with its backup: {why}");
            sink.problem(path, why.clone());
            sink.absorbed(why);
            false
        }
        _ => false,
    };

    let relative = relative_path(path).to_string();
    let mut excerpt = format!("{relative}: {token_count} unexpanded token(s)");
    if !tokens.is_empty() {
        let list: Vec<String> = tokens.iter().map(|(t, n)| format!("{t} ×{n}")).collect();
        excerpt.push_str(&format!(" ({})", list.join(", ")));
    }
    if is_backup {
        excerpt.push_str("; this is a backup copy");
    } else if has_backup {
        excerpt.push_str("; a web.config.bak is beside it");
        if differs_only_in_paths {
            excerpt.push_str(" and differs from it only in install paths vs tokens");
        }
    }
    if !modules.is_empty() {
        excerpt.push_str(&format!("; modules added: {}", modules.join(", ")));
    }
    if !secrets.is_empty() {
        excerpt.push_str(&format!("; secrets in clear: {}", secrets.join(", ")));
    }
    sink.push(Fact {
        time: None,
        evidence: Evidence::new(Locator::file(path), excerpt),
        kind: FactKind::WebConfigFile(WebConfigFile {
            relative,
            token_count,
            has_backup,
            differs_from_backup_only_in_paths: differs_only_in_paths,
            is_backup,
            modules,
            secrets,
        }),
    });
    Ok(())
}

/// Roughly the memory one element takes once held for comparison.
fn sig_size(s: &Sig) -> usize {
    std::mem::size_of::<Sig>()
        + s.1.len()
        + s.2
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2 * std::mem::size_of::<String>())
            .sum::<usize>()
}

/// The elements of a file, for comparison with another; `Err` when the file is not readable XML
/// or its elements would hold more than `max_bytes` (`--max-compare-memory`).
pub fn signature(
    reader: &mut dyn std::io::Read,
    max_depth: usize,
    max_bytes: u64,
) -> Result<Vec<Sig>, String> {
    let mut sig = Vec::new();
    let mut held = 0u64;
    let mut over = false;
    let summary = xml::walk(reader, max_depth, &mut |node| {
        if let Node::Open(e) = node
            && !over
        {
            let one = (e.ancestors.len(), e.name.to_string(), e.attrs.to_vec());
            held += sig_size(&one) as u64;
            if held > max_bytes {
                over = true;
                sig = Vec::new();
            } else {
                sig.push(one);
            }
        }
    })
    .map_err(|e| e.to_string())?;
    if over {
        return Err(format!(
            "its elements would hold more than {} MiB in memory (raise with --max-compare-memory)",
            max_bytes >> 20
        ));
    }
    if !summary.complete {
        return Err(summary
            .problems
            .first()
            .cloned()
            .unwrap_or_else(|| "damaged".into()));
    }
    Ok(sig)
}

/// `%NAME%` spans in `value`: a letter or `_` first, then letters, digits, `_`, `(`, `)`
/// (`%ProgramFiles(x86)%`). `%20` URL escapes and `100%` do not qualify.
pub fn find_tokens(value: &str) -> Vec<(usize, usize)> {
    let b = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        let Some(len) = b[i + 1..].iter().position(|&c| c == b'%') else {
            break;
        };
        let name = &b[i + 1..i + 1 + len];
        let ok = !name.is_empty()
            && name.len() <= 64
            && (name[0].is_ascii_alphabetic() || name[0] == b'_')
            && name
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'(' | b')'));
        if ok {
            out.push((i, i + len + 2));
            i += len + 2;
        } else {
            // The closing `%` may open the next token.
            i += len + 1;
        }
    }
    out
}

/// A value is a path when it has a separator or a `file:` URL, or is nothing but tokens.
fn path_like(value: &str, tokens: &[(usize, usize)]) -> bool {
    let covered: usize = tokens.iter().map(|(a, b)| b - a).sum();
    value.contains('\\')
        || value.contains('/')
        || value.to_ascii_lowercase().contains("file:")
        || covered == value.trim().len()
}

/// The element as a one-line tag, for excerpts; secrets replaced by [`REDACTED`].
fn tag(e: &xml::Element<'_>) -> String {
    let mut s = format!("<{}", e.name);
    for (k, v) in e.attrs {
        s.push_str(&format!(" {k}=\"{}\"", scrub(e.name, k, v)));
    }
    s.push_str(if e.self_closing { "/>" } else { ">" });
    s
}

/// `machineKey`'s keys: `AutoGenerate…` (the default) and the collector's marker are no secret.
fn is_machine_key(element: &str, attr: &str) -> bool {
    element.eq_ignore_ascii_case("machineKey")
        && (attr.eq_ignore_ascii_case("validationKey")
            || attr.eq_ignore_ascii_case("decryptionKey"))
}

/// The `Password=` / `Pwd=` parts of a connection string: (start, end) of each value.
fn password_spans(value: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for part in value.split(';') {
        let end = start + part.len();
        if let Some(eq) = part.find('=') {
            let key = part[..eq].trim().to_ascii_lowercase();
            if matches!(key.as_str(), "password" | "pwd" | "user password") {
                out.push((start + eq + 1, end));
            }
        }
        start = end + 1;
    }
    out
}

/// Whether an attribute holds a secret in clear: a `machineKey` key, or a password in a
/// connection string.
pub fn secret_in(element: &str, attr: &str, value: &str) -> bool {
    let v = value.trim();
    if is_machine_key(element, attr) {
        return !v.is_empty() && !v.starts_with("AutoGenerate") && v != REDACTED;
    }
    password_spans(value).iter().any(|&(a, b)| {
        let p = value[a..b].trim().trim_matches(['\'', '"']);
        !p.is_empty() && p != REDACTED
    })
}

/// The value with its secrets replaced by [`REDACTED`], for excerpts and facts.
pub fn scrub(element: &str, attr: &str, value: &str) -> String {
    if is_machine_key(element, attr) {
        return if secret_in(element, attr, value) {
            REDACTED.to_string()
        } else {
            value.to_string()
        };
    }
    let mut out = value.to_string();
    for (a, b) in password_spans(value).into_iter().rev() {
        if !value[a..b].trim().is_empty() {
            out.replace_range(a..b, REDACTED);
        }
    }
    out
}

/// True when the two files have the same elements and attributes, and every differing value is
/// explained by `%TOKEN%` in one where the other has one absolute path, the same path for the
/// same token throughout (so `file:///%ExchangeInstallDir%bin\x.dll` against
/// `file:///D:\Program Files\Microsoft\Exchange Server\V14\bin\x.dll`). Identical files are
/// not "different only in paths".
pub fn only_paths_differ(a: &[Sig], b: &[Sig]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut learned: BTreeMap<String, String> = BTreeMap::new();
    let mut differences = 0usize;
    for (x, y) in a.iter().zip(b) {
        if x.0 != y.0 || x.1 != y.1 || x.2.len() != y.2.len() {
            return false;
        }
        for ((kx, vx), (ky, vy)) in x.2.iter().zip(&y.2) {
            if kx != ky {
                return false;
            }
            if vx == vy {
                continue;
            }
            let explained =
                token_explains(vx, vy, &mut learned) || token_explains(vy, vx, &mut learned);
            if !explained {
                return false;
            }
            differences += 1;
        }
    }
    differences > 0
}

/// Whether `with` becomes `without` when each token in it is replaced by one absolute path
/// (learned on first sight, then required to be the same).
fn token_explains(with: &str, without: &str, learned: &mut BTreeMap<String, String>) -> bool {
    let spans = find_tokens(with);
    let Some(&(first_a, first_b)) = spans.first() else {
        return false;
    };
    let name = with[first_a..first_b].to_ascii_lowercase();
    if spans
        .iter()
        .any(|&(a, b)| !with[a..b].eq_ignore_ascii_case(&name))
    {
        return false; // mixed tokens in one value: not worth guessing
    }
    let expansion = match learned.get(&name) {
        Some(p) => p.clone(),
        None => {
            let k = spans.len();
            let fixed = with.len() - k * (first_b - first_a);
            let Some(extra) = without.len().checked_sub(fixed) else {
                return false;
            };
            if extra == 0 || extra % k != 0 {
                return false;
            }
            let Some(p) = without.get(first_a..first_a + extra / k) else {
                return false;
            };
            let abs = p.as_bytes();
            let absolute = (abs.len() >= 3 && abs[0].is_ascii_alphabetic() && &abs[1..3] == b":\\")
                || p.starts_with("\\\\");
            if !absolute {
                return false;
            }
            learned.insert(name.clone(), p.to_string());
            p.to_string()
        }
    };
    let mut expanded = String::with_capacity(without.len());
    let mut last = 0;
    for (a, b) in spans {
        expanded.push_str(&with[last..a]);
        expanded.push_str(&expansion);
        last = b;
    }
    expanded.push_str(&with[last..]);
    expanded.eq_ignore_ascii_case(without)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALL: &str = "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\";

    /// A 2010 ClientAccess web.config as the seed's failed SP2 left it (UTF-8 with BOM),
    /// `dir` the install path or the token.
    fn web_config(dir: &str, assemblies: usize) -> String {
        let mut s = String::from(
            "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n  <appSettings>\r\n",
        );
        s.push_str(&format!(
            "    <add key=\"BinSearchFolders\" value=\"{dir}bin;{dir}ClientAccess\\Owa\\bin\" />\r\n"
        ));
        s.push_str("    <add key=\"Percent\" value=\"100%\" />\r\n    <add key=\"Url\" value=\"http://x/a%20b%20c\" />\r\n  </appSettings>\r\n");
        s.push_str(
            "  <runtime>\r\n    <assemblyBinding xmlns=\"urn:schemas-microsoft-com:asm.v1\">\r\n",
        );
        for i in 0..assemblies {
            s.push_str(&format!(
                "      <dependentAssembly>\r\n        <assemblyIdentity name=\"Microsoft.Exchange.A{i}\" publicKeyToken=\"31bf3856ad364e35\" culture=\"neutral\" />\r\n        <codeBase version=\"14.0.0.0\" href=\"file:///{dir}bin\\Microsoft.Exchange.A{i}.dll\" />\r\n      </dependentAssembly>\r\n"
            ));
        }
        s.push_str("    </assemblyBinding>\r\n  </runtime>\r\n  <system.webServer>\r\n    <modules>\r\n      <add name=\"exppw\" />\r\n      <remove name=\"Session\" />\r\n    </modules>\r\n  </system.webServer>\r\n</configuration>\r\n");
        s
    }

    fn run(path: &str, text: &[u8], backup: Backup) -> (Result<(), Error>, Sink) {
        let mut sink = Sink::default();
        let mut r: &[u8] = text;
        let res = parse_reader(&mut r, path, 256, backup, &mut sink);
        (res, sink)
    }

    fn file_fact(sink: &Sink) -> &WebConfigFile {
        sink.facts
            .iter()
            .find_map(|f| match &f.kind {
                FactKind::WebConfigFile(w) => Some(w),
                _ => None,
            })
            .expect("a WebConfigFile fact")
    }

    fn tokens(sink: &Sink) -> Vec<(&Fact, &UnexpandedToken)> {
        sink.facts
            .iter()
            .filter_map(|f| match &f.kind {
                FactKind::UnexpandedToken(t) => Some((f, t)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn seed_powershell_web_config_with_tokens() {
        let text = web_config("%ExchangeInstallDir%", 106);
        let (res, sink) = run(
            "iis/webconfig/ClientAccess/PowerShell/web.config",
            text.as_bytes(),
            Backup::Absent,
        );
        res.unwrap();
        assert!(sink.problems.is_empty(), "{:?}", sink.problems);
        let t = tokens(&sink);
        // 2 in BinSearchFolders + 1 per codeBase; `100%` and `%20b%20` are not tokens.
        assert_eq!(t.len(), 108);
        let (first_cb_fact, first_cb) = t.iter().find(|(_, t)| t.attribute == "href").unwrap();
        assert_eq!(first_cb.token, "%ExchangeInstallDir%");
        assert_eq!(
            first_cb.value,
            "file:///%ExchangeInstallDir%bin\\Microsoft.Exchange.A0.dll"
        );
        assert_eq!(
            first_cb_fact.evidence.locator,
            Locator::line("iis/webconfig/ClientAccess/PowerShell/web.config", 12)
        );
        assert!(
            first_cb_fact
                .evidence
                .excerpt
                .starts_with("<codeBase version=\"14.0.0.0\" href=")
        );
        let f = file_fact(&sink);
        assert_eq!(f.relative, "ClientAccess/PowerShell/web.config");
        assert_eq!(f.token_count, 108);
        assert_eq!(f.modules, vec!["exppw"]);
        assert!(!f.has_backup && !f.is_backup && !f.differs_from_backup_only_in_paths);
    }

    #[test]
    fn healthy_file_has_no_tokens() {
        let text = web_config(INSTALL, 20);
        let (res, sink) = run(
            "iis/webconfig/ClientAccess/Owa/web.config",
            text.as_bytes(),
            Backup::Absent,
        );
        res.unwrap();
        assert!(tokens(&sink).is_empty());
        assert_eq!(file_fact(&sink).token_count, 0);
    }

    #[test]
    fn backup_differing_only_in_paths_is_recognised() {
        let bad = web_config("%ExchangeInstallDir%", 5);
        let good = web_config(INSTALL, 5);
        let bak = signature(&mut bad.as_bytes(), 256, 1 << 20).unwrap();
        let (res, sink) = run(
            "iis/webconfig/ClientAccess/Sync/web.config",
            good.as_bytes(),
            Backup::Sibling(Ok(bak.clone())),
        );
        res.unwrap();
        let f = file_fact(&sink);
        assert!(f.has_backup && f.differs_from_backup_only_in_paths);
        assert!(
            sink.facts
                .iter()
                .any(|f| f.evidence.excerpt.contains("only in install paths"))
        );

        // Another change besides the paths: not "only paths".
        let other = good.replace("name=\"exppw\"", "name=\"other\"");
        let (_, sink) = run(
            "x/web.config",
            other.as_bytes(),
            Backup::Sibling(Ok(bak.clone())),
        );
        assert!(!file_fact(&sink).differs_from_backup_only_in_paths);

        // Two different install paths for the same token: not a plain expansion.
        let mixed = good.replacen(INSTALL, "E:\\Exchange\\", 1);
        let (_, sink) = run("x/web.config", mixed.as_bytes(), Backup::Sibling(Ok(bak)));
        assert!(!file_fact(&sink).differs_from_backup_only_in_paths);

        // Identical files do not differ at all.
        let same = signature(&mut good.as_bytes(), 256, 1 << 20).unwrap();
        let (_, sink) = run("x/web.config", good.as_bytes(), Backup::Sibling(Ok(same)));
        assert!(!file_fact(&sink).differs_from_backup_only_in_paths);
    }

    #[test]
    fn the_backup_itself_is_marked() {
        let bad = web_config("%ExchangeInstallDir%", 2);
        let (res, sink) = run(
            "iis/webconfig/ClientAccess/Sync/web.config.bak",
            bad.as_bytes(),
            Backup::IsBackup,
        );
        res.unwrap();
        let f = file_fact(&sink);
        assert!(f.is_backup && !f.has_backup);
        assert_eq!(f.relative, "ClientAccess/Sync/web.config.bak");
        assert_eq!(f.token_count, 4);
    }

    #[test]
    fn tokens_are_found_case_insensitively_and_not_in_urls() {
        assert_eq!(
            find_tokens("file:///%exchangeinstalldir%bin\\a.dll"),
            vec![(8, 28)]
        );
        assert_eq!(find_tokens("%ProgramFiles(x86)%\\x"), vec![(0, 19)]);
        assert!(find_tokens("a%20b%20c").is_empty());
        assert!(find_tokens("100%").is_empty());
        assert_eq!(
            find_tokens("%1%X%"),
            vec![(2, 5)],
            "`%1` is not a name; `%X%` is"
        );
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        // Garbage: refused.
        let (res, sink) = run("x/web.config", b"\x00\xff garbage", Backup::Absent);
        assert!(res.is_err());
        assert!(sink.facts.is_empty());
        // Truncated: the elements before the cut are kept and the file is still described.
        let text = web_config("%ExchangeInstallDir%", 10);
        let cut = &text.as_bytes()[..text.len() / 2];
        let (res, sink) = run("x/web.config", cut, Backup::Absent);
        res.unwrap();
        assert!(file_fact(&sink).token_count >= 2);
        assert!(!sink.problems.is_empty());
        // Billion laughs in a web.config: not expanded, reported.
        let lol = "<?xml version=\"1.0\"?><!DOCTYPE c [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]><configuration><add value=\"%X%\\&c;\"/></configuration>";
        let (res, sink) = run("x/web.config", lol.as_bytes(), Backup::Absent);
        res.unwrap();
        let t = tokens(&sink);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].1.value, "%X%\\&c;");
        assert!(
            sink.problems
                .iter()
                .any(|p| p.message.contains("never expanded"))
        );
        // Deep nesting beyond the limit.
        let deep = format!(
            "<configuration>{}<add href=\"%X%\\a\"/>{}</configuration>",
            "<d>".repeat(1000),
            "</d>".repeat(1000)
        );
        let (res, sink) = run("x/web.config", deep.as_bytes(), Backup::Absent);
        res.unwrap();
        assert_eq!(
            file_fact(&sink).token_count,
            0,
            "the deep element is skipped"
        );
        assert!(
            sink.problems
                .iter()
                .any(|p| p.message.contains("--max-xml-depth"))
        );
    }

    #[test]
    fn ten_megabyte_single_line_web_config() {
        let mut text = String::from("<configuration><runtime>");
        let item =
            "<codeBase version=\"14.0.0.0\" href=\"file:///%ExchangeInstallDir%bin\\M.dll\"/>";
        let mut n = 0;
        while text.len() < 10 << 20 {
            text.push_str(item);
            n += 1;
        }
        text.push_str("</runtime></configuration>");
        let (res, sink) = run("x/web.config", text.as_bytes(), Backup::Absent);
        res.unwrap();
        let f = file_fact(&sink);
        assert_eq!(f.token_count, n);
        assert_eq!(tokens(&sink).len(), MAX_TOKEN_FACTS);
        assert!(
            sink.problems
                .iter()
                .any(|p| p.message.contains("are counted"))
        );
        assert!(
            sink.incomplete
                .as_deref()
                .is_some_and(|r| r.contains("unexpanded tokens")),
            "a cap hit makes the file read in part"
        );
    }

    #[test]
    fn backup_is_found_through_the_bundle() {
        use crate::bundle::{Bundle, Limits};
        let dir = tempfile::tempdir().unwrap();
        let sync = dir.path().join("iis/webconfig/ClientAccess/Sync");
        std::fs::create_dir_all(&sync).unwrap();
        std::fs::write(sync.join("web.config"), web_config(INSTALL, 3)).unwrap();
        std::fs::write(
            sync.join("web.config.bak"),
            web_config("%ExchangeInstallDir%", 3),
        )
        .unwrap();
        let owa = dir.path().join("iis/webconfig/ClientAccess/Owa");
        std::fs::create_dir_all(&owa).unwrap();
        std::fs::write(
            owa.join("web.config"),
            web_config("%ExchangeInstallDir%", 1),
        )
        .unwrap();
        let bundle = Bundle::open(dir.path(), &Limits::default()).unwrap();
        let parsed = crate::parse::parse_bundle(&bundle, &crate::parse::Interest::default());
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        let files: BTreeMap<String, WebConfigFile> = parsed
            .facts
            .iter()
            .filter_map(|f| match &f.kind {
                FactKind::WebConfigFile(w) => Some((w.relative.clone(), w.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(files.len(), 3);
        let live = &files["ClientAccess/Sync/web.config"];
        assert!(live.has_backup && live.differs_from_backup_only_in_paths && live.token_count == 0);
        let bak = &files["ClientAccess/Sync/web.config.bak"];
        assert!(bak.is_backup && bak.token_count == 5);
        let owa = &files["ClientAccess/Owa/web.config"];
        assert!(!owa.has_backup && owa.token_count == 3);
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path("IIS/WebConfig/ClientAccess/exchweb/ews/web.config"),
            "ClientAccess/exchweb/ews/web.config"
        );
        assert_eq!(relative_path("other/web.config"), "other/web.config");
    }

    /// An ecp web.config after the CVE-2020-0688 update, with its per-server machineKey, and a
    /// connection string whose token-bearing path is cited: no value of a secret may reach a fact.
    #[test]
    fn secrets_are_located_never_copied() {
        let validation = "1F5B6D0C7A2E4B3D9C8E7F6A5B4C3D2E1F0A9B8C7D6E5F4A3B2C1D0E9F8A7B6C";
        let decryption = "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718";
        let text = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n  <connectionStrings>\r\n    <add name=\"db\" connectionString=\"Data Source=%ExchangeInstallDir%\\db.sdf;User ID=sa;Password=Sommer2020!\" />\r\n  </connectionStrings>\r\n  <system.web>\r\n    <machineKey validationKey=\"{validation}\" decryptionKey=\"{decryption}\" validation=\"HMACSHA256\" />\r\n  </system.web>\r\n</configuration>\r\n"
        );
        let (res, sink) = run(
            "iis/webconfig/ClientAccess/ecp/web.config",
            text.as_bytes(),
            Backup::Absent,
        );
        res.unwrap();
        let dump = format!("{:?}", sink.facts);
        for secret in [validation, decryption, "Sommer2020!"] {
            assert!(!dump.contains(secret), "{secret} reached a fact: {dump}");
        }
        assert!(dump.contains("Password=REMOVED-BY-COLLECTOR"), "{dump}");
        let w = file_fact(&sink);
        assert_eq!(
            w.secrets,
            vec![
                "line 4: <add> connectionString",
                "line 7: <machineKey> validationKey",
                "line 7: <machineKey> decryptionKey"
            ]
        );
        // What the collector writes instead, and the defaults, are no secret.
        let redacted = text
            .replace(validation, REDACTED)
            .replace(decryption, REDACTED)
            .replace("Sommer2020!", REDACTED);
        let (_, sink) = run(
            "iis/webconfig/ClientAccess/ecp/web.config",
            redacted.as_bytes(),
            Backup::Absent,
        );
        assert!(file_fact(&sink).secrets.is_empty());
        assert!(!secret_in(
            "machineKey",
            "validationKey",
            "AutoGenerate,IsolateApps"
        ));
        assert!(!secret_in(
            "add",
            "connectionString",
            "Server=x;Integrated Security=SSPI"
        ));
        assert!(secret_in(
            "add",
            "connectionString",
            "Server=x; PWD = hunter2 ;"
        ));
        assert_eq!(
            scrub("add", "c", "a=1;pwd=x;b=2"),
            "a=1;pwd=REMOVED-BY-COLLECTOR;b=2"
        );
    }
}
