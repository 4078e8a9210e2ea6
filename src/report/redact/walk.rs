//! Every string of a [`Diagnosis`], visited to replace names. Structs are destructured in full
//! so a field added to the diagnosis does not compile until it is decided here whether it can
//! carry a name.

use super::Redactor;
use crate::diagnosis::{BundleInfo, ChainLink, Diagnosis, PlanStep, RootCause, RunSummary};
use crate::facts::{Evidence, Explains, Finding, Locator, Position};

impl Redactor {
    /// Redacts every string of the diagnosis.
    pub fn diagnosis(&mut self, d: &mut Diagnosis) {
        // Destructured in full so that a field added to the diagnosis does not compile until
        // it is decided here whether it can carry a name.
        let Diagnosis {
            schema_version: _,
            exhume_version: _,
            bundle,
            clock,
            status: _,
            verdict,
            broke,
            checked: _,
            not_in_bundle: _,
            root_causes,
            contributing,
            unexplained,
            findings,
            plan,
            runs,
            missing_evidence,
            skipped,
            problems,
            used,
            time_links,
            event_counts,
        } = d;
        let BundleInfo {
            path,
            form: _,
            sha256: _,
            host,
            has_manifest: _,
            custody,
            files: _,
            inside,
        } = bundle;
        self.apply(path);
        self.opt(inside);
        self.opt(host);
        if let Some(c) = custody {
            self.all(&mut c.missing);
            self.all(&mut c.extra);
            self.all(&mut c.truncated);
            for a in &mut c.altered {
                self.apply(&mut a.path);
            }
        }
        self.apply(&mut clock.description);
        self.apply(verdict);
        self.all(broke);
        for rc in root_causes {
            let RootCause {
                id,
                key,
                title,
                severity: _,
                confidence: _,
                subject,
                time: _,
                explains,
                chain,
                evidence,
                fix,
            } = rc;
            for s in [id, key, title] {
                self.apply(s);
            }
            self.opt(subject);
            self.all(explains);
            for ChainLink {
                key,
                title,
                depth: _,
                via,
            } in chain
            {
                for s in [key, title, via] {
                    self.apply(s);
                }
            }
            self.evidence(evidence);
            self.actions(fix);
        }
        self.all(contributing);
        self.all(unexplained);
        for f in findings {
            self.finding(f);
        }
        for PlanStep {
            step: _,
            phase: _,
            action,
            command,
            shell: _,
            targets,
            changes: _,
            needs,
            items,
            from,
        } in plan
        {
            self.apply(action);
            self.opt(command);
            self.all(targets);
            self.all(needs);
            self.all(items);
            self.all(from);
        }
        for r in runs {
            let RunSummary {
                log,
                index: _,
                product,
                version,
                mode,
                start_local: _,
                start_utc: _,
                start_known: _,
                end_utc: _,
                outcome: _,
                failed_task,
                errors: _,
                locator,
                notes,
            } = r;
            for s in [log, product, locator] {
                self.apply(s);
            }
            self.all(notes);
            for o in [version, mode, failed_task] {
                self.opt(o);
            }
        }
        self.all(missing_evidence);
        for s in skipped {
            self.apply(&mut s.path);
            self.apply(&mut s.reason);
        }
        for p in problems {
            self.apply(&mut p.path);
            self.apply(&mut p.message);
        }
        self.all(used);
        for l in time_links {
            self.apply(&mut l.setup_error);
            self.apply(&mut l.event);
            self.apply(&mut l.about);
        }
        for c in event_counts {
            self.apply(&mut c.channel);
            self.apply(&mut c.provider);
        }
    }

    pub(super) fn finding(&mut self, f: &mut Finding) {
        let Finding {
            id,
            title,
            kind: _,
            severity: _,
            confidence: _,
            subject,
            time: _,
            evidence,
            why,
            fix,
            references,
            explains,
        } = f;
        for s in [id, title, why] {
            self.apply(s);
        }
        self.opt(subject);
        self.evidence(evidence);
        self.actions(fix);
        self.all(references);
        for Explains { id, subject } in explains {
            self.apply(id);
            self.opt(subject);
        }
    }

    pub(super) fn evidence(&mut self, evidence: &mut [Evidence]) {
        for Evidence { locator, excerpt } in evidence {
            let Locator { path, at } = locator;
            self.apply(path);
            match at {
                Position::Key(s) | Position::Element(s) => self.apply(s),
                Position::File
                | Position::Line(_)
                | Position::Lines(..)
                | Position::Record(_)
                | Position::Row(_) => {}
            }
            self.apply(excerpt);
        }
    }

    pub(super) fn actions(&mut self, v: &mut [crate::repair::Action]) {
        for a in v {
            for s in a.texts_mut() {
                self.apply(s);
            }
        }
    }

    pub(super) fn all(&mut self, v: &mut [String]) {
        for s in v {
            self.apply(s);
        }
    }

    pub(super) fn opt(&mut self, o: &mut Option<String>) {
        if let Some(s) = o {
            self.apply(s);
        }
    }
}
