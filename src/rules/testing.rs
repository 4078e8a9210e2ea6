//! Helpers for rule tests: facts built from inline setup logs and rows.

use super::{Context, Rule};
use crate::facts::{Evidence, Fact, FactKind, FactSet, Locator, Position, ServiceState};
use crate::parse::Sink;
use crate::timeline::Clock;

pub const SEED_FAILED_RUN: &str = "[02/12/2012 21:10:01.0002] [0] Starting Microsoft Exchange Server 2010 Setup
[02/12/2012 21:10:01.0010] [0] Setup version: 14.2.247.5.
[02/12/2012 21:15:40.0000] [1] Beginning processing Install-BridgeheadRole
[02/12/2012 21:15:49.0269] [1] [ERROR] Cannot start service MSExchangeServiceHost on computer '.'.
[02/12/2012 21:15:49.0269] [1] [ERROR] The service cannot be started, either because it is disabled or because it has no enabled devices associated with it
[02/12/2012 21:15:49.0270] [1] [ERROR-REFERENCE] Id=BridgeheadRoleSetterComponent___115c1108e99e4560bd2c03c0fec99908 Component=EXCHANGE14:\\Current\\Release\\Shared\\Datacenter\\Setup
[02/12/2012 21:15:49.0270] [1] Setup is stopping now because of one or more critical errors.
[02/12/2012 21:15:49.0321] [1] Ending processing Install-BridgeheadRole
[02/12/2012 22:19:30.0147] [0] End of Setup
";

pub const SUCCESSFUL_RUN: &str =
    "[02/12/2012 21:10:01.0002] [0] Starting Microsoft Exchange Server 2010 Setup
[02/12/2012 21:10:01.0010] [0] Setup version: 14.2.247.5.
[02/12/2012 21:15:40.0000] [1] Beginning processing Install-BridgeheadRole
[02/12/2012 21:15:49.0321] [1] Ending processing Install-BridgeheadRole
[02/12/2012 21:30:00.0000] [0] The Exchange Server setup operation completed successfully.
[02/12/2012 21:30:00.0001] [0] End of Setup
";

pub fn facts_from_log(log: &str) -> FactSet {
    let mut sink = Sink::default();
    let mut r = log.as_bytes();
    crate::parse::setup_log::parse_reader(
        &mut r,
        "setup/ExchangeSetup.log",
        1 << 20,
        None,
        &mut sink,
    )
    .expect("test log parses");
    FactSet::new(sink.facts)
}

pub fn with_service(mut facts: FactSet, name: &str, start_mode: &str) -> FactSet {
    facts.facts.push(Fact {
        time: None,
        evidence: Evidence::new(
            Locator::new("system/services.csv", Position::Row(1)),
            format!("{name} StartMode={start_mode}"),
        ),
        kind: FactKind::Service(ServiceState {
            name: name.into(),
            display_name: name.into(),
            start_mode: start_mode.into(),
            state: "Stopped".into(),
            start_name: None,
            path_name: None,
        }),
    });
    facts
}

pub fn push(mut facts: FactSet, fact: Fact) -> FactSet {
    facts.facts.push(fact);
    facts
}

pub fn run_rule(rule: &dyn Rule, facts: &FactSet) -> Vec<crate::facts::Finding> {
    let clock = Clock::utc_assumed();
    rule.check(&Context {
        facts,
        clock: &clock,
    })
}
