//! Exchange build numbers → product and release names, for people reading a report or summary.
//!
//! Only builds checked against a source are named (Microsoft's "Exchange Server build numbers
//! and release dates" as quoted in the project's reference notes, or a real setup log whose
//! case states the release). Any other build is named by its product alone, with the number:
//! a guessed release name would be worse than none.

/// The release of each verified build, by its first three parts (a security update changes only
/// the fourth, so 15.1.2507.66 is still CU23).
const RELEASES: &[(&str, &str)] = &[
    ("14.0.639", "Exchange 2010 RTM"),
    ("14.1.218", "Exchange 2010 SP1"),
    ("14.2.247", "Exchange 2010 SP2"),
    ("14.3.123", "Exchange 2010 SP3"),
    ("14.3.513", "Exchange 2010 SP3 RU32"),
    ("15.0.1497", "Exchange 2013 CU23"),
    ("15.1.2242", "Exchange 2016 CU20"),
    ("15.1.2507", "Exchange 2016 CU23"),
    ("15.2.1118", "Exchange 2019 CU12"),
    ("15.2.1544", "Exchange 2019 CU14"),
    ("15.2.1748", "Exchange 2019 CU15"),
    ("15.2.2562", "Exchange Server SE RTM"),
];

/// The product year a build belongs to ("2010", "2019"), or "Server" when the number is not an
/// Exchange 2007–2019 build.
pub fn product(version: Option<&str>) -> &'static str {
    let mut parts = version.unwrap_or("").split('.');
    match (parts.next(), parts.next()) {
        (Some("8"), _) => "2007",
        (Some("14"), _) => "2010",
        (Some("15"), Some("0")) => "2013",
        (Some("15"), Some("1")) => "2016",
        (Some("15"), Some("2")) => "2019",
        _ => "Server",
    }
}

/// The release name of a verified build ("Exchange 2019 CU12"), if it is one.
pub fn release(version: &str) -> Option<&'static str> {
    let three: Vec<&str> = version.trim().splitn(4, '.').take(3).collect();
    if three.len() < 3 {
        return None;
    }
    let key = three.join(".");
    RELEASES.iter().find(|(b, _)| *b == key).map(|(_, n)| *n)
}

/// A build for people: "Exchange 2019 CU12 (15.2.1118.7)", "Exchange 2016 (15.1.2176.2)" for a
/// build the table does not hold, the number alone when it is not an Exchange build, and
/// "unknown" for none.
pub fn describe(version: &str) -> String {
    let v = version.trim();
    if v.is_empty() {
        return "unknown".into();
    }
    match (release(v), product(Some(v))) {
        (Some(name), _) => format!("{name} ({v})"),
        (None, "Server") => v.to_string(),
        (None, year) => format!("Exchange {year} ({v})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_builds_are_named_and_others_only_by_product() {
        assert_eq!(describe("15.2.1118.7"), "Exchange 2019 CU12 (15.2.1118.7)");
        // A security update changes the fourth part only.
        assert_eq!(
            describe("15.1.2507.66"),
            "Exchange 2016 CU23 (15.1.2507.66)"
        );
        assert_eq!(describe("14.2.247.5"), "Exchange 2010 SP2 (14.2.247.5)");
        assert_eq!(describe("15.1.2176.2"), "Exchange 2016 (15.1.2176.2)");
        assert_eq!(describe("15.2.11180.7"), "Exchange 2019 (15.2.11180.7)");
        assert_eq!(describe("6.0.1"), "6.0.1");
        assert_eq!(describe(""), "unknown");
        assert_eq!(release("15.2"), None);
    }

    #[test]
    fn every_release_is_of_the_product_its_number_says() {
        for (build, name) in RELEASES {
            let year = product(Some(build));
            assert!(
                name.contains(year) || name.contains("SE"),
                "{build} {name} is not {year}"
            );
        }
    }
}
