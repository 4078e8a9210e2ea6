use super::*;

const SEED: &str = "[02/12/2012 21:10:01.0001] [0] **********************************************
[02/12/2012 21:10:01.0002] [0] Starting Microsoft Exchange Server 2010 Setup
[02/12/2012 21:10:01.0003] [0] **********************************************
[02/12/2012 21:10:01.0010] [0] Setup version: 14.2.247.5.
[02/12/2012 21:10:01.0020] [0] Command Line Parameter Name='mode', Value='Upgrade'.
[02/12/2012 21:15:40.0000] [1] Beginning processing Install-BridgeheadRole
[02/12/2012 21:15:49.0269] [1] [ERROR] The following error was generated when \"$error.Clear();
          if (get-service MSExchangeServiceHost* | where {$_.name -eq \"MSExchangeServiceHost\"})
          {
            restart-service MSExchangeServiceHost
          }
        \" was run: \"Service 'Microsoft Exchange Service Host (MSExchangeServiceHost)' cannot be started due to the following error: Cannot start service MSExchangeServiceHost on computer '.'.\".
[02/12/2012 21:15:49.0269] [1] [ERROR] Service 'Microsoft Exchange Service Host (MSExchangeServiceHost)' cannot be started due to the following error: Cannot start service MSExchangeServiceHost on computer '.'.
[02/12/2012 21:15:49.0269] [1] [ERROR] Cannot start service MSExchangeServiceHost on computer '.'.
[02/12/2012 21:15:49.0269] [1] [ERROR] The service cannot be started, either because it is disabled or because it has no enabled devices associated with it
[02/12/2012 21:15:49.0270] [1] [ERROR-REFERENCE] Id=BridgeheadRoleSetterComponent___115c1108e99e4560bd2c03c0fec99908 Component=EXCHANGE14:\\Current\\Release\\Shared\\Datacenter\\Setup
[02/12/2012 21:15:49.0270] [1] Setup is stopping now because of one or more critical errors.
[02/12/2012 21:15:49.0270] [1] Finished executing component tasks.
[02/12/2012 21:15:49.0321] [1] Ending processing Install-BridgeheadRole
[02/12/2012 22:19:30.0147] [0] End of Setup
[02/12/2012 22:19:30.0147] [0] **********************************************
";

fn run(text: &str) -> Sink {
    let mut sink = Sink::default();
    let mut r = text.as_bytes();
    parse_reader(&mut r, "setup/ExchangeSetup.log", 1 << 20, None, &mut sink).unwrap();
    sink
}

#[test]
fn groups_the_seed_error_block() {
    let sink = run(SEED);
    let err = sink
        .facts
        .iter()
        .find_map(|f| match &f.kind {
            FactKind::SetupError(e) => Some(e),
            _ => None,
        })
        .unwrap();
    assert_eq!(err.task.as_deref(), Some("Install-BridgeheadRole"));
    assert!(err.critical);
    assert_eq!((err.first_line, err.last_line), (7, 16));
    assert!(
        err.command
            .as_deref()
            .unwrap()
            .contains("restart-service MSExchangeServiceHost")
    );
    assert!(
        err.messages
            .iter()
            .any(|m| m.contains("because it is disabled"))
    );
    assert!(
        err.reference_id
            .as_deref()
            .unwrap()
            .starts_with("BridgeheadRoleSetterComponent")
    );
    assert!(err.component.as_deref().unwrap().starts_with("EXCHANGE14:"));
    let run = sink
        .facts
        .iter()
        .find_map(|f| match &f.kind {
            FactKind::SetupRun(r) => Some(r),
            _ => None,
        })
        .unwrap();
    assert_eq!(run.version.as_deref(), Some("14.2.247.5"));
    assert_eq!(run.mode.as_deref(), Some("Upgrade"));
    assert_eq!(run.outcome, RunOutcome::Failed);
    assert_eq!(run.failed_task.as_deref(), Some("Install-BridgeheadRole"));
    assert!(run.is_last);
}

#[test]
fn cmdlets_at_level_two_do_not_hide_the_step() {
    let log = "[01/01/2020 10:00:00.0000] [0] Starting Microsoft Exchange Server 2016 Setup\n\
                   [01/01/2020 10:00:01.0000] [1] Beginning processing Install-MailboxRole\n\
                   [01/01/2020 10:00:02.0000] [2] Beginning processing Set-LocalPermissions\n\
                   [01/01/2020 10:00:03.0000] [2] Ending processing Set-LocalPermissions\n\
                   [01/01/2020 10:00:04.0000] [1] [ERROR] boom\n\
                   [01/01/2020 10:00:05.0000] [1] Setup is stopping now because of one or more critical errors.\n";
    let sink = run(log);
    let task = sink.facts.iter().find_map(|f| match &f.kind {
        FactKind::SetupError(e) => e.task.clone(),
        _ => None,
    });
    assert_eq!(task.as_deref(), Some("Install-MailboxRole"));
}

#[test]
fn run_without_end_marker_is_interrupted() {
    let log = "[01/01/2020 10:00:00.0000] [0] Starting Microsoft Exchange Server 2016 Setup\n\
                   [01/01/2020 10:00:01.0000] [0] Setup version: 15.1.2106.2.\n";
    let sink = run(log);
    let FactKind::SetupRun(r) = &sink.facts[0].kind else {
        panic!()
    };
    assert_eq!(r.outcome, RunOutcome::Interrupted);
}

#[test]
fn garbage_is_refused_with_a_reason() {
    let mut sink = Sink::default();
    let mut r: &[u8] = b"\x00\x01\x02garbage\nmore";
    let e = parse_reader(&mut r, "setup/ExchangeSetup.log", 1 << 20, None, &mut sink).unwrap_err();
    assert!(e.to_string().contains("setup log"));
}

#[test]
fn outcome_sentences_are_found_in_any_case() {
    let hay = b"The Exchange Server SETUP Operation Completed Successfully.";
    assert!(contains_ignore_ascii_case(
        hay,
        b"setup operation completed successfully"
    ));
    assert!(!contains_ignore_ascii_case(
        b"setup operation",
        b"setup operation completed"
    ));
    assert!(!contains_ignore_ascii_case(b"", b"s"));
    // The needle at the very start and the very end of the text, and as the whole of it.
    assert!(contains_ignore_ascii_case(
        b"Setup Operation x",
        b"setup operation"
    ));
    assert!(contains_ignore_ascii_case(
        b"x SETUP OPERATION",
        b"setup operation"
    ));
    assert!(contains_ignore_ascii_case(
        b"setup operation",
        b"SETUP OPERATION"
    ));
    assert!(!contains_ignore_ascii_case(
        b"etup operation",
        b"setup operation"
    ));
    assert!(outcome_failed(b"x setup operation didn't complete"));
    assert!(outcome_failed(b"The setup operation did not complete."));
    // A first "did" that says something else does not hide the sentence after it.
    assert!(outcome_failed(
        b"setup operation did start; setup operation didn't complete"
    ));
    assert!(!outcome_failed(b"setup operation did complete"));
    assert!(!outcome_failed(b"setup operation did"));
}

#[test]
fn the_failed_command_is_taken_after_a_straight_quote_first_then_a_curly_one() {
    let curly_then_straight = "error was generated when \u{201c}a\u{201d}; error was generated when \"b\" was run: \"x\".";
    assert_eq!(command_start(curly_then_straight), Some(("b".into(), true)));
    assert_eq!(
        command_start("The following error was generated when \u{201c}c\u{201d} was run: x"),
        Some(("c".into(), true))
    );
    assert_eq!(
        command_start("The following error was generated when \"$error.Clear();"),
        Some(("$error.Clear();".into(), false))
    );
    assert_eq!(
        command_start("error was generated when nothing quoted"),
        None
    );
}

fn runs_of(sink: &Sink) -> Vec<&SetupRun> {
    sink.facts
        .iter()
        .filter_map(|f| match &f.kind {
            FactKind::SetupRun(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn errors_of(sink: &Sink) -> Vec<&SetupError> {
    sink.facts
        .iter()
        .filter_map(|f| match &f.kind {
            FactKind::SetupError(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn kept_lines(text: &str, patterns: &[&str]) -> Vec<(u64, String)> {
    let set = LineSet::new(patterns).unwrap();
    let mut sink = Sink::default();
    let mut r = text.as_bytes();
    parse_reader(
        &mut r,
        "setup/ExchangeSetup.log",
        1 << 20,
        Some(&set),
        &mut sink,
    )
    .unwrap();
    sink.facts
        .iter()
        .filter_map(|f| match &f.kind {
            FactKind::SetupLine(l) => Some((l.line, l.text.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_log_without_its_header_is_a_run_whose_start_is_unknown() {
    let log = "[01-27-2021 13:40:29.0619] [2] Beginning processing initialize-DomainPermissions\n\
                   [01-27-2021 19:20:41.0882] [1] [ERROR] Failed to create a connection.\n\
                   [01-27-2021 19:20:41.0913] [1] Setup is stopping now because of one or more critical errors.\n\
                   [01-27-2021 19:20:41.0944] [0] End of Setup\n";
    let sink = run(log);
    let runs = runs_of(&sink);
    assert_eq!(runs.len(), 1);
    let r = runs[0];
    assert!(!r.header);
    assert_eq!(
        r.start.map(|t| t.to_string()).as_deref(),
        Some("2021-01-27 13:40:29.061900")
    );
    assert_eq!(r.outcome, RunOutcome::Failed);
    assert!(r.notes.iter().any(|n| n.contains("start is unknown")));
    assert!(errors_of(&sink)[0].critical);
}

/// The notes of the log's one run, after checking that it started on `date`.
fn run_started_on(log: &str, date: &str) -> Vec<String> {
    let sink = run(log);
    let r = runs_of(&sink)[0];
    assert_eq!(
        r.start.map(|t| t.date().to_string()).as_deref(),
        Some(date),
        "{log}"
    );
    r.notes.clone()
}

#[test]
fn day_first_dates_are_read_day_first_when_the_file_proves_it() {
    let log = "[13.03.2021 10:00:00.0000] [0] Starting Microsoft Exchange Server 2016 Setup\n\
                   [14.03.2021 10:00:00.0000] [1] [ERROR] boom\n";
    let notes = run_started_on(log, "2021-03-13");
    assert!(notes.is_empty(), "{notes:?}");
    // Nothing proves the order: setup's month-first order, said in the run's notes.
    let log = "[03.10.2021 10:27:33.0852] [1] Installing a new product.\n\
                   [03.10.2021 10:29:41.0997] [1] [ERROR] Installing product failed.\n";
    let notes = run_started_on(log, "2021-03-10");
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("dates read month first (03/10/2021 read as 10 March 2021)"))
    );
    // A European time zone does not make them day first (setup writes month first with the
    // culture's separator); the note names the zone.
    let log = "[03.10.2021 10:27:33.0852] [0] Local time zone: (UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna.\n\
                   [03.10.2021 10:29:41.0997] [1] [ERROR] Installing product failed.\n";
    let notes = run_started_on(log, "2021-03-10");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("month first") && n.contains("(UTC+01:00) Amsterdam")),
        "{notes:?}"
    );
    // Only day-first keeps these lines in time order: 12 Jan, then 1 Feb.
    let log = "[12/01/2021 23:59:00.0000] [0] Starting Microsoft Exchange Server 2019 Setup\n\
                   [01/02/2021 00:01:00.0000] [0] Setup version: 15.2.1118.7.\n";
    let notes = run_started_on(log, "2021-01-12");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("day first") && n.contains("time order"))
    );
}

#[test]
fn errors_past_the_cap_are_counted_and_the_log_is_read_in_part() {
    let mut log = String::from(
        "[01/01/2020 10:00:00.0000] [0] Starting Microsoft Exchange Server 2016 Setup\n",
    );
    for i in 0..MAX_ERRORS_PER_RUN + 3 {
        log.push_str(&format!(
            "[01/01/2020 10:00:01.0000] [1] [ERROR] error {i}\n"
        ));
        log.push_str("[01/01/2020 10:00:01.0000] [1] Ending processing x\n");
    }
    let sink = run(&log);
    assert_eq!(errors_of(&sink).len(), MAX_ERRORS_PER_RUN);
    assert_eq!(runs_of(&sink)[0].error_count, MAX_ERRORS_PER_RUN + 3);
    assert!(sink.incomplete.unwrap().starts_with("3 [ERROR] block(s)"));
    // At the cap, nothing is absorbed.
    let sink = run(SEED);
    assert_eq!(sink.incomplete, None);
}

#[test]
fn entries_joined_on_one_line_are_split() {
    let sink = run(
        "[07/01/2020] [1] [ERROR] Database is mandatory on UserMailbox. [07/01/2020] [1] [ERROR-REFERENCE] Id=SystemAttendantDependent___04cc Component=EXCHANGE14:\\Current\n",
    );
    let e = errors_of(&sink);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].messages, ["Database is mandatory on UserMailbox."]);
    assert_eq!(
        e[0].reference_id.as_deref(),
        Some("SystemAttendantDependent___04cc")
    );
}

#[test]
fn lines_without_brackets_or_level_are_read() {
    let log = "[01/24/2021 17:30:48.0403] [2] [ERROR] Length of the access control list exceed the allowed maximum.\n\
                   01/24/2021 17:30:50.0794 The following 1 error(s) occurred during task execution:\n\
                   01/24/2021 17:30:50.0810 [ERROR] The following error was generated when \"$error.Clear();\n\
                   initialize-DomainPermissions\n\
                   \" was run: \"System.OverflowException: Length of the access control list exceed the allowed maximum.\n\
                   at System.Security.AccessControl.RawAcl.InsertAce(Int32 index, GenericAce ace)\".\n\
                   01/24/2021 17:30:50.0810 Setup is stopping now because of one or more critical errors.\n";
    let sink = run(log);
    let e = errors_of(&sink);
    assert_eq!(e.len(), 2);
    assert_eq!(
        e[1].command.as_deref(),
        Some("$error.Clear();\ninitialize-DomainPermissions")
    );
    assert!(e[1].messages[0].starts_with("System.OverflowException: Length"));
    assert!(e[1].messages[0].ends_with("GenericAce ace)"));
    assert!(e[1].critical);
}

#[test]
fn console_text_is_read_as_a_best_effort_run() {
    let text = "Error:\n\
                    The following error was generated when \"$error.Clear();\n\
                    if ($RoleStartTransportService)\n\
                    {\n\
                    start-SetupService -ServiceName FMS\n\
                    }\n\
                    \" was run: \"Service 'FMS' failed to reach status 'Running' on this server.\".\n";
    let sink = run(text);
    let r = runs_of(&sink)[0];
    assert_eq!(
        (r.start, r.header, r.outcome),
        (None, false, RunOutcome::Failed)
    );
    assert!(r.notes.iter().any(|n| n.contains("console")));
    let e = errors_of(&sink);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].command
            .as_deref()
            .unwrap()
            .contains("start-SetupService -ServiceName FMS")
    );
    assert_eq!(
        e[0].messages,
        ["Service 'FMS' failed to reach status 'Running' on this server"]
    );
    // Hard-wrapped console text: the message starts on the line after `was run:`.
    let text = "The following error was generated when \"$error.Clear();\n\
                    New-OwaMailboxPolicy -Name \"Default\"\n\
                    \" was run:\n\
                    \"Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException: Active\n\
                    Directory operation failed. The object 'CN=Default' already exists.\".\n";
    let sink = run(text);
    let e = errors_of(&sink);
    assert_eq!(
        e[0].messages,
        [
            "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException: Active Directory operation failed. The object 'CN=Default' already exists"
        ]
    );
    // Retyped: `Was run:` opening a line, without the quote.
    let text = "The following error was generated when \"$error.Clear();\n\
                    initialize-ExchangeUniversalGroups\n\
                    Was run: Microsoft.Exchange.Data.Directory.SuitabilityDirectoryException: error 0x51\n";
    let e = errors_of(&run(text))
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(
        e[0].command.as_deref(),
        Some("$error.Clear();\ninitialize-ExchangeUniversalGroups")
    );
    assert!(e[0].messages[0].contains("0x51"));
}

#[test]
fn localised_service_text_and_readiness_lines_are_setup_text() {
    let sink =
        run("サービス 'MSExchangeTransport' は状態 'Running' に到達できませんでした。\n失敗\n");
    assert_eq!(runs_of(&sink).len(), 1);
    assert_eq!(errors_of(&sink).len(), 1);
    let sink = run(
        "Failed [Rule:GlobalUpdateRequired] [Message:Global updates need to be made.]\n\
                        Failed [Rule:AdInitErrorRule] [Message:Setup encountered a problem.]\n",
    );
    assert_eq!(runs_of(&sink).len(), 1);
    // A header quoted without its prefix opens the run the stamped lines continue.
    let sink = run("Starting Microsoft Exchange Server 2019 Setup\n\
                        [11.14.2022 17:13:08.0074] [0] **********************************************\n\
                        [11.14.2022 17:13:08.0081] [0] Setup version: 15.2.1118.7.\n");
    let runs = runs_of(&sink);
    assert_eq!(runs.len(), 1);
    assert!(runs[0].header);
    assert_eq!(runs[0].product, "2019");
    assert_eq!(
        runs[0].start.map(|t| t.date().to_string()).as_deref(),
        Some("2022-11-14")
    );
    assert!(runs[0].notes.is_empty(), "{:?}", runs[0].notes);
}

#[test]
fn messages_in_blocks_and_warnings_reach_the_rules() {
    let log = "[03/23/2021 12:45:49.0244] [1] [ERROR] The following error was generated when \"$error.Clear();\n\
                   Get-Mailbox -Arbitration\n\
                   \" was run: \"Microsoft.Exchange.Data.DataValidationException: Database is mandatory on UserMailbox.\n\
                   at Microsoft.Exchange.Data.Directory.X()\".\n\
                   [12/05/2022 12:22:06.0939] [0] [WARNING] Cannot open log for source 'MSExchangeSetup'.\n";
    let kept = kept_lines(
        log,
        &[
            r"^\[ERROR\] Database is mandatory on UserMailbox",
            r"^\[ERROR\] Microsoft\.Exchange\.Data\.DataValidationException: ",
            r"^\[WARNING\] Cannot open log",
            r"^at Microsoft\.Exchange\.Data\.Directory\.X",
        ],
    );
    let mut lines: Vec<u64> = kept.iter().map(|k| k.0).collect();
    lines.sort();
    assert_eq!(lines, [3, 3, 4, 5], "{kept:?}");
}

#[test]
fn a_file_that_is_no_setup_log_is_refused_saying_what_it_holds() {
    let mut sink = Sink::default();
    let mut r: &[u8] = b"Name,Status\nMSExchangeIS,Running\n";
    let e = parse_reader(&mut r, "setup/ExchangeSetup.log", 1 << 20, None, &mut sink)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("expected `[MM/DD/YYYY HH:MM:SS.ffff] [N]"),
        "{e}"
    );
    assert!(e.contains("`Name,Status` / `MSExchangeIS,Running`"), "{e}");
}
