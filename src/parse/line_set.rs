//! The patterns the rules match setup lines against, with a cheap test in front of them.
//!
//! Every line of every setup log meets every pattern the catalogue asks for (121 of them, on
//! 200 MB logs of two million lines), and one `RegexSet` search costs about the same on a line
//! none of them could match as on one that several do. The built-in patterns are anchored at
//! the start (`^…`), so a match has to begin with one of a few literal prefixes (`[ERROR] `,
//! `Failed [Rule:`, `Setup encountered a problem…`): a line that begins with none of them is
//! answered without a search. A pattern that may start with anything (`^.*on a computer in the
//! domain …`, a user's unanchored rule) is searched only on lines holding one of the literals
//! its matches end with, when it has such literals. The rest (patterns that can match the empty
//! string, or with nothing literal to look for) are searched on every line, as before. The
//! answer is the one a single `RegexSet` of all the patterns gives: only lines that no pattern
//! could match are skipped.

use memchr::memmem;
use regex::RegexSet;
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// Setup-line patterns, matched as one set.
#[derive(Debug, Clone)]
pub struct LineSet {
    /// The patterns as given.
    patterns: Vec<String>,
    /// Anchored patterns, searched only on a line that begins with one of `starts`.
    at_start: Option<RegexSet>,
    /// By a line's first byte: the prefixes, sorted and none the prefix of another, one of
    /// which begins every match of an `at_start` pattern.
    starts: Box<[Prefixes]>,
    /// By `at_start` pattern: literals one of which ends each of its matches, when what its
    /// prefix leaves open is long (`^User specified parameters:.*-Component:'ServerWideOffline'`
    /// is searched only on the lines that hold `-Component:'ServerWideOffline'`).
    needs: Vec<Option<Vec<memmem::Finder<'static>>>>,
    /// By a line's first byte: the second bytes of those prefixes, as a bit set (all bits when
    /// a prefix is one byte long). Most lines stop here: a search of the sorted prefixes
    /// costs a few comparisons, this one load.
    seconds: Box<[[u64; 4]]>,
    /// Patterns searched only on a line that holds one of `ends`.
    inside: Option<RegexSet>,
    /// Literals one of which ends every match of an `inside` pattern.
    ends: Vec<memmem::Finder<'static>>,
    /// The other patterns, searched on every line.
    always: Option<RegexSet>,
}

/// Literal prefixes, sorted.
type Prefixes = Box<[Start]>;

/// A prefix, and the `at_start` patterns whose matches may begin with it.
#[derive(Debug, Clone)]
struct Start {
    prefix: Box<[u8]>,
    patterns: Vec<usize>,
}

/// At most this many literals are looked for in each line for the `inside` patterns.
const MAX_ENDS: usize = 16;

/// How a pattern is kept from lines it cannot match.
enum Gate {
    /// Every match begins with one of these, and, when the prefixes are not the whole
    /// match, ends with one of the second list.
    Starts(Vec<Box<[u8]>>, Option<Vec<Box<[u8]>>>),
    /// Every match ends with one of these.
    Ends(Vec<Box<[u8]>>),
    None,
}

impl LineSet {
    /// Compiles `patterns` with the `regex` crate's default syntax, as `RegexSet::new` does.
    pub fn new<I, S>(patterns: I) -> Result<Self, regex::Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let patterns: Vec<String> = patterns
            .into_iter()
            .map(|p| p.as_ref().to_string())
            .collect();
        // Compiled whole first, so a bad pattern fails as it always did.
        RegexSet::new(&patterns)?;
        let (mut at_start, mut inside, mut always) = (Vec::new(), Vec::new(), Vec::new());
        let mut starts: Vec<Vec<Start>> = vec![Vec::new(); 256];
        let mut ends: Vec<Box<[u8]>> = Vec::new();
        let mut needs = Vec::new();
        for p in &patterns {
            match gate(p) {
                Gate::Starts(prefixes, suffixes) => {
                    for prefix in prefixes {
                        starts[usize::from(prefix[0])].push(Start {
                            prefix,
                            patterns: vec![at_start.len()],
                        });
                    }
                    at_start.push(p.as_str());
                    needs.push(suffixes.map(|ss| {
                        ss.iter()
                            .map(|s| memmem::Finder::new(s).into_owned())
                            .collect()
                    }));
                }
                // Each literal is searched for in every line: a few are cheaper than a search
                // of the set, dozens are not.
                Gate::Ends(suffixes) if ends.len() + suffixes.len() <= MAX_ENDS => {
                    inside.push(p.as_str());
                    ends.extend(suffixes);
                }
                Gate::Ends(_) => always.push(p.as_str()),
                Gate::None => always.push(p.as_str()),
            }
        }
        ends.sort();
        ends.dedup();
        let set = |ps: &[&str]| -> Result<Option<RegexSet>, regex::Error> {
            (!ps.is_empty()).then(|| RegexSet::new(ps)).transpose()
        };
        let starts: Box<[Prefixes]> = starts.into_iter().map(prefix_free).collect();
        let seconds = starts
            .iter()
            .map(|bucket| {
                let mut bits = [0u64; 4];
                for s in bucket.iter() {
                    match s.prefix.get(1) {
                        Some(&b) => bits[usize::from(b >> 6)] |= 1 << (b & 63),
                        None => bits = [u64::MAX; 4],
                    }
                }
                bits
            })
            .collect();
        Ok(LineSet {
            at_start: set(&at_start)?,
            starts,
            needs,
            seconds,
            inside: set(&inside)?,
            ends: ends
                .iter()
                .map(|e| memmem::Finder::new(e).into_owned())
                .collect(),
            always: set(&always)?,
            patterns,
        })
    }

    /// Whether any pattern matches `line`.
    pub fn is_match(&self, line: &str) -> bool {
        let b = line.as_bytes();
        if let Some(set) = &self.at_start
            && let Some(start) = self.start_of(b)
            && start.patterns.iter().any(|&k| self.may_end(k, b))
            && set.is_match(line)
        {
            return true;
        }
        if let Some(set) = &self.inside
            && self.ends.iter().any(|f| f.find(b).is_some())
            && set.is_match(line)
        {
            return true;
        }
        self.always.as_ref().is_some_and(|s| s.is_match(line))
    }

    /// The patterns as given.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// The anchored patterns' prefix `line` begins with, if any.
    fn start_of(&self, line: &[u8]) -> Option<&Start> {
        let first = *line.first()?;
        if let Some(&second) = line.get(1)
            && self.seconds[usize::from(first)][usize::from(second >> 6)] & (1 << (second & 63))
                == 0
        {
            return None;
        }
        let bucket = &self.starts[usize::from(first)];
        // In a sorted list where no entry is the prefix of another, the entry that is a prefix
        // of `line`, if any, is the greatest entry not above it: any entry between the two
        // would begin with that prefix.
        let i = bucket.partition_point(|s| *s.prefix <= *line);
        let start = bucket.get(i.checked_sub(1)?)?;
        line.starts_with(&start.prefix).then_some(start)
    }

    /// Whether `line` holds a literal that ends every match of `at_start` pattern `k`.
    fn may_end(&self, k: usize, line: &[u8]) -> bool {
        self.needs[k]
            .as_ref()
            .is_none_or(|fs| fs.iter().any(|f| f.find(line).is_some()))
    }
}

/// Sorted, without the entries that begin with another one: the shorter prefix lets through
/// every line the longer one does, for its patterns and the longer one's.
fn prefix_free(mut v: Vec<Start>) -> Prefixes {
    v.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    let mut out: Vec<Start> = Vec::with_capacity(v.len());
    for s in v {
        // Sorted: a kept prefix of `s` is the last one kept.
        match out.last_mut() {
            Some(last) if s.prefix.starts_with(&last.prefix) => {
                last.patterns.extend(s.patterns);
                last.patterns.sort_unstable();
                last.patterns.dedup();
            }
            _ => out.push(s),
        }
    }
    out.into_boxed_slice()
}

/// The cheapest sound test for `pattern`: the literals its matches begin with when it only
/// matches at the start of the text, else those its matches end with; [`Gate::None`] when
/// neither says much, or the pattern does not parse here.
fn gate(pattern: &str) -> Gate {
    let Ok(hir) = regex_syntax::Parser::new().parse(pattern) else {
        return Gate::None;
    };
    if hir.properties().look_set_prefix().contains(Look::Start) {
        let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
        if let Some(prefixes) = literals(&hir, ExtractKind::Prefix, 1) {
            // A few long literals at the end are worth looking for when the prefixes leave
            // much of the match open (`.*` after them).
            let open = !seq.is_exact();
            let ends = literals(&hir, ExtractKind::Suffix, 4).filter(|e| open && e.len() <= 4);
            return Gate::Starts(prefixes, ends);
        }
        // Too many literals to list (`\d` is every script's digits): the first byte still
        // tells, unless it can be almost anything (`^.*…`).
        let (firsts, nullable) = first_bytes(&hir);
        let ascii = firsts[..128].iter().filter(|&&f| f).count();
        if !nullable && firsts.contains(&true) && ascii <= 16 {
            return Gate::Starts(
                (0..=255u8)
                    .filter(|&b| firsts[usize::from(b)])
                    .map(|b| Box::from([b]))
                    .collect(),
                None,
            );
        }
    }
    // Literals of three bytes or more are rare enough in a line to be worth looking for.
    match literals(&hir, ExtractKind::Suffix, 3) {
        Some(suffixes) => Gate::Ends(suffixes),
        None => Gate::None,
    }
}

/// The literals every match begins (or ends) with, if there are finitely many and each is at
/// least `min` bytes long.
fn literals(hir: &Hir, kind: ExtractKind, min: usize) -> Option<Vec<Box<[u8]>>> {
    let seq = Extractor::new().kind(kind).extract(hir);
    let lits = seq.literals()?;
    (!lits.is_empty() && lits.iter().all(|l| l.as_bytes().len() >= min))
        .then(|| lits.iter().map(|l| l.as_bytes().into()).collect())
}

/// The bytes a match of `hir` can begin with (a superset), and whether it can be empty.
fn first_bytes(hir: &Hir) -> ([bool; 256], bool) {
    let mut set = [false; 256];
    let nullable = match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => true,
        HirKind::Literal(lit) => match lit.0.first() {
            Some(&b) => {
                set[usize::from(b)] = true;
                false
            }
            None => true,
        },
        HirKind::Class(Class::Bytes(c)) => {
            for r in c.ranges() {
                set[usize::from(r.start())..=usize::from(r.end())].fill(true);
            }
            false
        }
        HirKind::Class(Class::Unicode(c)) => {
            // UTF-8 lead bytes grow with the code point: a range's characters begin with a
            // byte between those of its ends.
            let lead = |c: char| c.encode_utf8(&mut [0; 4]).as_bytes()[0];
            for r in c.ranges() {
                set[usize::from(lead(r.start()))..=usize::from(lead(r.end()))].fill(true);
            }
            false
        }
        HirKind::Repetition(r) => {
            let (sub, nullable) = first_bytes(&r.sub);
            set = sub;
            r.min == 0 || nullable
        }
        HirKind::Capture(c) => {
            let (sub, nullable) = first_bytes(&c.sub);
            set = sub;
            nullable
        }
        HirKind::Concat(subs) => {
            let mut nullable = true;
            for s in subs {
                let (sub, n) = first_bytes(s);
                union(&mut set, &sub);
                if !n {
                    nullable = false;
                    break;
                }
            }
            nullable
        }
        HirKind::Alternation(subs) => {
            let mut nullable = false;
            for s in subs {
                let (sub, n) = first_bytes(s);
                union(&mut set, &sub);
                nullable |= n;
            }
            nullable
        }
    };
    (set, nullable)
}

fn union(into: &mut [bool; 256], from: &[bool; 256]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a |= *b;
    }
}

#[cfg(test)]
mod tests;
