//! The JSON report validates against the documented schema (docs/report-schema.json), for
//! several kinds of bundle; and the schema is strict enough to reject a broken report.

mod common;

use common::*;

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-schema.json"),
    )
    .unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).expect("the schema itself is valid")
}

fn report_of(path: &std::path::Path) -> serde_json::Value {
    let a = analyze(path);
    serde_json::from_str(&exhume::report::json::render(&a.diagnosis)).unwrap()
}

fn assert_valid(v: &serde_json::Value, what: &str) {
    let errors: Vec<String> = validator()
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

#[test]
fn samples_validate() {
    for name in [
        "exchange2010-sp2-servicehost-disabled.zip",
        "exchange2010-sp2-healthy.zip",
    ] {
        assert_valid(&report_of(&samples().join(name)), name);
    }
}

#[test]
fn best_effort_folder_without_manifest_validates() {
    let log = samplegen::setup_log::log(&samplegen::scenarios::seed_runs(true), 3);
    let dir = temp_folder(&[
        ("setup/ExchangeSetup.log", log.as_bytes()),
        ("junk.bin", b"\0\0"),
    ]);
    assert_valid(&report_of(dir.path()), "folder without manifest");
}

#[test]
fn schema_rejects_broken_reports() {
    let good = report_of(&samples().join("exchange2010-sp2-servicehost-disabled.zip"));
    let v = validator();
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("verdict");
    assert!(!v.is_valid(&missing));
    let mut bad_kind = good.clone();
    bad_kind["root_causes"][0]["evidence"][0]["locator"]["kind"] = "page".into();
    assert!(!v.is_valid(&bad_kind));
    let mut bad_status = good;
    bad_status["status"] = "fine".into();
    assert!(!v.is_valid(&bad_status));
}
