//! What setup's readiness check says across several lines: settings (`Evaluated [Setting:…]`),
//! the AD update statuses and the schema master's domain and site, read together as
//! SetupLogReviewer does. A run outside the schema master's domain or site stops setup before
//! anything else, so it explains the permission and preparation findings that follow from it:
//! the groups may be right for another domain.

use crate::facts::{Confidence, Evidence, FactSet, Finding, FindingKind, RunOutcome, Severity};
use crate::repair::{Action, Change, Phase, common};
use crate::rules::{Context, InterestBuilder, Rule, RuleMeta};
use regex::Regex;
use std::collections::HashMap;
use std::sync::LazyLock;

const SETTINGS: &str = r#"^Evaluated \[(?:Setting|Rule):(SchemaAdmin|EnterpriseAdmin|ExOrgAdmin|SidExOrgAdmins|DelegatedMailboxFirstInstall|HasServerDelegatedPermsBlocked|ServerManagement|ComputerNameDnsFullyQualified|SiteName)\] .*\[Value:"([^"]*)"\]"#;
const STATUS: &str =
    r"^(Schema|Organization Configuration|Domain Configuration) Update Required Status : '(\w+)'";
const MASTER_SITE: &str = r"^(?:\[ERROR\] |\[WARNING\] )?.*on a computer in the domain (\S+) and site (.+?), and wait for replication to complete";
const NOT_SAME_SITE: &str = r"^(?:\[ERROR\] )?Setup encountered a problem while validating the state of Active Directory: .*(?:isn't|is not) in the same domain and site as the schema master";

static PATTERNS: LazyLock<[Regex; 4]> = LazyLock::new(|| {
    [SETTINGS, STATUS, MASTER_SITE, NOT_SAME_SITE].map(|p| Regex::new(p).expect("static regex"))
});

/// What the last run's readiness lines said, with where.
#[derive(Default)]
struct Readiness {
    values: HashMap<String, (String, Evidence)>,
    /// `Schema` / `Organization Configuration` / `Domain Configuration` -> True/False.
    status: HashMap<String, (bool, Evidence)>,
    master: Option<(String, String, Evidence)>,
    not_same_site: Option<Evidence>,
}

impl Readiness {
    fn of(facts: &FactSet) -> Vec<Readiness> {
        // A run that completed passed its readiness check, whatever its settings said.
        let last: HashMap<&str, usize> = facts
            .last_runs()
            .filter(|(_, r)| r.outcome != RunOutcome::Completed)
            .map(|(f, r)| (f.evidence.locator.path.as_str(), r.index))
            .collect();
        let mut by_log: HashMap<&str, Readiness> = HashMap::new();
        for (fact, line) in facts.setup_lines() {
            let path = fact.evidence.locator.path.as_str();
            if line.run.is_none() || last.get(path) != line.run.as_ref() {
                continue;
            }
            let r = by_log.entry(path).or_default();
            let ev = || fact.evidence.clone();
            let [settings, status, master, same] = &*PATTERNS;
            if let Some(c) = settings.captures(&line.text) {
                r.values.insert(c[1].to_string(), (c[2].to_string(), ev()));
            } else if let Some(c) = status.captures(&line.text) {
                r.status
                    .insert(c[1].to_string(), (c[2].eq_ignore_ascii_case("true"), ev()));
            } else if let Some(c) = master.captures(&line.text) {
                r.master = Some((c[1].to_string(), c[2].trim().to_string(), ev()));
            } else if same.is_match(&line.text) {
                r.not_same_site = Some(ev());
            }
        }
        by_log.into_values().collect()
    }

    fn flag(&self, name: &str) -> Option<(bool, &Evidence)> {
        self.values
            .get(name)
            .map(|(v, e)| (v.eq_ignore_ascii_case("true"), e))
    }

    fn is(&self, name: &str, want: bool) -> Option<&Evidence> {
        self.flag(name).filter(|(v, _)| *v == want).map(|(_, e)| e)
    }

    fn required(&self, what: &str) -> Option<&Evidence> {
        self.status.get(what).filter(|(v, _)| *v).map(|(_, e)| e)
    }

    /// The schema master is in another domain or site than this server: (its domain and site,
    /// the server's, evidence).
    fn elsewhere(&self) -> Option<(String, Vec<Evidence>)> {
        if let Some(e) = &self.not_same_site {
            let mut ev = vec![e.clone()];
            ev.extend(self.master.as_ref().map(|m| m.2.clone()));
            return Some(("the schema master's".into(), ev));
        }
        let (domain, site, at) = self.master.as_ref()?;
        let (fqdn, fe) = self.values.get("ComputerNameDnsFullyQualified")?;
        let (local_site, se) = self.values.get("SiteName")?;
        // SetupLogReviewer's reading: the server's domain is the second DNS label.
        let local_domain = fqdn.split('.').nth(1)?;
        let other_domain = !local_domain.eq_ignore_ascii_case(domain);
        let other_site = !local_site.trim().eq_ignore_ascii_case(site);
        if !other_domain && !other_site {
            return None;
        }
        let place = format!("domain {domain}, site {site}");
        Some((place, vec![at.clone(), fe.clone(), se.clone()]))
    }
}

type Check = fn(&Readiness) -> Option<(Option<String>, Vec<Evidence>)>;

/// One readiness finding: its metadata and the test over the readiness lines.
pub struct ReadinessRule {
    meta: RuleMeta,
    check: Check,
}

pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(schema_master_elsewhere()),
        Box::new(prepare_rights_missing()),
        Box::new(org_management_missing()),
        Box::new(org_not_prepared()),
        Box::new(delegated_extra_rights()),
    ]
}

fn meta(id: &str, title: &str, looks_for: &str, why: &str, fix: Vec<Action>) -> RuleMeta {
    RuleMeta {
        id: id.into(),
        title: title.into(),
        kind: FindingKind::Cause,
        severity: Severity::Critical,
        looks_for: looks_for.into(),
        why: why.into(),
        fix,
        references: vec![
            "CSS-Exchange SetupLogReviewer: Test-PrerequisiteCheck (additional context)".into(),
            "Microsoft Learn: Prepare Active Directory and domains for Exchange Server".into(),
        ],
        explains: vec!["setup-stopped-critical".into()],
    }
}

fn prepare_ad() -> Action {
    Action::new(
        Phase::Prepare,
        "Run the Active Directory preparation with the new build, as a member of Schema Admins and Enterprise Admins (log on again after a group change), from a computer in the schema master's domain and site",
    )
    .command("./Setup.exe /PrepareSchema <license-switch>; ./Setup.exe /PrepareAD <license-switch>")
    .changes(&[Change::ActiveDirectory])
}

pub fn schema_master_elsewhere() -> ReadinessRule {
    let mut m = meta(
        "setup-not-in-schema-master-site",
        "Setup ran outside the schema master's domain or Active Directory site",
        "ExchangeSetup.log: \"... isn't in the same domain and site as the schema master\", or the schema master's domain and site (\"on a computer in the domain X and site Y\") differing from the server's ComputerNameDnsFullyQualified and SiteName settings",
        "Extending the schema and preparing the organisation must run in the schema master's domain and site. From anywhere else setup refuses to prepare Active Directory, whatever the account's groups, so a permission or preparation message that follows is a consequence, not the cause.",
        vec![
            Action::new(
                Phase::Cause,
                "Find the schema master and its site, and use a computer in that domain and site for the preparation",
            )
            .command("netdom query fsmo; nltest /dsgetsite"),
            prepare_ad(),
            Action::new(Phase::Prepare, "Wait for Active Directory replication to finish")
                .command("repadmin /syncall /AdeP"),
            common::rerun(),
        ],
    );
    m.explains.extend(
        [
            "setup-insufficient-permissions",
            "prepare-rights-missing",
            "org-management-membership-missing",
            "org-not-prepared",
            "ad-not-prepared",
            "domain-not-prepared",
        ]
        .map(str::to_string),
    );
    ReadinessRule {
        meta: m,
        check: |r| r.elsewhere().map(|(place, ev)| (Some(place), ev)),
    }
}

pub fn prepare_rights_missing() -> ReadinessRule {
    let mut m = meta(
        "prepare-rights-missing",
        "Active Directory must be prepared and the setup account may not do it",
        "ExchangeSetup.log: \"Schema Update Required Status : 'True'\" with the SchemaAdmin or EnterpriseAdmin setting False, \"Organization Configuration Update Required Status : 'True'\" or \"Domain Configuration Update Required Status : 'True'\" with EnterpriseAdmin False",
        "This build changes the schema, the organisation or the domain, and setup prepares them itself only when the account is in Schema Admins (schema) and Enterprise Admins (organisation and domains). Otherwise it stops before touching the server.",
        vec![
            Action::new(
                Phase::Cause,
                "Add the setup account to Schema Admins and Enterprise Admins (or let a member of both run the preparation), then log off and on so the token carries the groups",
            )
            .command("whoami /groups | findstr /i \"Schema Enterprise\"")
            .changes(&[Change::ActiveDirectory]),
            prepare_ad(),
            common::rerun(),
        ],
    );
    m.explains.extend(
        [
            "setup-insufficient-permissions",
            "ad-not-prepared",
            "domain-not-prepared",
        ]
        .map(str::to_string),
    );
    ReadinessRule {
        meta: m,
        check: |r| {
            let ea = r.is("EnterpriseAdmin", false);
            if let Some(s) = r.required("Schema") {
                let who = r.is("SchemaAdmin", false).or(ea);
                if let Some(w) = who {
                    return Some((Some("/PrepareSchema".into()), vec![s.clone(), w.clone()]));
                }
            }
            for (what, switch) in [
                ("Organization Configuration", "/PrepareAD"),
                ("Domain Configuration", "/PrepareDomain"),
            ] {
                if let (Some(s), Some(w)) = (r.required(what), ea) {
                    return Some((Some(switch.into()), vec![s.clone(), w.clone()]));
                }
            }
            None
        },
    }
}

pub fn org_management_missing() -> ReadinessRule {
    ReadinessRule {
        meta: meta(
            "org-management-membership-missing",
            "The setup account is not in Organization Management",
            "ExchangeSetup.log: the ExOrgAdmin setting False while the SidExOrgAdmins setting names the Organization Management group (the organisation is prepared) and the rule DelegatedMailboxFirstInstall is True",
            "Installing or upgrading an Exchange server needs Organization Management (a delegated install needs the server provisioned beforehand). The organisation is prepared, since setup found the group's SID, but the account's token does not carry it.",
            vec![
                Action::new(
                    Phase::Cause,
                    "Add the setup account to the Organization Management role group (the SID in the log), then log off and on so the token carries it",
                )
                .command("Add-RoleGroupMember 'Organization Management' -Member '<account>'")
                .ems()
                .changes(&[Change::ActiveDirectory]),
                common::rerun(),
            ],
        ),
        check: |r| {
            let no = r.is("ExOrgAdmin", false)?;
            let (sid, se) = r.values.get("SidExOrgAdmins")?;
            if sid.is_empty() || sid.eq_ignore_ascii_case("<NULL>") {
                return None;
            }
            let first = r.is("DelegatedMailboxFirstInstall", true)?;
            Some((None, vec![no.clone(), se.clone(), first.clone()]))
        },
    }
}

pub fn org_not_prepared() -> ReadinessRule {
    let mut m = meta(
        "org-not-prepared",
        "The Exchange organisation has not been prepared (/PrepareAD not run)",
        "ExchangeSetup.log: the ExOrgAdmin setting False and no SID found for Organization Management (SidExOrgAdmins empty or absent) in a run that failed",
        "Setup looks up the Organization Management group created by /PrepareAD. When it finds no such group the organisation was never prepared (or its container was deleted), so no account can be in it and setup stops.",
        vec![prepare_ad(), common::rerun()],
    );
    // The organisation may also be prepared but unreadable to the account.
    m.why
        .push_str(" It can also mean the account cannot read the Microsoft Exchange container.");
    ReadinessRule {
        meta: m,
        check: |r| {
            let no = r.is("ExOrgAdmin", false)?;
            let sid = r.values.get("SidExOrgAdmins");
            if sid.is_some_and(|(s, _)| !s.is_empty() && !s.eq_ignore_ascii_case("<NULL>")) {
                return None;
            }
            // Only when setup went on to refuse: the readiness check of a run that worked
            // evaluates the same setting.
            r.status.values().find(|(v, _)| *v)?;
            let mut ev = vec![no.clone()];
            ev.extend(sid.map(|(_, e)| e.clone()));
            Some((None, ev))
        },
    }
}

pub fn delegated_extra_rights() -> ReadinessRule {
    ReadinessRule {
        meta: meta(
            "delegated-setup-extra-rights",
            "Delegated setup refused: the account has extra rights on the server object (KB2961741)",
            "ExchangeSetup.log: the HasServerDelegatedPermsBlocked setting True and ServerManagement False (a delegated install by an account that is not in Server Management but holds rights on the provisioned server object)",
            "A delegated install or upgrade of a provisioned server is allowed to members of Server Management (or Delegated Setup) with no other rights on the server object. An account with extra rights there, often through Domain Admins, is blocked by setup's readiness check.",
            vec![
                Action::new(
                    Phase::Cause,
                    "Run setup with an account in Organization Management, or add the delegated account to Server Management and remove its extra permissions on the server object (see KB2961741)",
                )
                .command("Add-RoleGroupMember 'Server Management' -Member '<account>'")
                .ems()
                .changes(&[Change::ActiveDirectory]),
                common::rerun(),
            ],
        ),
        check: |r| {
            let blocked = r.is("HasServerDelegatedPermsBlocked", true)?;
            let no = r.is("ServerManagement", false)?;
            Some((None, vec![blocked.clone(), no.clone()]))
        },
    }
}

impl Rule for ReadinessRule {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        for p in [SETTINGS, STATUS, MASTER_SITE, NOT_SAME_SITE] {
            i.setup_line(p);
        }
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        Readiness::of(ctx.facts)
            .iter()
            .filter_map(|r| (self.check)(r))
            .map(|(subject, evidence)| {
                let mut f = self.meta.finding(subject.as_deref(), evidence);
                if let Some(s) = &subject {
                    f.title = format!("{}: {s}", self.meta.title);
                }
                f.confidence = Confidence::High;
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::InterestBuilder;
    use crate::rules::testing::run_rule;

    /// A 2019 CU run stopped in its readiness check, with `lines` among the readiness lines.
    fn log(lines: &[&str]) -> String {
        let mut s = String::from(
            "[11/14/2022 17:13:08.0081] [0] Starting Microsoft Exchange Server 2019 Setup\n\
             [11/14/2022 17:13:08.0090] [0] Setup version: 15.2.1118.7.\n",
        );
        for l in lines {
            s.push_str(&format!("[11/14/2022 17:13:39.0100] [1] {l}\n"));
        }
        s.push_str(
            "[11/14/2022 17:13:40.0368] [1] Setup is stopping now because of one or more critical errors.\n\
             [11/14/2022 17:13:40.0400] [0] End of Setup\n",
        );
        s
    }

    fn ev(name: &str, value: &str) -> String {
        format!(
            "Evaluated [Setting:{name}] [HasException:False] [Value:\"{value}\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]"
        )
    }

    fn run(rule: &dyn Rule, lines: &[String]) -> Vec<Finding> {
        let mut ib = InterestBuilder::default();
        rule.interest(&mut ib);
        let interest = ib.build().expect("patterns compile");
        let text = log(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        let mut sink = crate::parse::Sink::default();
        crate::parse::setup_log::parse_reader(
            &mut text.as_bytes(),
            "setup/ExchangeSetup.log",
            1 << 20,
            interest.setup_lines.as_ref(),
            &mut sink,
        )
        .expect("parses");
        run_rule(rule, &FactSet::new(sink.facts))
    }

    fn master(domain: &str, site: &str) -> String {
        format!(
            "[ERROR] The Active Directory schema isn't up-to-date, and this user account isn't a member of the 'Schema Admins' and/or 'Enterprise Admins' groups. Please run setup.exe /PrepareSchema on a computer in the domain {domain} and site {site}, and wait for replication to complete."
        )
    }

    #[test]
    fn schema_master_in_another_site_outranks_the_permission_message() {
        let lines = [
            ev("ComputerNameDnsFullyQualified", "EX01.emea.contoso.com"),
            ev("SiteName", "Paris"),
            ev("SchemaAdmin", "False"),
            ev("EnterpriseAdmin", "False"),
            "Schema Update Required Status : 'True'.".to_string(),
            "Setup will attempt to use the Schema Master domain controller DC01.contoso.com".into(),
            master("CONTOSO", "Seattle"),
        ];
        let f = run(&schema_master_elsewhere(), &lines);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(f[0].title.contains("domain CONTOSO, site Seattle"));
        assert!(
            f[0].explains
                .iter()
                .any(|e| e.id == "prepare-rights-missing")
        );
        assert!(
            f[0].explains
                .iter()
                .any(|e| e.id == "setup-insufficient-permissions")
        );
        // The permission finding is there too, explained by the topology one.
        assert_eq!(run(&prepare_rights_missing(), &lines).len(), 1);
        // The explicit readiness message alone is enough.
        let said = ["[ERROR] Setup encountered a problem while validating the state of Active Directory: Exchange organization-level objects haven't been created, and setup can't create them because the local computer isn't in the same domain and site as the schema master. See the Exchange setup log for more information on this error.".to_string()];
        assert_eq!(run(&schema_master_elsewhere(), &said).len(), 1);
    }

    #[test]
    fn a_completed_run_is_not_blamed() {
        let lines = [
            ev("HasServerDelegatedPermsBlocked", "True"),
            ev("ServerManagement", "False"),
        ];
        let text = log(&lines.iter().map(String::as_str).collect::<Vec<_>>()).replace(
            "Setup is stopping now because of one or more critical errors.",
            "The Exchange Server setup operation completed successfully.",
        );
        let rule = delegated_extra_rights();
        let mut ib = InterestBuilder::default();
        rule.interest(&mut ib);
        let interest = ib.build().expect("patterns compile");
        let mut sink = crate::parse::Sink::default();
        crate::parse::setup_log::parse_reader(
            &mut text.as_bytes(),
            "setup/ExchangeSetup.log",
            1 << 20,
            interest.setup_lines.as_ref(),
            &mut sink,
        )
        .expect("parses");
        assert!(run_rule(&rule, &FactSet::new(sink.facts)).is_empty());
    }

    #[test]
    fn same_domain_and_site_is_not_blamed() {
        let lines = [
            ev("ComputerNameDnsFullyQualified", "EX01.contoso.com"),
            ev("SiteName", "Seattle"),
            master("contoso", "Seattle"),
        ];
        assert!(run(&schema_master_elsewhere(), &lines).is_empty());
    }

    #[test]
    fn schema_or_organisation_update_needs_the_groups() {
        let schema = [
            ev("SchemaAdmin", "False"),
            ev("EnterpriseAdmin", "True"),
            "Schema Update Required Status : 'True'.".to_string(),
        ];
        let f = run(&prepare_rights_missing(), &schema);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("/PrepareSchema"));
        let org = [
            ev("EnterpriseAdmin", "False"),
            "Schema Update Required Status : 'False'.".to_string(),
            "Organization Configuration Update Required Status : 'True'.".to_string(),
        ];
        assert_eq!(
            run(&prepare_rights_missing(), &org)[0].subject.as_deref(),
            Some("/PrepareAD")
        );
        let domain = [
            ev("EnterpriseAdmin", "False"),
            "Organization Configuration Update Required Status : 'False'.".to_string(),
            "Domain Configuration Update Required Status : 'True'.".to_string(),
        ];
        assert_eq!(
            run(&prepare_rights_missing(), &domain)[0]
                .subject
                .as_deref(),
            Some("/PrepareDomain")
        );
    }

    #[test]
    fn no_update_required_or_rights_present_is_silent() {
        let fine = [
            ev("SchemaAdmin", "True"),
            ev("EnterpriseAdmin", "True"),
            "Schema Update Required Status : 'True'.".to_string(),
            "Organization Configuration Update Required Status : 'True'.".to_string(),
        ];
        assert!(run(&prepare_rights_missing(), &fine).is_empty());
        let nothing = [
            ev("EnterpriseAdmin", "False"),
            "Schema Update Required Status : 'False'.".to_string(),
            "Organization Configuration Update Required Status : 'False'.".to_string(),
            "Domain Configuration Update Required Status : 'False'.".to_string(),
        ];
        assert!(run(&prepare_rights_missing(), &nothing).is_empty());
    }

    #[test]
    fn not_in_organization_management_when_the_group_exists() {
        let lines = [
            ev("ExOrgAdmin", "False"),
            ev("SidExOrgAdmins", "S-1-5-21-3623811015-3361044348-30300820-1132"),
            "Evaluated [Rule:DelegatedMailboxFirstInstall] [HasException:False] [Value:\"True\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]".to_string(),
        ];
        assert_eq!(run(&org_management_missing(), &lines).len(), 1);
        assert!(run(&org_not_prepared(), &lines).is_empty());
    }

    #[test]
    fn organization_management_member_is_silent() {
        let lines = [
            ev("ExOrgAdmin", "True"),
            ev("SidExOrgAdmins", "S-1-5-21-3623811015-3361044348-30300820-1132"),
            "Evaluated [Rule:DelegatedMailboxFirstInstall] [HasException:False] [Value:\"True\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]".to_string(),
        ];
        assert!(run(&org_management_missing(), &lines).is_empty());
        assert!(run(&org_not_prepared(), &lines).is_empty());
    }

    #[test]
    fn no_organization_management_sid_means_not_prepared() {
        let lines = [
            ev("ExOrgAdmin", "False"),
            "Organization Configuration Update Required Status : 'True'.".to_string(),
        ];
        assert_eq!(run(&org_not_prepared(), &lines).len(), 1);
        assert!(run(&org_management_missing(), &lines).is_empty());
        // Nothing to prepare: the setting alone says nothing.
        let quiet = [ev("ExOrgAdmin", "False")];
        assert!(run(&org_not_prepared(), &quiet).is_empty());
    }

    #[test]
    fn delegated_setup_with_extra_rights_is_blocked() {
        let lines = [
            ev("HasServerDelegatedPermsBlocked", "True"),
            ev("ServerManagement", "False"),
        ];
        assert_eq!(run(&delegated_extra_rights(), &lines).len(), 1);
        let member = [
            ev("HasServerDelegatedPermsBlocked", "True"),
            ev("ServerManagement", "True"),
        ];
        assert!(run(&delegated_extra_rights(), &member).is_empty());
        let fine = [
            ev("HasServerDelegatedPermsBlocked", "False"),
            ev("ServerManagement", "False"),
        ];
        assert!(run(&delegated_extra_rights(), &fine).is_empty());
    }
}
