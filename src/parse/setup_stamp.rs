//! The prefix of a setup-log line, in every form servers and forum copies write it, and the
//! order of day and month in its dates.
//!
//! Setup writes `[MM/DD/YYYY HH:MM:SS.ffff] [N] text`, but with the server's short-date
//! separators (`03.10.2021`, `01-27-2021`), and copies of the log lose parts of it: the time
//! (`[07/01/2020] [1] …`), the brackets and the nesting level (`01/24/2021 17:30:50.0794 …`).
//! Year-first dates (`2021-03-10`), two-digit years and 12-hour times are read too. Which of
//! the first two numbers is the month cannot be told from one line: [`DateOrder`] gathers what
//! the whole file says and decides once, saying when the order was only assumed.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// A date as written, before day and month are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawDate {
    /// `2021-03-10`: unambiguous.
    YearFirst { year: i32, month: u32, day: u32 },
    /// `03/10/2021` or `10.03.2021`: `first` and `second` are month and day in some order.
    Ambiguous { first: u32, second: u32, year: i32 },
}

/// What precedes a line's text.
#[derive(Debug, Clone, Copy)]
pub struct Prefix {
    pub date: RawDate,
    pub time: NaiveTime,
    /// The `[N]` nesting level, when the line has one.
    pub level: Option<u8>,
    /// Byte offset of the text after the prefix.
    pub text_at: usize,
}

/// How the first two numbers of a date are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    MonthFirst,
    DayFirst,
}

impl RawDate {
    pub fn resolve(self, order: Order) -> Option<NaiveDate> {
        match self {
            RawDate::YearFirst { year, month, day } => NaiveDate::from_ymd_opt(year, month, day),
            RawDate::Ambiguous {
                first,
                second,
                year,
            } => match order {
                Order::MonthFirst => NaiveDate::from_ymd_opt(year, first, second),
                Order::DayFirst => NaiveDate::from_ymd_opt(year, second, first),
            },
        }
    }
}

/// Reads the prefix of `line`, if it has one of the forms setup logs come in.
///
/// Accepted: `[date time] [N] `, `[date time] `, `[date] [N] `, `date time [N] `,
/// `date time `. A bare date without brackets, or a bracketed date without time or level, is
/// not taken as a prefix: too many other lines start with a number.
pub fn prefix(line: &str) -> Option<Prefix> {
    let b = line.as_bytes();
    let first = *b.first()?;
    let bracket = first == b'[';
    if !bracket && !first.is_ascii_digit() {
        return None;
    }
    let mut i = usize::from(bracket);
    let (date, n) = date(&b[i..])?;
    i += n;
    let mut time = None;
    if matches!(b.get(i), Some(b' ' | b'T'))
        && let Some((t, n)) = clock(&b[i + 1..])
    {
        time = Some(t);
        i += 1 + n;
    }
    if bracket {
        if b.get(i) != Some(&b']') {
            return None;
        }
        i += 1;
    }
    let mut level = None;
    if b.get(i..i + 2) == Some(b" [") {
        let digits = b[i + 2..].iter().take_while(|c| c.is_ascii_digit()).count();
        if (1..=3).contains(&digits) && b.get(i + 2 + digits) == Some(&b']') {
            level = Some(
                b[i + 2..i + 2 + digits]
                    .iter()
                    .fold(0u8, |a, &c| a.saturating_mul(10).saturating_add(c - b'0')),
            );
            i += 3 + digits;
        }
    }
    if time.is_none() && !(bracket && level.is_some()) {
        return None;
    }
    let text_at = match b.get(i) {
        None => i,
        Some(b' ') => i + 1,
        Some(_) => return None,
    };
    Some(Prefix {
        date,
        time: time.unwrap_or(NaiveTime::MIN),
        level,
        text_at,
    })
}

/// Where, in the text of a line, a second entry begins: forum copies join lines, as in
/// `[07/01/2020] [1] [ERROR] a. [07/01/2020] [1] [ERROR-REFERENCE] …`. Only a bracketed prefix
/// with a level counts, so a date quoted inside a message is not taken for one.
pub fn joined_entry(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    memchr::memchr_iter(b'[', b)
        .filter(|&i| i > 0 && b[i - 1] == b' ' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        .find(|&i| prefix(&text[i..]).is_some_and(|p| p.level.is_some()))
}

/// `MM/DD/YYYY`, `DD.MM.YYYY`, `MM-DD-YY`, `YYYY-MM-DD`…: the date and the bytes it took.
fn date(b: &[u8]) -> Option<(RawDate, usize)> {
    let (x, n1) = number(b, 4)?;
    let sep = *b.get(n1)?;
    if !matches!(sep, b'/' | b'.' | b'-') {
        return None;
    }
    let (y, n2) = number(&b[n1 + 1..], 2)?;
    if b.get(n1 + 1 + n2) != Some(&sep) {
        return None;
    }
    let at = n1 + 1 + n2 + 1;
    let (z, n3) = number(&b[at..], 4)?;
    let mut len = at + n3;
    // Some cultures end the year with the separator too (`14.11.2022.`).
    if sep == b'.' && b.get(len) == Some(&b'.') {
        len += 1;
    }
    let date = match (n1, n3) {
        (4, 1..=2) => RawDate::YearFirst {
            year: x as i32,
            month: y,
            day: z,
        },
        (1..=2, 4) => RawDate::Ambiguous {
            first: x,
            second: y,
            year: z as i32,
        },
        (1..=2, 2) => RawDate::Ambiguous {
            first: x,
            second: y,
            year: 2000 + z as i32,
        },
        _ => return None,
    };
    let plausible = match date {
        RawDate::YearFirst { month, day, .. } => {
            (1..=12).contains(&month) && (1..=31).contains(&day)
        }
        RawDate::Ambiguous { first, second, .. } => {
            (1..=31).contains(&first) && (1..=31).contains(&second) && (first <= 12 || second <= 12)
        }
    };
    plausible.then_some((date, len))
}

/// `HH:MM:SS`, optionally `.ffff` (or `,ffff`) and ` AM`/` PM`: the time and the bytes it took.
fn clock(b: &[u8]) -> Option<(NaiveTime, usize)> {
    let (h, n1) = number(b, 2)?;
    if b.get(n1) != Some(&b':') {
        return None;
    }
    let (m, n2) = number(&b[n1 + 1..], 2)?;
    let mut i = n1 + 1 + n2;
    let mut s = 0;
    if b.get(i) == Some(&b':') {
        let (v, n3) = number(&b[i + 1..], 2)?;
        s = v;
        i += 1 + n3;
    }
    let mut micro = 0u32;
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        for (k, c) in b[i + 1..i + 1 + digits].iter().take(6).enumerate() {
            micro += u32::from(c - b'0') * 10u32.pow(5 - k as u32);
        }
        i += 1 + digits;
    }
    let mut hour = h;
    if let Some(ampm) = b.get(i..i + 3) {
        let pm = ampm.eq_ignore_ascii_case(b" PM");
        if (pm || ampm.eq_ignore_ascii_case(b" AM")) && (1..=12).contains(&h) {
            hour = match (pm, h) {
                (false, 12) => 0,
                (true, 12) => 12,
                (true, h) => h + 12,
                (false, h) => h,
            };
            i += 3;
        }
    }
    Some((NaiveTime::from_hms_micro_opt(hour, m, s, micro)?, i))
}

/// Up to `max` leading ASCII digits (at least one) and how many there were.
fn number(b: &[u8], max: usize) -> Option<(u32, usize)> {
    let n = b
        .iter()
        .take(max)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if n == 0 || b.get(n).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some((
        b[..n]
            .iter()
            .fold(0u32, |a, &c| a * 10 + u32::from(c - b'0')),
        n,
    ))
}

/// What the dates of one file say about their order, gathered line by line.
#[derive(Debug, Default)]
pub struct DateOrder {
    /// Dates whose first number cannot be a month, and whose second cannot be.
    first_over_12: u64,
    second_over_12: u64,
    /// Ambiguous dates whose two numbers differ: only these depend on the order.
    ambiguous: u64,
    /// Steps back in time between consecutive distinct dates, read either way.
    back_month_first: u64,
    back_day_first: u64,
    last: Option<(u32, u32, i32)>,
}

/// The order a file's dates were read in, and how it was known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub order: Order,
    pub how: How,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// No date depends on the order.
    Irrelevant,
    /// A number above 12 shows which is the day.
    Proven,
    /// Only this order keeps the lines in time order.
    Sequence,
    /// Nothing tells: setup's own month-first order is assumed.
    Assumed,
}

impl DateOrder {
    pub fn see(&mut self, d: RawDate) {
        let RawDate::Ambiguous {
            first,
            second,
            year,
        } = d
        else {
            return;
        };
        if first > 12 {
            self.first_over_12 += 1;
        }
        if second > 12 {
            self.second_over_12 += 1;
        }
        if first != second {
            self.ambiguous += 1;
        }
        let now = (first, second, year);
        if let Some(last) = self.last
            && last != now
        {
            let mf = |(a, b, y): (u32, u32, i32)| (y, a, b);
            let df = |(a, b, y): (u32, u32, i32)| (y, b, a);
            if mf(now) < mf(last) {
                self.back_month_first += 1;
            }
            if df(now) < df(last) {
                self.back_day_first += 1;
            }
        }
        self.last = Some(now);
    }

    pub fn decide(&self) -> Decision {
        let (order, how) = match (self.first_over_12 > 0, self.second_over_12 > 0) {
            (false, true) => (Order::MonthFirst, How::Proven),
            (true, false) => (Order::DayFirst, How::Proven),
            (true, true) => (Order::MonthFirst, How::Assumed),
            (false, false) if self.ambiguous == 0 => (Order::MonthFirst, How::Irrelevant),
            (false, false) => match self.back_month_first.cmp(&self.back_day_first) {
                std::cmp::Ordering::Less => (Order::MonthFirst, How::Sequence),
                std::cmp::Ordering::Greater => (Order::DayFirst, How::Sequence),
                std::cmp::Ordering::Equal => (Order::MonthFirst, How::Assumed),
            },
        };
        Decision { order, how }
    }
}

impl Decision {
    /// What the report says about the order, when it was not proven by the dates themselves.
    ///
    /// `zone` is the run's `Local time zone` line. It is named but never used to choose the
    /// order: setup formats its stamps month first and only takes the separator from the
    /// server's culture (a German server wrote `[03.10.2021 …]` for 10 March while its MSI log,
    /// in the local culture, wrote `10.03.2021`), so a European zone is no sign of day first.
    pub fn note(&self, example: Option<RawDate>, zone: Option<&str>) -> Option<String> {
        let assumed_month_first = match zone {
            Some(z) => format!(
                "as Exchange setup writes them whatever the server's regional settings (its time zone, {z}, does not change that order); no date in the log proves the order"
            ),
            None => {
                "as Exchange setup writes them; no date in the log proves the order".to_string()
            }
        };
        let (word, why) = match (self.order, self.how) {
            (_, How::Irrelevant | How::Proven) => return None,
            (Order::MonthFirst, How::Assumed) => ("month first", assumed_month_first.as_str()),
            (Order::DayFirst, How::Assumed) => ("day first", "no date in the log proves the order"),
            (Order::MonthFirst, How::Sequence) => (
                "month first",
                "only that order keeps the lines in time order",
            ),
            (Order::DayFirst, How::Sequence) => {
                ("day first", "only that order keeps the lines in time order")
            }
        };
        let shown = example.and_then(|d| {
            let RawDate::Ambiguous {
                first,
                second,
                year,
            } = d
            else {
                return None;
            };
            let date = d.resolve(self.order)?;
            Some(format!(
                " ({first:02}/{second:02}/{year} read as {})",
                date.format("%-d %B %Y")
            ))
        });
        Some(format!(
            "dates read {word}{}: {why}",
            shown.unwrap_or_default()
        ))
    }
}

/// The date and time of a prefix read in `order`; a date impossible that way is read the other.
pub fn time_of(p: &Prefix, order: Order) -> Option<NaiveDateTime> {
    let other = match order {
        Order::MonthFirst => Order::DayFirst,
        Order::DayFirst => Order::MonthFirst,
    };
    let d = p.date.resolve(order).or_else(|| p.date.resolve(other))?;
    Some(d.and_time(p.time))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
