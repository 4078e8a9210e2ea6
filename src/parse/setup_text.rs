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
pub fn parse_collector_log(input: &Input<'_>, sink: &mut Sink) -> Result<(), Error> {
    let path = input.path().to_string();
    let max_line = input.limits.max_line_bytes;
    input
        .bundle
        .with_reader(input.entry, |r| {
            let mut lines = LineReader::new(r, max_line)?;
            while let Some((n, line)) = lines.next_line()? {
                let upper = line.to_ascii_uppercase();
                if upper.contains("ERROR") || upper.contains("WARN") {
                    sink.problem(
                        &format!("{}:{}", path, n),
                        format!("collector: {}", line.trim()),
                    );
                }
            }
            Ok(())
        })
        .map_err(Error::from_io)?
        .map_err(Error::from_io)
}
