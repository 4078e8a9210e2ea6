//! Setup's other text files (ServiceControl.log, UpdateCas.log, UpdateConfigFiles.log, MSI logs,
//! ServiceState.xml) and the collector's own log: kept only as lines the rules asked for.

use super::text::LineReader;
use super::{Error, Input, Sink};
use crate::facts::{Evidence, Fact, FactKind, Locator, SetupLine};

pub fn parse(input: &Input<'_>, sink: &mut Sink) -> Result<(), Error> {
    let path = input.path().to_string();
    let interest = input.interest.setup_lines.clone();
    let max_line = input.limits.max_line_bytes;
    input
        .bundle
        .with_reader(input.entry, |r| {
            let mut lines = LineReader::new(r, max_line)?;
            while let Some((n, line)) = lines.next_line()? {
                if let Some(set) = &interest
                    && set.is_match(line)
                {
                    sink.push(Fact {
                        time: None,
                        evidence: Evidence::new(Locator::line(&path, n), line),
                        kind: FactKind::SetupLine(SetupLine {
                            run: None,
                            line: n,
                            text: line.to_string(),
                        }),
                    });
                }
            }
            lines.report(&path, sink);
            Ok(())
        })
        .map_err(Error::from_io)?
        .map_err(Error::from_io)
}

/// The collector's log: its warnings and errors say what could not be collected.
///
/// Each line is `<UTC time> <LEVEL> <message>`. `INFO` is what was done and `SKIP` a gap that is
/// expected on this server (no IIS on an Edge server, `fltmc` unelevated): neither is a problem,
/// whatever words the message holds. `WARN` and `ERROR` are. A line without a level (a hand-made
/// or older log) is a problem when it says WARN or ERROR anywhere.
pub fn parse_collector_log(input: &Input<'_>, sink: &mut Sink) -> Result<(), Error> {
    let path = input.path().to_string();
    let max_line = input.limits.max_line_bytes;
    input
        .bundle
        .with_reader(input.entry, |r| {
            let mut lines = LineReader::new(r, max_line)?;
            let mut finished = false;
            while let Some((n, line)) = lines.next_line()? {
                finished |= line.contains(FINISHED);
                if collector_line_is_problem(line) {
                    sink.problem(
                        &format!("{}:{}", path, n),
                        format!("collector: {}", line.trim()),
                    );
                }
            }
            lines.report(&path, sink);
            if !finished {
                sink.absorbed(format!(
                    "no `{FINISHED}` line: the collection or its log was cut short, so what it \
                     could not collect may not be listed"
                ));
            }
            Ok(())
        })
        .map_err(Error::from_io)?
        .map_err(Error::from_io)
}

/// The collector's last line (`collection finished: 52 files, …`); the collector writes its log
/// in English on every server, so the words are a stable marker.
const FINISHED: &str = "collection finished";

/// Whether one line of collector.log reports something that went wrong.
pub fn collector_line_is_problem(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let stamped = words
        .next()
        .is_some_and(|w| w.len() >= 10 && w.as_bytes()[..4].iter().all(u8::is_ascii_digit));
    if stamped {
        match words.next() {
            Some("INFO" | "SKIP") => return false,
            Some("WARN" | "ERROR") => return true,
            _ => {}
        }
    }
    let upper = line.to_ascii_uppercase();
    upper.contains("ERROR") || upper.contains("WARN")
}

#[cfg(test)]
mod tests {
    use super::collector_line_is_problem as problem;

    #[test]
    fn collector_levels_decide_not_words() {
        assert!(!problem(
            "2022-03-14T09:00:01.123Z INFO  collected evtx/Application.evtx (wevtutil-epl): 0 errors"
        ));
        assert!(!problem(
            "2022-03-14T09:00:02.000Z SKIP  iis/applicationHost.config: IIS is not installed (an Edge Transport server has none)"
        ));
        assert!(problem(
            "2022-03-14T09:00:03.000Z WARN  C:\\ExchangeSetupLogs\\ExchangeSetup.log is 600 MB: only its newest 256 MB were kept (truncated)"
        ));
        assert!(problem(
            "2022-03-14T09:00:04.000Z ERROR not collected: evtx/System.evtx: access denied"
        ));
        // No level column: the words decide.
        assert!(problem("copy failed: ERROR 5"));
        assert!(!problem("collected setup/ExchangeSetup.log"));
    }
}
