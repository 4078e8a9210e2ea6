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
    let (date, time, mut i) = match setup_form(b) {
        Some((date, time)) => (date, Some(time), SETUP_FORM_LEN),
        None => date_and_time(b, bracket)?,
    };
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

/// The date, the time if there is one, and where they end (after the opening bracket if any).
fn date_and_time(b: &[u8], bracket: bool) -> Option<(RawDate, Option<NaiveTime>, usize)> {
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
    Some((date, time, i))
}

/// Bytes of `[MM/DD/YYYY HH:MM:SS.ffff`, up to the closing bracket.
const SETUP_FORM_LEN: usize = 25;

/// Setup's own `[MM/DD/YYYY HH:MM:SS.ffff]`, read at fixed places: nearly every line of a log
/// has it, and the general reading costs a tenth of the stage. Anything else, and any value out
/// of range, is left to [`date_and_time`], which reads this form the same way.
fn setup_form(b: &[u8]) -> Option<(RawDate, NaiveTime)> {
    const DIGITS: [usize; 18] = [
        1, 2, 4, 5, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19, 21, 22, 23, 24,
    ];
    let h = b.get(..=SETUP_FORM_LEN)?;
    let shape = h[0] == b'['
        && h[3] == b'/'
        && h[6] == b'/'
        && h[11] == b' '
        && h[14] == b':'
        && h[17] == b':'
        && h[20] == b'.'
        && h[SETUP_FORM_LEN] == b']';
    if !shape || !DIGITS.iter().all(|&k| h[k].is_ascii_digit()) {
        return None;
    }
    let n = |from: usize, to: usize| {
        h[from..to]
            .iter()
            .fold(0u32, |a, &c| a * 10 + u32::from(c - b'0'))
    };
    let date = RawDate::Ambiguous {
        first: n(1, 3),
        second: n(4, 6),
        year: n(7, 11) as i32,
    };
    if !plausible(date) {
        return None;
    }
    // Four digits of fraction: ten-thousandths, in microseconds.
    let time = NaiveTime::from_hms_micro_opt(n(12, 14), n(15, 17), n(18, 20), n(21, 25) * 100)?;
    Some((date, time))
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
    plausible(date).then_some((date, len))
}

/// Whether the numbers can be a date: a month, a day, and one of them a month when the order
/// is not known.
fn plausible(date: RawDate) -> bool {
    match date {
        RawDate::YearFirst { month, day, .. } => {
            (1..=12).contains(&month) && (1..=31).contains(&day)
        }
        RawDate::Ambiguous { first, second, .. } => {
            (1..=31).contains(&first) && (1..=31).contains(&second) && (first <= 12 || second <= 12)
        }
    }
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
mod tests;
