//! "Absorbed damage is read in part" (issue 17): damage or a limit a parser reads past — an
//! encoding change, NUL runs, a line cut at `--max-line`, XML below the depth limit, with its
//! head missing or NULs inside a tag, a fact cap — never leaves a plain "healthy". Each case
//! starts from the healthy sample, damaged *at the source* (the manifest is written over the
//! damaged file, so custody cannot tell) and in a part of the file no parser stops at.

use exhume::diagnosis::{Diagnosis, Status};
use samplegen::BundleBuilder;
use samplegen::scenarios::exchange2010_sp2;

const LOG: &str = "setup/ExchangeSetup.log";
const OWA: &str = "iis/webconfig/ClientAccess/Owa/web.config";

fn analyse_with(b: &BundleBuilder, opts: &exhume::Options) -> Diagnosis {
    let members = b.contents();
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(p, x)| (p.as_str(), x.as_slice()))
        .collect();
    let (_d, p) = crate::common::temp_file("b.zip", &crate::common::zip_of(&refs));
    exhume::analyze(&p, opts).expect("analyses").diagnosis
}

fn analyse(b: &BundleBuilder) -> Diagnosis {
    analyse_with(b, &exhume::Options::default())
}

/// The healthy sample with `path` replaced at the source by `f(old bytes)`.
fn damaged(path: &str, f: impl FnOnce(Vec<u8>) -> Vec<u8>) -> BundleBuilder {
    let mut b = exchange2010_sp2(false);
    let old = b.get(path).expect(path).to_vec();
    b.file(path, "damaged at the source", f(old));
    b
}

/// Not healthy, and the member named among what is missing.
fn assert_read_in_part(d: &Diagnosis, path: &str, why: &str) {
    assert_ne!(d.status, Status::Healthy, "{why}: {}", d.verdict);
    assert!(
        d.missing_evidence.iter().any(|m| m.contains(path)),
        "{why}: {path} not in missing evidence {:?}",
        d.missing_evidence
    );
}

/// The failed run of the broken sample: what a later, failed attempt appends to the log.
fn failed_run() -> String {
    let broken = exchange2010_sp2(true);
    let log = String::from_utf8_lossy(broken.get(LOG).unwrap()).into_owned();
    let start = log.rfind("Starting Microsoft Exchange Server").unwrap();
    let start = log[..start].rfind("\r\n").map_or(0, |i| i + 2);
    // Later than every run of the healthy log.
    log[start..].replace("/2012 ", "/2013 ")
}

#[test]
fn control_the_healthy_sample_is_healthy() {
    assert_eq!(analyse(&exchange2010_sp2(false)).status, Status::Healthy);
}

#[test]
fn a_failed_run_appended_in_utf16_is_read_and_fails() {
    let b = damaged(LOG, |mut log| {
        log.extend_from_slice(&[0xFF, 0xFE]);
        log.extend(failed_run().encode_utf16().flat_map(|u| u.to_le_bytes()));
        log
    });
    let d = analyse(&b);
    assert_eq!(d.status, Status::Failed, "{}", d.verdict);
    assert!(
        d.problems
            .iter()
            .any(|p| p.path == LOG && p.message.contains("encoding changes")),
        "{:?}",
        d.problems
    );
}

#[test]
fn the_last_run_overwritten_with_nuls_is_not_healthy() {
    let b = damaged(LOG, |mut log| {
        // The newest run is gone under zeros; the file still ends in CRLF.
        let keep = log.len() - 3_000;
        log.truncate(keep);
        log.extend(vec![0u8; 20_000]);
        log.extend_from_slice(b"\r\n");
        log
    });
    assert_read_in_part(&analyse(&b), LOG, "NUL run at the end");
    let b = damaged(LOG, |mut log| {
        let mid = log.len() - 2_000;
        log[mid..mid + 500].fill(0);
        log
    });
    assert_read_in_part(&analyse(&b), LOG, "NUL block in the last run");
}

#[test]
fn a_nul_block_in_services_csv_is_not_healthy() {
    let path = "system/services.csv";
    let b = damaged(path, |mut csv| {
        let mid = csv.len() / 2;
        csv[mid..mid + 300].fill(0);
        csv
    });
    assert_read_in_part(&analyse(&b), path, "NUL block in services.csv");
}

#[test]
fn a_line_cut_at_max_line_is_not_healthy() {
    let b = damaged(LOG, |log| {
        let text = String::from_utf8_lossy(&log).into_owned();
        let at = text.find("\r\n").unwrap() + 2;
        let long = format!("[02/12/2012 20:41:07.3498] [0] {}\r\n", "x".repeat(10_000));
        format!("{}{}{}", &text[..at], long, &text[at..]).into_bytes()
    });
    let opts = exhume::Options {
        limits: exhume::bundle::Limits {
            max_line_bytes: 4096,
            ..Default::default()
        },
        ..Default::default()
    };
    let d = analyse_with(&b, &opts);
    assert_read_in_part(&d, LOG, "line cut at --max-line");
    assert!(d.missing_evidence.iter().any(|m| m.contains("--max-line")));
}

/// Inserts `what` just after the opening `<configuration>` tag of a web.config.
fn insert_in_config(xml: Vec<u8>, what: &str) -> Vec<u8> {
    let text = String::from_utf8(xml).unwrap();
    let open = text.find("<configuration").unwrap();
    let at = text[open..].find('>').unwrap() + open + 1;
    format!("{}{}{}", &text[..at], what, &text[at..]).into_bytes()
}

#[test]
fn a_token_element_below_the_depth_limit_is_not_healthy() {
    let deep = 300;
    let mut nest = "<d>".repeat(deep);
    nest.push_str(r#"<add name="x" image="%ExchangeInstallDir%bin\x.dll"/>"#);
    nest.push_str(&"</d>".repeat(deep));
    let b = damaged(OWA, |x| insert_in_config(x, &nest));
    assert_read_in_part(&analyse(&b), OWA, "element below the depth limit");
}

#[test]
fn nuls_inside_attribute_values_are_not_healthy() {
    // Zeros written from inside one attribute value to inside another: the element between is
    // gone, and what is left still parses.
    let b = damaged(OWA, |x| {
        insert_in_config(
            x,
            "<appSettings><add key=\"a\" value=\"1\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\" /></appSettings>",
        )
    });
    assert_read_in_part(&analyse(&b), OWA, "NULs inside attribute values");
}

#[test]
fn a_web_config_without_its_head_is_not_healthy() {
    let b = damaged(OWA, |x| {
        // The first third lost; what is left starts inside the document.
        let text = String::from_utf8(x).unwrap();
        let cut = text[text.len() / 3..].find('<').unwrap() + text.len() / 3;
        text.as_bytes()[cut..].to_vec()
    });
    assert_read_in_part(&analyse(&b), OWA, "web.config without its head");
}

#[test]
fn more_rows_than_the_fact_cap_is_read_in_part() {
    let path = "system/inventory.csv";
    let b = exchange2010_sp2(false);
    let rows = String::from_utf8_lossy(b.get(path).unwrap())
        .lines()
        .count();
    let opts = exhume::Options {
        limits: exhume::bundle::Limits {
            max_facts_per_file: rows / 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let d = analyse_with(&b, &opts);
    assert_read_in_part(&d, path, "fact cap");
    assert!(d.missing_evidence.iter().any(|m| m.contains("--max-facts")));
}
