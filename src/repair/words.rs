//! Numbers and durations in plain words, for sentences a client reads.

/// `1` → "one", `12` → "twelve"; larger numbers stay digits.
pub fn number(n: usize) -> String {
    const WORDS: [&str; 13] = [
        "no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    WORDS
        .get(n)
        .map(|w| w.to_string())
        .unwrap_or_else(|| n.to_string())
}

/// `n` things: "one symptom", "three symptoms".
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{} {}", number(n), if n == 1 { singular } else { plural })
}

/// A span of minutes: "eleven minutes", "2 hours 5 minutes", "3 days".
pub fn minutes(m: i64) -> String {
    let m = m.max(0) as usize;
    match m {
        0 => "less than a minute".into(),
        m if m < 120 => count(m, "minute", "minutes"),
        m if m < 48 * 60 => {
            let (h, r) = (m / 60, m % 60);
            match r {
                0 => count(h, "hour", "hours"),
                r => format!(
                    "{} {}",
                    count(h, "hour", "hours"),
                    count(r, "minute", "minutes")
                ),
            }
        }
        m => count(m / (24 * 60), "day", "days"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words() {
        assert_eq!(count(1, "symptom", "symptoms"), "one symptom");
        assert_eq!(count(3, "symptom", "symptoms"), "three symptoms");
        assert_eq!(count(40, "line", "lines"), "40 lines");
        assert_eq!(minutes(11), "eleven minutes");
        assert_eq!(minutes(125), "two hours five minutes");
        assert_eq!(minutes(3 * 24 * 60 + 5), "three days");
    }
}
