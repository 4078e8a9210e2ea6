//! Telling which event a record is without rendering it.
//!
//! Rendering every record to XML only to read its provider and id was most of the EVTX stage's
//! time, for records no rule wants (almost all). A record is a template (shared by many records)
//! plus substitution values, which the `evtx` crate hands out cheaply
//! ([`evtx::EvtxRecord::template_instances`]). In the System block of a template, provider,
//! channel and event id are each either a literal of the template or one of those values; in
//! Windows' own templates the id is value 3, the provider either a literal (manifest providers)
//! or value 14 (classic sources). Which it is is learned per template from records that are
//! rendered anyway: a field's candidates are the values equal to the rendered text in every
//! sample, plus the literal while the text has not changed. The truth is always among them,
//! so once one candidate is left it is the answer (a value is preferred to a literal when both
//! remain: only a value can change later). Until then, and for templates never resolved, records
//! are rendered as before; one record in [`AUDIT_EVERY`] of a known template is rendered anyway
//! and a disagreement sends the template back to rendering.

use super::record::System;
use ahash::AHashMap as HashMap;
use evtx::binxml::value_variant::BinXmlValue;
use std::sync::Arc;

/// Samples needed before a template is trusted, and after which one is given up on.
const MIN_SAMPLES: u32 = 2;
const MAX_SAMPLES: u32 = 32;
/// A known template's records are rendered and checked once in this many.
pub(super) const AUDIT_EVERY: u64 = 512;

/// A template definition's identity, from its bytes: the same template is copied into every
/// chunk that uses it, at a different offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct TemplateKey {
    guid: [u8; 16],
    size: u32,
    hash: u64,
}

/// Where a System field comes from in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// Shared, so reading a known template's literal does not allocate.
    Literal(Arc<str>),
    Value(usize),
}

/// What the samples so far allow a field to come from.
#[derive(Debug, Clone, Default)]
struct Candidates {
    seen: bool,
    literal: Option<String>,
    values: Vec<usize>,
}

impl Candidates {
    /// An empty text is not matched against values: empty values are common (unset data
    /// fields) and would tie the field to one of them by coincidence.
    fn observe(&mut self, rendered: &str, values: &[String]) {
        if !self.seen {
            self.seen = true;
            self.literal = Some(rendered.to_string());
            self.values = (0..values.len())
                .filter(|i| !rendered.is_empty() && values[*i] == rendered)
                .collect();
            return;
        }
        if self.literal.as_deref() != Some(rendered) {
            self.literal = None;
        }
        self.values
            .retain(|i| values.get(*i).is_some_and(|v| v == rendered));
    }

    fn resolved(&self) -> Option<Source> {
        match (self.values.as_slice(), &self.literal) {
            ([i], _) => Some(Source::Value(*i)),
            ([], Some(l)) => Some(Source::Literal(Arc::from(l.as_str()))),
            _ => None,
        }
    }
}

/// Provider, event source, channel, event id: the fields an event is counted and kept by.
const FIELDS: usize = 4;

#[derive(Debug, Clone)]
enum Learned {
    Learning {
        samples: u32,
        fields: [Candidates; FIELDS],
    },
    Known {
        fields: [Source; FIELDS],
        used: u64,
    },
    Never,
}

/// The System fields of a record read from its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Quick {
    pub provider: Arc<str>,
    /// Empty when the record has none.
    pub event_source: Arc<str>,
    pub channel: Arc<str>,
    pub event_id: u32,
}

/// What to do with one record.
pub(super) enum Plan {
    /// Its template is known: no rendering needed to count it.
    Quick(Quick),
    /// Render it; if `learn` is set, what it renders teaches its template (or audits it).
    Render {
        learn: Option<(TemplateKey, Vec<String>)>,
        expect: Option<Quick>,
    },
}

/// One worker's templates: learned ones by identity, and this chunk's offsets.
#[derive(Default)]
pub(super) struct Templates {
    in_chunk: HashMap<u32, Option<TemplateKey>>,
    learned: HashMap<TemplateKey, Learned>,
}

impl Templates {
    /// Template offsets are per chunk: forget them when the next chunk starts.
    pub(super) fn new_chunk(&mut self) {
        self.in_chunk.clear();
    }

    /// What to do with a record whose root template is at `def_offset` in `chunk` with these
    /// substitution `values`.
    pub(super) fn plan(
        &mut self,
        chunk: &[u8],
        def_offset: u32,
        values: &[BinXmlValue<'_>],
    ) -> Plan {
        let key = *self
            .in_chunk
            .entry(def_offset)
            .or_insert_with(|| template_key(chunk, def_offset));
        let Some(key) = key else {
            return Plan::Render {
                learn: None,
                expect: None,
            };
        };
        let learned = self
            .learned
            .entry(key)
            .or_insert_with(|| Learned::Learning {
                samples: 0,
                fields: Default::default(),
            });
        match learned {
            Learned::Never => Plan::Render {
                learn: None,
                expect: None,
            },
            Learned::Learning { .. } => Plan::Render {
                learn: Some((key, values.iter().map(|v| v.to_string()).collect())),
                expect: None,
            },
            Learned::Known { fields, used } => {
                *used += 1;
                let Some(quick) = read(fields, values) else {
                    *learned = Learned::Never;
                    return Plan::Render {
                        learn: None,
                        expect: None,
                    };
                };
                if *used % AUDIT_EVERY == 0 {
                    return Plan::Render {
                        learn: Some((key, Vec::new())),
                        expect: Some(quick),
                    };
                }
                Plan::Quick(quick)
            }
        }
    }

    /// What a rendered record says about its template: a sample while learning, a check when
    /// audited (`expect`); a disagreement sends the template back to rendering for good.
    pub(super) fn learn(
        &mut self,
        key: TemplateKey,
        values: &[String],
        sys: &System<'_>,
        provider: &str,
        expect: Option<&Quick>,
    ) {
        let Some(learned) = self.learned.get_mut(&key) else {
            return;
        };
        let rendered = [
            provider.to_string(),
            sys.event_source.as_deref().unwrap_or("").to_string(),
            sys.channel.to_string(),
            sys.event_id.to_string(),
        ];
        if let Some(q) = expect {
            let agrees = *q.provider == *rendered[0]
                && *q.event_source == *rendered[1]
                && *q.channel == *rendered[2]
                && q.event_id == sys.event_id;
            if !agrees {
                *learned = Learned::Never;
            }
            return;
        }
        let Learned::Learning { samples, fields } = learned else {
            return;
        };
        for (c, r) in fields.iter_mut().zip(&rendered) {
            c.observe(r, values);
        }
        *samples += 1;
        if *samples >= MIN_SAMPLES {
            let resolved: Vec<Source> = fields.iter().filter_map(Candidates::resolved).collect();
            if let Ok(fields) = <[Source; FIELDS]>::try_from(resolved) {
                *learned = Learned::Known { fields, used: 0 };
                return;
            }
        }
        if *samples >= MAX_SAMPLES {
            *learned = Learned::Never;
        }
    }
}

/// The fields of a known template for one record.
fn read(fields: &[Source; FIELDS], values: &[BinXmlValue<'_>]) -> Option<Quick> {
    let get = |s: &Source| -> Option<Arc<str>> {
        match s {
            Source::Literal(l) => Some(Arc::clone(l)),
            Source::Value(i) => values.get(*i).map(|v| Arc::from(v.to_string())),
        }
    };
    let event_id = get(&fields[3])?.trim().parse().ok()?;
    Some(Quick {
        provider: get(&fields[0])?,
        event_source: get(&fields[1])?,
        channel: get(&fields[2])?,
        event_id,
    })
}

/// A template definition at `offset` in a chunk: next-definition offset (4 bytes), GUID (16),
/// data size (4), then its BinXML, which is hashed.
fn template_key(chunk: &[u8], offset: u32) -> Option<TemplateKey> {
    let at = offset as usize;
    let header = chunk.get(at..at.checked_add(24)?)?;
    let mut guid = [0u8; 16];
    guid.copy_from_slice(&header[4..20]);
    let size = u32::from_le_bytes([header[20], header[21], header[22], header[23]]);
    let body = chunk.get(at + 24..(at + 24).checked_add(size as usize)?)?;
    // FNV-1a: a few hundred bytes, once per template and chunk.
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    Some(TemplateKey { guid, size, hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_value_that_varies_with_the_text_is_found() {
        let mut c = Candidates::default();
        c.observe("7036", &strings(&["4", "0", "0", "7036", "7036"]));
        assert_eq!(c.resolved(), None, "two values and the literal remain");
        c.observe("7040", &strings(&["4", "0", "0", "7040", "12"]));
        assert_eq!(c.resolved(), Some(Source::Value(3)));
    }

    #[test]
    fn a_text_no_value_matches_is_a_literal() {
        let mut c = Candidates::default();
        c.observe("Service Control Manager", &strings(&["4", "7036"]));
        c.observe("Service Control Manager", &strings(&["4", "7040"]));
        assert_eq!(
            c.resolved(),
            Some(Source::Literal(Arc::from("Service Control Manager")))
        );
        // A text that changes without any value following it: no answer.
        c.observe("Other", &strings(&["4", "7040"]));
        assert_eq!(c.resolved(), None);
    }

    #[test]
    fn template_identity_comes_from_its_bytes() {
        let mut chunk = vec![0u8; 200];
        chunk[100 + 4..100 + 20].copy_from_slice(&[7; 16]);
        chunk[100 + 20..100 + 24].copy_from_slice(&8u32.to_le_bytes());
        chunk[124..132].copy_from_slice(b"binxml!!");
        let a = template_key(&chunk, 100).unwrap();
        let mut other = chunk.clone();
        other[130] = b'?';
        assert_ne!(a, template_key(&other, 100).unwrap());
        // Past the chunk's end: no identity, so the record is simply rendered.
        assert_eq!(template_key(&chunk, 190), None);
        chunk[100 + 20..100 + 24].copy_from_slice(&9000u32.to_le_bytes());
        assert_eq!(template_key(&chunk, 100), None);
    }
}
