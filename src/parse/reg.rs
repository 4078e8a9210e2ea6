//! `reg export` files (`registry/*.reg`): Exchange role keys, the install path, and service keys.
//!
//! Format (regedit 5, UTF-16LE with BOM, CRLF; or `REGEDIT4`, ANSI/UTF-8): a header line, then
//! `[HKEY_…\Key]` lines each followed by `"Name"=value` lines. Values are `"string"` (with `\\`
//! and `\"` escaped), `dword:0000000a`, `hex:…` binary, or `hex(N):…` for other types
//! (`2` expandable string and `7` multi-string hold UTF-16LE bytes in regedit 5, ANSI bytes in
//! REGEDIT4; `b` is a little-endian qword); long hex values wrap with a trailing `\`. Import
//! files may also hold `[-Key]` (delete a key) and `"Name"=-` (delete a value).
//!
//! The file is streamed; only the keys that yield facts are kept until the end of the file (a
//! key may appear twice; the later values win, as on import).

use super::text::LineReader;
use super::{Error, Input, Sink};
use crate::facts::{
    Evidence, Fact, FactKind, IisSetup, InstallPath, Locator, Position, RoleState, ServiceRegistry,
};
use std::collections::BTreeMap;

/// Keys kept until the end of the file (Exchange keys and service keys); a real export has a few
/// hundred.
const MAX_KEPT_KEYS: usize = 100_000;
/// The values facts are made of (lower-case); others are not kept.
const USED_VALUES: &[&str] = &[
    "configuredversion",
    "unpackedversion",
    "action",
    "watermark",
    "msiinstallpath",
    "msiproductmajor",
    "msiproductminor",
    "msibuildmajor",
    "msibuildminor",
    "start",
    "imagepath",
    "dependonservice",
    "majorversion",
    "minorversion",
    "versionstring",
    "installpath",
];
/// IIS components kept from `InetStp\Components` (IIS 10 has about 60).
const MAX_COMPONENTS: usize = 1_000;
/// A string value may span lines (an embedded newline), but not without end.
const MAX_STRING_LINES: usize = 64;
/// Longest hex value kept (after joining continuation lines); larger ones are counted and dropped.
const MAX_HEX_CHARS: usize = 16 << 20;

/// A decoded registry value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegValue {
    /// REG_SZ.
    Sz(String),
    /// REG_EXPAND_SZ (`hex(2):`).
    ExpandSz(String),
    /// REG_MULTI_SZ (`hex(7):`).
    MultiSz(Vec<String>),
    /// REG_DWORD (`dword:` or `hex(4):`).
    Dword(u32),
    /// REG_QWORD (`hex(b):`).
    Qword(u64),
    /// REG_BINARY (`hex:` or `hex(3):`).
    Binary(Vec<u8>),
    /// REG_NONE (`hex(0):`).
    None(Vec<u8>),
    /// Any other `hex(N):` type, raw.
    Other(u32, Vec<u8>),
    /// `"Name"=-`: the value is deleted on import.
    Deleted,
}

impl RegValue {
    /// The value as text: strings as they are, numbers in decimal, multi-strings joined by `;`.
    pub fn text(&self) -> Option<String> {
        match self {
            RegValue::Sz(s) | RegValue::ExpandSz(s) => Some(s.clone()),
            RegValue::MultiSz(v) => Some(v.join(";")),
            RegValue::Dword(d) => Some(d.to_string()),
            RegValue::Qword(q) => Some(q.to_string()),
            _ => None,
        }
    }

    /// The value as a number: dwords, qwords that fit, and decimal strings.
    pub fn number(&self) -> Option<u32> {
        match self {
            RegValue::Dword(d) => Some(*d),
            RegValue::Qword(q) => u32::try_from(*q).ok(),
            RegValue::Sz(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// One logical item of a `.reg` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `[KEY]` or `[-KEY]`.
    Key {
        line: u64,
        path: String,
        deleted: bool,
    },
    /// `"Name"=value` (`@` is the default value, name `""`).
    Value {
        line: u64,
        name: String,
        value: RegValue,
    },
}

/// Reads a `.reg` file item by item.
pub struct RegReader<'a> {
    lines: LineReader<'a>,
    /// `Windows Registry Editor Version 5.00` (true) or `REGEDIT4` (false).
    pub unicode: bool,
    /// The header line was present.
    pub has_header: bool,
    /// Lines that are neither a key, a value, a comment nor blank: (count, first line number).
    pub malformed: (u64, u64),
    /// Values dropped for being larger than [`MAX_HEX_CHARS`].
    pub oversized: u64,
    pending: Option<(u64, String)>,
}

impl<'a> RegReader<'a> {
    /// Opens the file and reads its header. Fails when the text is not a `.reg` export.
    pub fn new(reader: &'a mut dyn std::io::Read, max_line: usize) -> Result<Self, Error> {
        let mut lines = LineReader::new(reader, max_line).map_err(Error::from_io)?;
        let mut first = None;
        while let Some((n, l)) = lines.next_line().map_err(Error::from_io)? {
            let t = l.trim();
            if !t.is_empty() {
                first = Some((n, t.to_string()));
                break;
            }
        }
        let Some((n, first)) = first else {
            return Err(Error::format("a .reg export", "the file is empty"));
        };
        let utf16 = matches!(
            lines.encoding,
            super::text::Encoding::Utf16Le | super::text::Encoding::Utf16Be
        );
        let (unicode, has_header, pending) = if first == "Windows Registry Editor Version 5.00" {
            (true, true, None)
        } else if first == "REGEDIT4" {
            (false, true, None)
        } else if first.starts_with("[HKEY_") || first.starts_with("[-HKEY_") {
            // A hand-trimmed export: read it, and say the header is missing.
            (utf16, false, Some((n, first)))
        } else {
            return Err(Error::format(
                "a .reg export",
                format!(
                    "line {n} is neither `Windows Registry Editor Version 5.00`, `REGEDIT4` nor a key: {}",
                    crate::facts::clip(&first, 60)
                ),
            ));
        };
        Ok(RegReader {
            lines,
            unicode,
            has_header,
            malformed: (0, 0),
            oversized: 0,
            pending,
        })
    }

    /// Decoding damage of the underlying text, if any.
    pub fn damage(&self) -> Option<String> {
        self.lines.damage()
    }

    /// The next physical line, and whether it was cut at `--max-line`.
    fn next_physical(&mut self) -> Result<Option<(u64, String, bool)>, Error> {
        if let Some((n, l)) = self.pending.take() {
            return Ok(Some((n, l, false)));
        }
        let before = self.lines.cut_lines;
        let next = self
            .lines
            .next_line()
            .map_err(Error::from_io)?
            .map(|(n, l)| (n, l.to_string()));
        let cut = self.lines.cut_lines > before;
        Ok(next.map(|(n, l)| (n, l, cut)))
    }

    fn bad(&mut self, line: u64) {
        if self.malformed.0 == 0 {
            self.malformed.1 = line;
        }
        self.malformed.0 += 1;
    }

    /// The next key or value, or `None` at the end of the file.
    pub fn next_item(&mut self) -> Result<Option<Item>, Error> {
        loop {
            let Some((n, line, cut)) = self.next_physical()? else {
                return Ok(None);
            };
            let t = line.trim();
            if t.is_empty() || t.starts_with(';') {
                continue;
            }
            if let Some(inner) = t.strip_prefix('[') {
                let Some(inner) = inner.strip_suffix(']') else {
                    self.bad(n);
                    continue;
                };
                let (deleted, path) = match inner.strip_prefix('-') {
                    Some(p) => (true, p),
                    None => (false, inner),
                };
                return Ok(Some(Item::Key {
                    line: n,
                    path: path.to_string(),
                    deleted,
                }));
            }
            let Some((name, rest)) = split_name(t) else {
                self.bad(n);
                continue;
            };
            let rest = rest.trim_start();
            let value = if rest.starts_with('"') {
                self.string_value(rest.to_string(), cut)?
            } else if rest.starts_with("hex") {
                self.hex_value(rest.to_string())?
            } else {
                parse_simple(rest)
            };
            match value {
                Some(value) => {
                    return Ok(Some(Item::Value {
                        line: n,
                        name,
                        value,
                    }));
                }
                None => self.bad(n),
            }
        }
    }

    /// `"…"`, joining following lines while the closing quote is missing (a string with an
    /// embedded newline). A line cut at `--max-line` keeps what was read.
    fn string_value(&mut self, mut text: String, cut: bool) -> Result<Option<RegValue>, Error> {
        if cut {
            let body = unquote(&format!("{text}\"")).unwrap_or_default();
            return Ok(Some(RegValue::Sz(body)));
        }
        for _ in 0..MAX_STRING_LINES {
            if let Some(s) = unquote(&text) {
                return Ok(Some(RegValue::Sz(s)));
            }
            match self.next_physical()? {
                Some((n, more, _)) if more.starts_with("[HKEY_") || more.starts_with("[-HKEY_") => {
                    // An unclosed quote must not swallow the next key.
                    self.pending = Some((n, more));
                    break;
                }
                Some((_, more, _)) => {
                    text.push('\n');
                    text.push_str(&more);
                }
                None => break,
            }
        }
        Ok(None)
    }

    /// `hex…:aa,bb,\` followed by indented continuation lines.
    fn hex_value(&mut self, first: String) -> Result<Option<RegValue>, Error> {
        let mut text = first.trim_end().to_string();
        let mut too_big = false;
        while text.ends_with('\\') {
            text.pop();
            match self.next_physical()? {
                Some((_, more, _)) => {
                    if text.len() + more.len() > MAX_HEX_CHARS {
                        too_big = true;
                        text.clear();
                        // Keep consuming the continuation so the next item starts cleanly.
                        if more.trim_end().ends_with('\\') {
                            text.push('\\');
                        }
                        continue;
                    }
                    text.push_str(more.trim());
                }
                None => break,
            }
        }
        if too_big {
            self.oversized += 1;
            return Ok(Some(RegValue::Binary(Vec::new())));
        }
        Ok(parse_hex(&text, self.unicode))
    }
}

/// Splits `"Name"=rest` or `@=rest`, unescaping the name.
fn split_name(t: &str) -> Option<(String, &str)> {
    if let Some(rest) = t.strip_prefix('@') {
        return Some((String::new(), rest.trim_start().strip_prefix('=')?));
    }
    let body = t.strip_prefix('"')?;
    let mut name = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => name.push(e),
                None => return None,
            },
            '"' => {
                let rest = body[i + 1..].trim_start().strip_prefix('=')?;
                return Some((name, rest));
            }
            c => name.push(c),
        }
    }
    None
}

/// `"text"` with `\\` and `\"` unescaped; `None` while the closing quote is missing.
fn unquote(s: &str) -> Option<String> {
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) => out.push(e),
                None => return None,
            },
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

/// `-` and `dword:…`.
fn parse_simple(rest: &str) -> Option<RegValue> {
    let rest = rest.trim();
    if rest == "-" {
        return Some(RegValue::Deleted);
    }
    let hex = rest.strip_prefix("dword:")?;
    let hex = hex.trim();
    if hex.is_empty() || hex.len() > 8 {
        return None;
    }
    u32::from_str_radix(hex, 16).ok().map(RegValue::Dword)
}

/// `hex:…` or `hex(N):…` with continuation lines already joined.
fn parse_hex(text: &str, unicode: bool) -> Option<RegValue> {
    let rest = text.strip_prefix("hex")?;
    let (kind, bytes) = if let Some(b) = rest.strip_prefix(':') {
        (3u32, b)
    } else {
        let inner = rest.strip_prefix('(')?;
        let close = inner.find(')')?;
        let kind = u32::from_str_radix(inner[..close].trim(), 16).ok()?;
        (kind, inner[close + 1..].strip_prefix(':')?)
    };
    let mut data = Vec::new();
    for part in bytes.split(',') {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        if p.len() > 2 {
            return None;
        }
        data.push(u8::from_str_radix(p, 16).ok()?);
    }
    let strings = |data: &[u8]| -> Vec<String> {
        if unicode {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            units
                .split(|&u| u == 0)
                .map(String::from_utf16_lossy)
                .collect()
        } else {
            data.split(|&b| b == 0)
                .map(|s| s.iter().map(|&b| b as char).collect())
                .collect()
        }
    };
    Some(match kind {
        0 => RegValue::None(data),
        1 => RegValue::Sz(strings(&data).into_iter().next().unwrap_or_default()),
        2 => RegValue::ExpandSz(strings(&data).into_iter().next().unwrap_or_default()),
        3 => RegValue::Binary(data),
        4 if data.len() == 4 => {
            RegValue::Dword(u32::from_le_bytes([data[0], data[1], data[2], data[3]]))
        }
        5 if data.len() == 4 => {
            RegValue::Dword(u32::from_be_bytes([data[0], data[1], data[2], data[3]]))
        }
        7 => {
            let mut v = strings(&data);
            // Each string ends with NUL and the list with one more: drop the empty tail.
            while v.last().is_some_and(|s| s.is_empty()) {
                v.pop();
            }
            RegValue::MultiSz(v)
        }
        0xb if data.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&data);
            RegValue::Qword(u64::from_le_bytes(b))
        }
        k => RegValue::Other(k, data),
    })
}

/// The keys that yield facts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyClass {
    /// `…\ExchangeServer\v14\<sub>`.
    Exchange { major: String, sub: String },
    /// `HKLM\SYSTEM\CurrentControlSet\Services\<name>`.
    Service(String),
    /// `HKLM\SOFTWARE\Microsoft\InetStp`: the IIS version and install path.
    InetStp,
    /// `HKLM\SOFTWARE\Microsoft\InetStp\Components`: one dword per installed IIS component.
    InetStpComponents,
}

/// `HKEY_LOCAL_MACHINE\…` → `HKLM\…` (for locators), other hives abbreviated likewise.
pub fn short_hive(path: &str) -> String {
    const HIVES: &[(&str, &str)] = &[
        ("HKEY_LOCAL_MACHINE", "HKLM"),
        ("HKEY_CURRENT_USER", "HKCU"),
        ("HKEY_CLASSES_ROOT", "HKCR"),
        ("HKEY_USERS", "HKU"),
        ("HKEY_CURRENT_CONFIG", "HKCC"),
    ];
    for (long, short) in HIVES {
        if let Some(rest) = path.get(..long.len())
            && rest.eq_ignore_ascii_case(long)
        {
            return format!("{short}{}", &path[long.len()..]);
        }
    }
    path.to_string()
}

fn classify_key(short: &str) -> Option<KeyClass> {
    let parts: Vec<&str> = short.split('\\').collect();
    let is = |i: usize, s: &str| parts.get(i).is_some_and(|p| p.eq_ignore_ascii_case(s));
    if !is(0, "HKLM") {
        return None;
    }
    if is(1, "SOFTWARE") {
        // The 64-bit view, or the WOW6432Node view a 32-bit collector may have exported.
        let base = if is(2, "Wow6432Node") { 3 } else { 2 };
        if is(base, "Microsoft") && is(base + 1, "ExchangeServer") && parts.len() == base + 4 {
            let major = parts[base + 2];
            let digits = major.strip_prefix(['v', 'V'])?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            return Some(KeyClass::Exchange {
                major: major.to_ascii_lowercase(),
                sub: parts[base + 3].to_string(),
            });
        }
        if is(base, "Microsoft") && is(base + 1, "InetStp") {
            return match parts.len() - base {
                2 => Some(KeyClass::InetStp),
                3 if is(base + 2, "Components") => Some(KeyClass::InetStpComponents),
                _ => None,
            };
        }
        return None;
    }
    if is(1, "SYSTEM") && is(2, "CurrentControlSet") && is(3, "Services") && parts.len() == 5 {
        return Some(KeyClass::Service(parts[4].to_string()));
    }
    None
}

/// A kept key: where it was first seen and its values by lower-case name.
struct KeptKey {
    class: KeyClass,
    /// As written, with the hive abbreviated.
    path: String,
    line: u64,
    values: BTreeMap<String, (String, RegValue)>,
}

impl KeptKey {
    fn get(&self, name: &str) -> Option<&RegValue> {
        self.values
            .get(&name.to_ascii_lowercase())
            .map(|(_, v)| v)
            .filter(|v| **v != RegValue::Deleted)
    }
    fn text(&self, name: &str) -> Option<String> {
        self.get(name).and_then(RegValue::text)
    }
}

pub fn parse(input: &Input<'_>, sink: &mut Sink) -> Result<(), Error> {
    let path = input.path().to_string();
    let max_line = input.limits.max_line_bytes;
    input
        .bundle
        .with_reader(input.entry, |r| parse_reader(r, &path, max_line, sink))
        .map_err(Error::from_io)?
}

/// Parses a `.reg` export from any reader; `path` is the bundle path used in locators.
pub fn parse_reader(
    reader: &mut dyn std::io::Read,
    path: &str,
    max_line: usize,
    sink: &mut Sink,
) -> Result<(), Error> {
    let mut reg = RegReader::new(reader, max_line)?;
    if !reg.has_header {
        sink.problem(
            path,
            "no `Windows Registry Editor Version 5.00` / `REGEDIT4` header: read as an export anyway",
        );
    }
    let mut kept: BTreeMap<String, KeptKey> = BTreeMap::new();
    // The key the following values belong to: Some(lower-case path) when kept, None otherwise.
    let mut current: Option<String> = None;
    let mut in_key = false;
    let mut keys = 0u64;
    let mut orphan_values = 0u64;
    let mut too_many_keys = 0u64;
    let result = loop {
        let item = match reg.next_item() {
            Ok(Some(i)) => i,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        match item {
            Item::Key {
                line,
                path: key,
                deleted,
            } => {
                keys += 1;
                in_key = !deleted;
                let short = short_hive(&key);
                let lower = short.to_ascii_lowercase();
                if deleted {
                    // The key and its subkeys: a range, not a scan, so many deletions stay cheap.
                    let prefix = format!("{lower}\\");
                    kept.remove(&lower);
                    let doomed: Vec<String> = kept
                        .range(prefix.clone()..)
                        .take_while(|(k, _)| k.starts_with(&prefix))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in doomed {
                        kept.remove(&k);
                    }
                    current = None;
                    continue;
                }
                current = classify_key(&short).and_then(|class| {
                    if kept.len() >= MAX_KEPT_KEYS && !kept.contains_key(&lower) {
                        too_many_keys += 1;
                        return None;
                    }
                    kept.entry(lower.clone()).or_insert_with(|| KeptKey {
                        class,
                        path: short.clone(),
                        line,
                        values: BTreeMap::new(),
                    });
                    Some(lower)
                });
            }
            Item::Value { name, value, .. } => {
                if !in_key {
                    orphan_values += 1;
                    continue;
                }
                let lower = name.to_ascii_lowercase();
                if let Some(k) = current.as_ref().and_then(|c| kept.get_mut(c)) {
                    // Components are named by Microsoft, one value each: all of them are kept.
                    let component = k.class == KeyClass::InetStpComponents
                        && k.values.len() < MAX_COMPONENTS
                        && matches!(value, RegValue::Dword(_));
                    if component || USED_VALUES.contains(&lower.as_str()) {
                        k.values.insert(lower, (name, value));
                    }
                }
            }
        }
    };

    for key in kept.values() {
        match key.class {
            KeyClass::InetStp => {
                let components = kept
                    .values()
                    .find(|k| k.class == KeyClass::InetStpComponents);
                emit_iis(path, key, components, sink);
            }
            // Read with the InetStp key above; alone (an export of that subkey only), on its own.
            KeyClass::InetStpComponents if kept.values().any(|k| k.class == KeyClass::InetStp) => {}
            KeyClass::InetStpComponents => emit_iis(path, key, Some(key), sink),
            _ => emit(path, key, sink),
        }
    }
    reg.lines.report(path, sink);
    if reg.malformed.0 > 0 {
        sink.problem(
            path,
            format!(
                "{} line(s) are neither a key nor a value (first at line {})",
                reg.malformed.0, reg.malformed.1
            ),
        );
    }
    if orphan_values > 0 {
        sink.problem(
            path,
            format!("{orphan_values} value(s) outside any key were ignored"),
        );
    }
    if too_many_keys > 0 {
        let why = format!(
            "{too_many_keys} Exchange or service key(s) beyond the first {MAX_KEPT_KEYS} were not read"
        );
        sink.problem(path, why.clone());
        sink.absorbed(why);
    }
    if reg.oversized > 0 {
        let why = format!(
            "{} hex value(s) longer than {} MiB were not decoded",
            reg.oversized,
            MAX_HEX_CHARS >> 20
        );
        sink.problem(path, why.clone());
        sink.absorbed(why);
    }
    result?;
    if keys == 0 {
        return Err(Error::format(
            "a .reg export",
            "a header but not a single `[KEY]` line",
        ));
    }
    Ok(())
}

const ROLE_VALUES: [&str; 4] = [
    "ConfiguredVersion",
    "UnpackedVersion",
    "Action",
    "Watermark",
];

/// One `IisSetup` fact from the InetStp key (and its Components subkey when exported with it).
fn emit_iis(path: &str, key: &KeptKey, components: Option<&KeptKey>, sink: &mut Sink) {
    let main = (key.class == KeyClass::InetStp).then_some(key);
    let version = main.and_then(|k| {
        match (
            k.get("MajorVersion").and_then(RegValue::number),
            k.get("MinorVersion").and_then(RegValue::number),
        ) {
            (Some(a), Some(b)) => Some(format!("{a}.{b}")),
            _ => k.text("VersionString"),
        }
    });
    let install_path = main.and_then(|k| k.text("InstallPath"));
    let installed: Vec<String> = components
        .map(|c| {
            c.values
                .values()
                .filter(|(_, v)| matches!(v, RegValue::Dword(d) if *d != 0))
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default();
    let leaf = key.path.rsplit('\\').next().unwrap_or(&key.path);
    let mut excerpt = format!("line {}: [{leaf}]", key.line);
    if let Some(v) = &version {
        excerpt.push_str(&format!(" IIS {v}"));
    }
    if let Some(p) = &install_path {
        excerpt.push_str(&format!(" InstallPath={p}"));
    }
    if !installed.is_empty() {
        excerpt.push_str(&format!(" {} component(s) installed", installed.len()));
    }
    sink.push(Fact {
        time: None,
        evidence: Evidence::new(Locator::new(path, Position::Key(key.path.clone())), excerpt),
        kind: FactKind::IisSetup(IisSetup {
            version,
            install_path,
            components: installed,
        }),
    });
}

fn emit(path: &str, key: &KeptKey, sink: &mut Sink) {
    let locator = Locator::new(path, Position::Key(key.path.clone()));
    let leaf = key.path.rsplit('\\').next().unwrap_or(&key.path);
    match &key.class {
        KeyClass::Exchange { major, sub } if sub.eq_ignore_ascii_case("Setup") => {
            let Some(install) = key.text("MsiInstallPath") else {
                return;
            };
            let parts: Vec<String> = [
                "MsiProductMajor",
                "MsiProductMinor",
                "MsiBuildMajor",
                "MsiBuildMinor",
            ]
            .iter()
            .map_while(|n| key.get(n).and_then(RegValue::number))
            .map(|n| n.to_string())
            .collect();
            let build = (parts.len() >= 3).then(|| parts.join("."));
            let mut excerpt = format!("line {}: [{}] MsiInstallPath={install}", key.line, leaf);
            if let Some(b) = &build {
                excerpt.push_str(&format!(" build={b}"));
            }
            sink.push(Fact {
                time: None,
                evidence: Evidence::new(locator, excerpt),
                kind: FactKind::InstallPath(InstallPath {
                    major: major.clone(),
                    path: install,
                    build,
                }),
            });
        }
        KeyClass::Exchange { major, sub } => {
            if ROLE_VALUES.iter().all(|n| key.get(n).is_none()) {
                return;
            }
            let mut excerpt = format!("line {}: [{}]", key.line, leaf);
            for n in ROLE_VALUES {
                match key.text(n) {
                    Some(v) => excerpt.push_str(&format!(" {n}={v}")),
                    None if n == "ConfiguredVersion" => excerpt.push_str(" (no ConfiguredVersion)"),
                    None => {}
                }
            }
            sink.push(Fact {
                time: None,
                evidence: Evidence::new(locator, excerpt),
                kind: FactKind::RoleState(RoleState {
                    role: sub.clone(),
                    major: major.clone(),
                    configured_version: key.text("ConfiguredVersion"),
                    unpacked_version: key.text("UnpackedVersion"),
                    watermark: key.text("Watermark"),
                    action: key.text("Action"),
                }),
            });
        }
        KeyClass::Service(name) => {
            let start = key.get("Start").and_then(RegValue::number);
            let image_path = key.text("ImagePath");
            let depend_on = match key.get("DependOnService") {
                Some(RegValue::MultiSz(v)) => v.clone(),
                Some(RegValue::Sz(s)) if !s.is_empty() => vec![s.clone()],
                _ => Vec::new(),
            };
            let mut excerpt = format!("line {}: [{}]", key.line, leaf);
            if let Some(s) = start {
                let what = match s {
                    0 => " (boot)",
                    1 => " (system)",
                    2 => " (automatic)",
                    3 => " (manual)",
                    4 => " (disabled)",
                    _ => "",
                };
                excerpt.push_str(&format!(" Start={s}{what}"));
            }
            if !depend_on.is_empty() {
                excerpt.push_str(&format!(" DependOnService={}", depend_on.join(",")));
            }
            if let Some(p) = &image_path {
                excerpt.push_str(&format!(" ImagePath={p}"));
            }
            sink.push(Fact {
                time: None,
                evidence: Evidence::new(locator, excerpt),
                kind: FactKind::ServiceRegistry(ServiceRegistry {
                    name: name.clone(),
                    start,
                    image_path,
                    depend_on,
                }),
            });
        }
        // Read by `emit_iis`.
        KeyClass::InetStp | KeyClass::InetStpComponents => {}
    }
}

#[cfg(test)]
mod tests;
