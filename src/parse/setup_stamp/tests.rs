use super::*;

/// Setup's own form read at fixed places gives what the general reading gives, on values in
/// and out of range, and is taken for the lines setup writes.
#[test]
fn the_setup_form_is_read_as_the_general_reading_reads_it() {
    let mut taken = 0;
    for (mo, d) in [
        ("01", "02"),
        ("12", "31"),
        ("13", "01"),
        ("31", "13"),
        ("00", "05"),
        ("13", "13"),
        ("02", "30"),
    ] {
        for (hh, mm, ss) in [
            ("00", "00", "00"),
            ("23", "59", "59"),
            ("24", "00", "00"),
            ("12", "60", "00"),
            ("12", "00", "60"),
        ] {
            for (year, frac) in [
                ("2021", "0917"),
                ("0000", "9999"),
                ("20x1", "0000"),
                ("2021", "09a7"),
            ] {
                let line = format!("[{mo}/{d}/{year} {hh}:{mm}:{ss}.{frac}] [1] text");
                let b = line.as_bytes();
                if let Some((date, time)) = setup_form(b) {
                    taken += 1;
                    assert_eq!(
                        date_and_time(b, true),
                        Some((date, Some(time), SETUP_FORM_LEN)),
                        "{line}"
                    );
                }
            }
        }
    }
    // Four plausible dates, two valid times, two all-digit year and fraction pairs.
    assert_eq!(taken, 16);
    assert!(setup_form(b"[01/01/2005 09:00:00.0917] [0] Starting").is_some());
    // Other forms are left to the general reading.
    for other in [
        "[01/01/2005 09:00:00.09170] [0] x",
        "[1/01/2005 09:00:00.0917] [0] x",
        "[01.01.2005 09:00:00.0917] x",
        "01/01/2005 09:00:00.0917 x",
        "[01/01/2005 09:00:00.0917",
    ] {
        assert!(setup_form(other.as_bytes()).is_none(), "{other}");
        assert!(
            prefix(other).is_none()
                || date_and_time(other.as_bytes(), other.starts_with('[')).is_some()
        );
    }
}

fn split(line: &str) -> Option<(String, Option<u8>, &str)> {
    let p = prefix(line)?;
    let t = time_of(&p, Order::MonthFirst)?;
    Some((
        t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
        p.level,
        &line[p.text_at..],
    ))
}

#[test]
fn reads_every_prefix_form_seen_on_servers() {
    let cases = [
        (
            "[02/12/2012 21:15:49.0269] [1] x",
            "2012-02-12 21:15:49.026900",
            Some(1),
        ),
        (
            "[11.14.2022 17:13:08.0081] [0] x",
            "2022-11-14 17:13:08.008100",
            Some(0),
        ),
        (
            "[01-27-2021 13:40:29.0619] [2] x",
            "2021-01-27 13:40:29.061900",
            Some(2),
        ),
        ("[07/01/2020] [1] x", "2020-07-01 00:00:00", Some(1)),
        (
            "01/24/2021 17:30:50.0794 x",
            "2021-01-24 17:30:50.079400",
            None,
        ),
        (
            "[2021-03-10 10:27:33.0852] [1] x",
            "2021-03-10 10:27:33.085200",
            Some(1),
        ),
        ("[3/5/21 9:05:01 PM] [1] x", "2021-03-05 21:05:01", Some(1)),
        (
            "[3/5/2021 12:05:01 AM] [1] x",
            "2021-03-05 00:05:01",
            Some(1),
        ),
        (
            "[14.11.2022. 17:13:08] [0] x",
            "2022-11-14 17:13:08",
            Some(0),
        ),
        (
            "[11/14/2022 17:13:08,123] x",
            "2022-11-14 17:13:08.123",
            None,
        ),
    ];
    for (line, when, level) in cases {
        let got = split(line).unwrap_or_else(|| panic!("{line}"));
        assert_eq!((got.0.as_str(), got.1, got.2), (when, level, "x"), "{line}");
    }
}

#[test]
fn lines_that_only_look_like_prefixes_are_not_taken() {
    for line in [
        "at System.Management.Automation.Utils.NativeDirectoryExists(String path)",
        "[07/01/2020] x",
        "07/01/2020 x",
        "[13/45/2012 21:15:49.0269] [1] x",
        "[02/12/2012 21:15:49.0269 [1] x",
        "2012 was a year",
        "0.  ErrorRecord: Access is denied",
        "604. ErrorRecord: x",
        "[12345/1/2020 10:00:00] [1] x",
    ] {
        assert!(split(line).is_none(), "{line}");
    }
}

#[test]
fn a_second_entry_joined_onto_a_line_is_found() {
    let text =
        "[ERROR] Database is mandatory on UserMailbox. [07/01/2020] [1] [ERROR-REFERENCE] Id=x";
    let at = joined_entry(text).unwrap();
    assert!(text[at..].starts_with("[07/01/2020] [1] [ERROR-REFERENCE]"));
    assert_eq!(joined_entry("[ERROR] quoted [07/01/2020 date] here"), None);
    assert_eq!(joined_entry("Failed [Rule:X] [Message:y]"), None);
}

fn order_of(dates: &[(u32, u32)]) -> Decision {
    let mut o = DateOrder::default();
    for &(first, second) in dates {
        o.see(RawDate::Ambiguous {
            first,
            second,
            year: 2021,
        });
    }
    o.decide()
}

#[test]
fn day_and_month_are_decided_from_the_whole_file() {
    let d = order_of(&[(3, 10), (3, 14)]);
    assert_eq!((d.order, d.how), (Order::MonthFirst, How::Proven));
    let d = order_of(&[(10, 3), (14, 3)]);
    assert_eq!((d.order, d.how), (Order::DayFirst, How::Proven));
    // 31 Jan then 1 Feb: only day-first keeps time going forward.
    let d = order_of(&[(12, 1), (1, 2)]);
    assert_eq!((d.order, d.how), (Order::DayFirst, How::Sequence));
    let d = order_of(&[(3, 10)]);
    assert_eq!((d.order, d.how), (Order::MonthFirst, How::Assumed));
    let note = d.note(
        Some(RawDate::Ambiguous {
            first: 3,
            second: 10,
            year: 2021,
        }),
        None,
    );
    assert_eq!(
        note.as_deref(),
        Some(
            "dates read month first (03/10/2021 read as 10 March 2021): as Exchange setup writes them; no date in the log proves the order"
        )
    );
    let d = order_of(&[(5, 5), (6, 6)]);
    assert_eq!(d.how, How::Irrelevant);
    assert_eq!(d.note(None, None), None);
}

/// Real servers in European time zones write month first with their own separator, so the
/// `Local time zone` line never decides the order; the note names it so a reader in that
/// region sees why the dates were not read day first.
#[test]
fn a_european_time_zone_does_not_turn_ambiguous_dates_day_first() {
    let d = order_of(&[(3, 10), (3, 10)]);
    assert_eq!((d.order, d.how), (Order::MonthFirst, How::Assumed));
    let zone = "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna";
    let note = d.note(None, Some(zone)).expect("assumed order is said");
    assert!(note.starts_with("dates read month first: "), "{note}");
    assert!(note.contains(zone), "{note}");
    // The dates still decide when they can: the zone is only named.
    let d = order_of(&[(12, 1), (1, 2)]);
    assert_eq!(
        d.note(None, Some(zone)).map(|n| n.contains(zone)),
        Some(false)
    );
}
