//! The phrases of setup's text the reader recognises, in any of the forms copies leave them:
//! run banners, lines that stand on their own, error records, and the failed command of
//! `The following error was generated when "…" was run: "…"`.

/// `Starting Microsoft Exchange Server 2010 Setup` → `2010`.
pub(super) fn banner_product(text: &str) -> Option<String> {
    let rest = text.strip_prefix("Starting Microsoft Exchange Server ")?;
    let product = rest.strip_suffix(" Setup")?.trim();
    (!product.is_empty()).then(|| product.to_string())
}

/// The unattended console's banner, `Microsoft Exchange Server 2019 Cumulative Update 7
/// Unattended Setup` → `2019`.
pub(super) fn console_banner(text: &str) -> Option<String> {
    let rest = text.strip_prefix("Microsoft Exchange Server ")?;
    if !rest.ends_with(" Setup") {
        return None;
    }
    let product = rest.split_whitespace().next()?;
    product
        .bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| product.to_string())
}

/// Lines setup writes that stand on their own when quoted without their prefix.
pub(super) fn standalone(text: &str) -> bool {
    const STARTS: [&str; 8] = [
        "Failed [Rule:",
        "Evaluated [Rule:",
        "[ERROR]",
        "[ERROR-REFERENCE]",
        "[WARNING]",
        "Setup is stopping now because of one or more critical errors",
        "The following 1 error(s) occurred during task execution",
        "Beginning processing ",
    ];
    STARTS.iter().any(|s| text.starts_with(s)) || error_record(text)
}

/// `0. ErrorRecord: …` / `604. ErrorRecord: …`.
pub(super) fn error_record(text: &str) -> bool {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0
        && text[digits..]
            .strip_prefix('.')
            .is_some_and(|r| r.trim_start().starts_with("ErrorRecord: "))
}

/// Error text of setup's console or wizard without any marker: the start of a failed command,
/// or a service that did not start, in any language (`Service 'FMS' failed to reach status
/// 'Running' on this server.`, `サービス 'MSExchangeTransport' は状態 'Running' に到達できませんでした。`:
/// the service name and status are not translated).
pub(super) fn is_error_text(text: &str) -> bool {
    command_start(text).is_some()
        || (RUNNING.find(text.as_bytes()).is_some() && text.matches('\'').count() >= 4)
}

/// Searched in every line without a prefix, so built once (see [`OUTCOME_FAILED`]).
static RUNNING: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new("'Running'"));

/// The sentences that end a run as failed, `setup operation didn't complete` or `… did not
/// complete`. Searched in every stamped line: one searcher built once (a `str::contains`
/// builds its searcher on each call, a tenth of the stage's time), for the words both share.
pub(super) fn outcome_failed(text: &[u8]) -> bool {
    static SHARED: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new("setup operation did"));
    SHARED.find_iter(text).any(|i| {
        let rest = &text[i + SHARED.needle().len()..];
        rest.starts_with(b"n't complete") || rest.starts_with(b" not complete")
    })
}

/// `needle` in `hay`, ASCII case ignored, without a lower-cased copy of every line. The search
/// is for the needle's last byte, then the bytes before it: every stamped line is searched, and
/// the last letter of the sentence looked for (`y`) is far rarer in setup's text than the
/// first (`s`), each hit of which cost a comparison.
pub(super) fn contains_ignore_ascii_case(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&last) = needle.last() else {
        return true;
    };
    let before = needle.len() - 1;
    memchr::memchr2_iter(last.to_ascii_lowercase(), last.to_ascii_uppercase(), hay)
        .filter(|&i| i >= before)
        .any(|i| hay[i - before..=i].eq_ignore_ascii_case(needle))
}

/// `Id=abc Component=EXCHANGE14:\…` → the value after `key` up to the next space.
pub(super) fn field(rest: &str, key: &str) -> Option<String> {
    let i = rest.find(key)? + key.len();
    let v = rest[i..].split_whitespace().next()?;
    Some(v.to_string())
}

/// For `The following error was generated when "cmd…`: the command so far, and whether it
/// already ended on this line. The first straight quote after `when ` is taken, else the first
/// curly one.
pub(super) fn command_start(msg: &str) -> Option<(String, bool)> {
    // Searched in every line without a prefix and every error line, so built once (see
    // [`outcome_failed`]).
    static WHEN: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new("error was generated when "));
    let mut curly = None;
    let mut straight = None;
    for i in WHEN.find_iter(msg.as_bytes()) {
        // `when ` ends with a whole character, so `after` is a character boundary.
        let after = i + WHEN.needle().len();
        if msg[after..].starts_with('"') {
            straight = Some(after + 1);
            break;
        }
        if curly.is_none() && msg[after..].starts_with('\u{201c}') {
            curly = Some(after + '\u{201c}'.len_utf8());
        }
    }
    let body = &msg[straight.or(curly)?..];
    match find_was_run(body) {
        Some((j, _)) => Some((body[..j].trim().to_string(), true)),
        None => Some((body.trim().to_string(), false)),
    }
}

/// Where `" was run:` is in `s`: the end of the command and the start of the text after it.
/// Copies lose the quote or retype the words (`Was run: …` on a line of its own).
pub(super) fn find_was_run(s: &str) -> Option<(usize, usize)> {
    for marker in ["\" was run:", "\u{201d} was run:"] {
        if let Some(i) = s.find(marker) {
            return Some((i, i + marker.len()));
        }
    }
    let t = s.trim_start();
    let lead = s.len() - t.len();
    let head = t.get(..8)?;
    head.eq_ignore_ascii_case("was run:")
        .then_some((lead, lead + 8))
}

pub(super) fn after_was_run(s: &str) -> Option<String> {
    let (_, at) = find_was_run(s)?;
    Some(unquote(&s[at..]).to_string())
}

/// The message after `was run:` without the quotes and final full stop around it.
pub(super) fn unquote(s: &str) -> &str {
    s.trim()
        .trim_start_matches(['"', '\u{201c}'])
        .trim_end_matches('.')
        .trim_end_matches(['"', '\u{201d}'])
        .trim_end_matches('.')
        .trim()
}

/// `Microsoft.Exchange.Data.DataValidationException: Database is mandatory…` → the message
/// after the exception type, as setup's own `[ERROR]` line gives it.
pub(super) fn without_exception_type(m: &str) -> Option<&str> {
    let (ty, rest) = m.split_once(": ")?;
    let is_type = ty.ends_with("Exception") && !ty.contains(' ') && ty.contains('.');
    is_type.then(|| rest.trim())
}

pub(super) fn push_cmd(cmd: &mut String, line: &str) {
    let t = line.trim();
    if t.is_empty() || cmd.len() > 4096 {
        return;
    }
    if !cmd.is_empty() {
        cmd.push('\n');
    }
    cmd.push_str(t);
}
