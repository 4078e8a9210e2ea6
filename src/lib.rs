//! exhume: why did this Exchange setup, service pack or cumulative update fail?
//!
//! ```text
//! bundle (.zip or folder, untrusted)
//!   └─ bundle     safe reader: limits, names, manifest + SHA-256, inventory
//!       └─ parse      one parser per artefact kind, in parallel → facts + problems
//!           └─ facts      observations with evidence locators (the model)
//!               └─ timeline   one clock (local setup logs vs UTC events), merged timeline
//!                   └─ rules      facts → findings (cause | symptom | risk)
//!                       └─ correlate  explains graph → root causes, verdict
//!                           └─ repair     the rules' typed actions → one ordered recovery plan
//!                               └─ report     text, Markdown, JSON, HTML, timeline CSV/JSONL
//! ```
//!
//! [`analyze`] runs the whole pipeline on one bundle; [`batch`] runs it over many, in parallel;
//! [`export`] writes one bundle's whole timeline, every event included, in bounded memory.

#![forbid(unsafe_code)]
#![deny(unused_must_use)]

// The pipeline, in order.
pub mod bundle;
pub mod parse;
pub mod facts;
pub mod timeline;
pub mod rules;
pub mod correlate;
pub mod repair;
pub mod diagnosis;
pub mod report;

// Running it: one bundle, or many; and a bundle's whole timeline.
pub mod analysis;
pub mod batch;
pub mod export;

pub use analysis::{Analysis, Options, analyze};
pub use diagnosis::Diagnosis;
