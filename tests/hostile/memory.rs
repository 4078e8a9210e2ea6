//! Memory is bounded whatever a bundle holds (issue 17, class 2): members built so that a parser
//! keeping one fact per row, line or element would need gigabytes (measured before the caps:
//! about 360 bytes of memory per byte of a one-letter-row CSV). Together in one bundle, at the
//! default limits, the run stays under [`super::bounded::MIB`] and every member that hit a cap is
//! read in part, so the verdict cannot be healthy.

use super::corpus::{healthy_zip_with, run_zip};
use super::rawzip::Member;

/// `count` copies of `unit`.
fn repeat(head: &str, unit: &str, count: usize, tail: &str) -> Vec<u8> {
    let mut s = String::with_capacity(head.len() + unit.len() * count + tail.len());
    s.push_str(head);
    for _ in 0..count {
        s.push_str(unit);
    }
    s.push_str(tail);
    s.into_bytes()
}

#[test]
fn members_built_to_exhaust_memory_stay_under_the_bound() {
    let header = "#TYPE Selected.System.Management.ManagementObject\r\n\"Name\",\"DisplayName\",\"StartMode\",\"State\",\"StartName\",\"PathName\"\r\n";
    // 1 M one-letter rows: 3 MB of CSV.
    let services = repeat(header, "a\r\n", 1_000_000, "");
    // 500 k kept lines of a setup log.
    let service_control = repeat("", "[12/05/2026 10:00:00] x\r\n", 500_000, "");
    // An 8 MB web.config and its .bak, both to be compared.
    let config = repeat(
        "<?xml version=\"1.0\"?>\r\n<configuration><appSettings>\r\n",
        "<add key=\"k\" value=\"v\" />\r\n",
        300_000,
        "</appSettings></configuration>\r\n",
    );
    // 500 k inventory rows and 200 k ACL entries.
    let inventory = repeat(
        "\"RelativePath\",\"Length\",\"LastWriteTimeUtc\"\r\n",
        "\"b\\x.dll\",\"1\",\"2026-01-01T00:00:00Z\"\r\n",
        500_000,
        "",
    );
    let acl = repeat(
        "D:\\Exchange NT AUTHORITY\\SYSTEM:(OI)(CI)(F)\r\n",
        "           S-1-5-11:(R)\r\n",
        200_000,
        "Successfully processed 1 files; Failed processing 0 files\r\n",
    );
    // 20 MB of empty elements beside a tiny .bak.
    let empty = repeat("<configuration>", "<a/>", 5_000_000, "</configuration>");
    let members = vec![
        Member::deflated(b"system/services.csv", &services),
        Member::deflated(b"setup/ServiceControl.log", &service_control),
        Member::deflated(b"iis/webconfig/ClientAccess/Owa/web.config", &config),
        Member::deflated(b"iis/webconfig/ClientAccess/Owa/web.config.bak", &config),
        Member::deflated(b"system/inventory.csv", &inventory),
        Member::deflated(b"system/acl/install-dir.txt", &acl),
        Member::deflated(b"iis/webconfig/ClientAccess/ecp/web.config", &empty),
        Member::deflated(
            b"iis/webconfig/ClientAccess/ecp/web.config.bak",
            b"<configuration/>",
        ),
    ];
    let replaced = [
        "system/services.csv",
        "iis/webconfig/ClientAccess/Owa/web.config",
        "system/inventory.csv",
        "system/acl/install-dir.txt",
        "iis/webconfig/ClientAccess/ecp/web.config",
    ];
    // `run_zip` asserts the peak memory bound.
    let (run, _dir, _) = run_zip(&healthy_zip_with(&replaced, members), &[]);
    let report = run.report();
    assert_ne!(report["status"], "healthy", "{}", report["verdict"]);
    let problems: Vec<String> = report["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{} {}", p["path"], p["message"]))
        .collect();
    // Which cap a member meets first depends on the order members are read in (in parallel):
    // the per-artefact fact cap, the bundle's fact memory, or the comparison budget.
    for capped in [
        "system/services.csv",
        "system/inventory.csv",
        "system/acl/install-dir.txt",
        "iis/webconfig/ClientAccess/Owa/web.config",
    ] {
        assert!(
            problems.iter().any(
                |p| p.starts_with(&format!("\"{capped}\"")) && p.contains("(raise with --max-")
            ),
            "{capped} should be read in part naming the limit it hit: {problems:#?}"
        );
    }
}
