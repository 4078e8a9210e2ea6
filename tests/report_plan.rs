//! The report as a client receives it, over every sample bundle: the recovery plan (no command
//! twice, setup re-run after everything it depends on), the headline (at most 45 words, two
//! sentences), the text tree (the same parents as JSON `via`), no internal words in any format,
//! and the proportions of the seed's report.

mod common;

use exhume::diagnosis::Diagnosis;
use exhume::repair::Phase;
use exhume::report::{Format, Style, render};
use std::path::PathBuf;

/// Every bundle under samples/: the two seed-era zips and every scenario (zip or folder).
fn bundles() -> Vec<PathBuf> {
    let root = common::samples();
    let mut out: Vec<PathBuf> = Vec::new();
    for dir in [root.clone(), root.join("scenarios")] {
        for e in std::fs::read_dir(&dir).expect("samples").flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".zip") || (p.is_dir() && name != "scenarios") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(out.len() >= 30, "{} bundles", out.len());
    out
}

fn all() -> Vec<(PathBuf, Diagnosis)> {
    bundles()
        .into_iter()
        .map(|p| {
            let d = common::analyze(&p).diagnosis;
            (p, d)
        })
        .collect()
}

/// Every command of a plan, split where a step joins several (`a; b`).
fn commands(d: &Diagnosis) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for s in &d.plan {
        if let Some(c) = &s.command {
            for part in c.split("; ") {
                out.push((s.step, part.trim().to_ascii_lowercase()));
            }
        }
    }
    out
}

#[test]
fn plans_say_each_command_once_and_rerun_setup_after_what_it_needs() {
    for (p, d) in all() {
        let name = p.display();
        let cmds = commands(&d);
        for (i, (step, c)) in cmds.iter().enumerate() {
            for (other, c2) in &cmds[i + 1..] {
                // `if (Test-Path …) { … }` holds a `;`-free block: compare whole parts.
                assert!(
                    c != c2,
                    "{name}: `{c}` in steps {step} and {other}:\n{:#?}",
                    d.plan
                );
            }
        }
        let reruns: Vec<usize> = d
            .plan
            .iter()
            .filter(|s| s.phase == Phase::Rerun)
            .map(|s| s.step)
            .collect();
        let Some(&first_rerun) = reruns.first() else {
            continue;
        };
        for s in &d.plan {
            let before = matches!(s.phase, Phase::Backup | Phase::Cause | Phase::Prepare)
                || s.changes.iter().any(|c| c.setup_depends());
            if before && s.phase != Phase::Rerun && s.phase != Phase::LastResort {
                assert!(
                    s.step < first_rerun,
                    "{name}: step {} ({:?}, {:?}) comes after setup is re-run at step {first_rerun}",
                    s.step,
                    s.phase,
                    s.changes
                );
            }
        }
        // Phases never go backwards, and there is one backup and one verification step.
        let phases: Vec<Phase> = d.plan.iter().map(|s| s.phase).collect();
        assert!(
            phases.windows(2).all(|w| w[0] <= w[1]),
            "{name}: {phases:?}"
        );
        assert!(phases.iter().filter(|p| **p == Phase::Backup).count() <= 1);
        assert!(phases.iter().filter(|p| **p == Phase::Verify).count() <= 1);
        for s in &d.plan {
            assert!(
                !s.command.as_deref().unwrap_or("").contains('<'),
                "{name}: a placeholder left in step {}: {:?}",
                s.step,
                s.command
            );
        }
    }
}

#[test]
fn headlines_are_two_sentences_of_at_most_45_words() {
    for (p, d) in all() {
        let v = &d.verdict;
        let words = v.split_whitespace().count();
        assert!(words <= 45, "{}: {words} words: {v}", p.display());
        // Sentences end with ". " followed by a capital; paths and versions do not.
        let sentences = 1 + v
            .match_indices(". ")
            .filter(|(i, _)| v[i + 2..].starts_with(|c: char| c.is_ascii_uppercase()))
            .count();
        assert!(
            sentences <= 2,
            "{}: {sentences} sentences: {v}",
            p.display()
        );
        assert!(
            !v.contains("…") && !v.contains(".."),
            "{}: cut: {v}",
            p.display()
        );
        assert!(!v.contains("(s)"), "{}: {v}", p.display());
    }
}

#[test]
fn no_internal_words_in_any_format() {
    // Names of the test material: the words, and every sample's own name.
    let mut banned: Vec<String> = ["seed", "scenario", "consultant", "sample"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for p in bundles() {
        let stem = p.file_name().unwrap().to_string_lossy().replace(".zip", "");
        banned.push(stem.to_ascii_lowercase());
    }
    for (p, d) in all() {
        let path = d.bundle.path.clone();
        for format in [Format::Text, Format::Md, Format::Html, Format::Json] {
            let style = Style {
                color: false,
                verbose: true,
            };
            // The path the user typed is theirs, not the report's wording.
            let out = render(&d, format, style)
                .replace(&path, "")
                .replace(&path.replace('\\', "\\\\"), "")
                .to_ascii_lowercase();
            for b in &banned {
                assert!(
                    !out.contains(b.as_str()),
                    "{}: {format:?} says {b:?}: …{}…",
                    p.display(),
                    out.find(b.as_str())
                        .map(|i| out[i.saturating_sub(80)..(i + 80).min(out.len())].to_string())
                        .unwrap_or_default()
                );
            }
        }
    }
}

/// The `└` lines of the text report's chain: (indent, title), in order.
fn tree_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for l in text.lines() {
        if l.starts_with("  which explains:") {
            inside = true;
            continue;
        }
        if inside {
            match l.find("└ ") {
                Some(i) if l[..i].chars().all(|c| c == ' ') => {
                    out.push((i, l[i + "└ ".len()..].to_string()));
                }
                _ if l.starts_with("    ") => {} // evidence under a node
                _ => inside = false,
            }
        }
    }
    out
}

#[test]
fn the_text_tree_has_the_parents_of_json_via() {
    for (p, d) in all() {
        for verbose in [true, false] {
            let text = render(
                &d,
                Format::Text,
                Style {
                    color: false,
                    verbose,
                },
            );
            let lines = tree_lines(&text);
            let links: Vec<_> = d.root_causes.iter().flat_map(|r| r.chain.iter()).collect();
            if verbose {
                assert_eq!(lines.len(), links.len(), "{}: {text}", p.display());
            }
            for (i, (indent, title)) in lines.iter().enumerate() {
                // The finding a line stands for, and the one drawn above it.
                let link = links
                    .iter()
                    .find(|l| title.starts_with(&l.title))
                    .unwrap_or_else(|| panic!("{}: no chain link for {title}", p.display()));
                let parent = lines[..i].iter().rev().find(|(j, _)| j < indent);
                match parent {
                    None => assert!(
                        d.root_causes.iter().any(|r| r.key == link.via),
                        "{}: {title} drawn under the root but explained by {}",
                        p.display(),
                        link.via
                    ),
                    Some((_, pt)) => {
                        let parent_link = links
                            .iter()
                            .find(|l| pt.starts_with(&l.title))
                            .expect("parent link");
                        assert_eq!(
                            parent_link.key,
                            link.via,
                            "{}: {title} drawn under {pt}",
                            p.display()
                        );
                    }
                }
            }
        }
    }
}

fn seed() -> Diagnosis {
    common::analyze(&common::samples().join("exchange2010-sp2-servicehost-disabled.zip")).diagnosis
}

#[test]
fn the_seed_plan_is_short_ordered_and_says_who_and_when() {
    let d = seed();
    assert!(d.plan.len() <= 15, "{} steps: {:#?}", d.plan.len(), d.plan);
    let rerun = d
        .plan
        .iter()
        .find(|s| s.phase == Phase::Rerun)
        .expect("setup is re-run");
    let enable = d
        .plan
        .iter()
        .find(|s| {
            s.command.as_deref().is_some_and(|c| {
                c.contains("Set-Service MSExchangeServiceHost -StartupType Automatic")
            })
        })
        .expect("MSExchangeServiceHost re-enabled");
    assert!(enable.step < rerun.step);
    let when = d
        .plan
        .iter()
        .find(|s| s.action.contains("09:30:12"))
        .expect("the plan says when the service was disabled");
    assert!(
        when.action.contains("before setup started") && when.action.contains("setup did not do it"),
        "{}",
        when.action
    );
    assert!(when.step < rerun.step);
    assert_eq!(
        d.plan
            .iter()
            .filter(|s| s.command.as_deref().is_some_and(|c| c.contains("iisreset")))
            .count(),
        1
    );
}

#[test]
fn the_seed_report_fits_a_screen_and_an_email() {
    let d = seed();
    let text = render(&d, Format::Text, Style::default());
    assert!(
        text.lines().count() <= 60,
        "{} lines:\n{text}",
        text.lines().count()
    );
    let md = render(&d, Format::Md, Style::default());
    assert!(
        md.lines().count() <= 150,
        "{} lines:\n{md}",
        md.lines().count()
    );
    let verbose = render(
        &d,
        Format::Text,
        Style {
            color: false,
            verbose: true,
        },
    );
    // --verbose shows every evidence line the default leaves out.
    assert!(verbose.lines().count() > text.lines().count());
    assert!(text.contains("more (--verbose)"));
    for f in &d.findings {
        for e in &f.evidence {
            assert!(verbose.contains(&e.excerpt) || f.kind == exhume::facts::FindingKind::Info);
        }
    }
}
