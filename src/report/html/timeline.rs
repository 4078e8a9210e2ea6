//! The timeline chart: setup runs as bars from start to end, coloured by outcome, and a
//! numbered marker at every finding's time. Inline SVG.
//!
//! Setup logs span years (the original install, each service pack) while the failure plays out
//! in minutes, so one linear axis would crush the interesting part into a pixel. The axis is
//! broken instead: times closer than [`GAP_HOURS`] form one segment, each segment gets its own
//! linear scale, and segments with a failure or a finding get more room.

use super::Ids;
use super::chain::fmt;
use crate::diagnosis::{Diagnosis, RunSummary};
use crate::facts::Finding;
use crate::report::view;
use chrono::{DateTime, Duration, TimeZone, Utc};
use maud::{Markup, html};

const WIDTH: f64 = 1120.0;
const LEFT: f64 = 96.0;
const RIGHT: f64 = 8.0;
const BREAK: f64 = 30.0;
const GAP_HOURS: i64 = 6;
const BAR_H: f64 = 24.0;
const LANE_H: f64 = 32.0;
const MARK_R: f64 = 9.0;
const MARK_ROW: f64 = 24.0;
const MIN_SPAN_MINUTES: i64 = 10;

/// A stretch of time drawn with one linear scale.
struct Segment {
    t0: DateTime<Utc>,
    t1: DateTime<Utc>,
    x: f64,
    w: f64,
}

impl Segment {
    fn x_of(&self, t: DateTime<Utc>) -> f64 {
        let total = (self.t1 - self.t0).num_milliseconds().max(1) as f64;
        let off = (t - self.t0).num_milliseconds() as f64;
        self.x + (off / total).clamp(0.0, 1.0) * self.w
    }
}

/// A dated finding, numbered in time order.
pub struct Mark<'a> {
    pub number: usize,
    pub time: DateTime<Utc>,
    pub finding: &'a Finding,
}

/// Findings with a time, in time order, numbered from 1.
pub fn marks(d: &Diagnosis) -> Vec<Mark<'_>> {
    let mut dated: Vec<(DateTime<Utc>, &Finding)> = d
        .findings
        .iter()
        .filter_map(|f| f.time.map(|t| (t, f)))
        .collect();
    dated.sort_by_key(|(t, _)| *t);
    dated
        .into_iter()
        .enumerate()
        .map(|(i, (time, finding))| Mark {
            number: i + 1,
            time,
            finding,
        })
        .collect()
}

/// Where a run's bar ends; runs of console text, without any time, are not drawn.
fn run_end(r: &RunSummary) -> Option<DateTime<Utc>> {
    let start = r.start_utc?;
    Some(r.end_utc.unwrap_or(start).max(start))
}

/// Groups the intervals into segments and shares the width among them.
fn segments(d: &Diagnosis, marks: &[Mark<'_>]) -> Vec<Segment> {
    // (start, end, important)
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>, bool)> = d
        .runs
        .iter()
        .filter_map(|r| {
            Some((
                r.start_utc?,
                run_end(r)?,
                view::label(&r.outcome) != "completed",
            ))
        })
        .chain(marks.iter().map(|m| (m.time, m.time, true)))
        .collect();
    spans.sort_by_key(|s| s.0);
    let mut groups: Vec<(DateTime<Utc>, DateTime<Utc>, bool)> = Vec::new();
    for (s, e, imp) in spans {
        match groups.last_mut() {
            Some(g) if s <= g.1 + Duration::hours(GAP_HOURS) => {
                g.1 = g.1.max(e);
                g.2 |= imp;
            }
            _ => groups.push((s, e, imp)),
        }
    }
    let weights: Vec<f64> = groups.iter().map(|g| if g.2 { 3.0 } else { 1.0 }).collect();
    let total: f64 = weights.iter().sum();
    let avail = WIDTH - LEFT - RIGHT - BREAK * (groups.len().saturating_sub(1)) as f64;
    let mut x = LEFT;
    groups
        .iter()
        .zip(weights)
        .map(|(g, w)| {
            let (mut t0, mut t1) = (g.0, g.1);
            let min = Duration::minutes(MIN_SPAN_MINUTES);
            if t1 - t0 < min {
                let mid = t0 + (t1 - t0) / 2;
                t0 = mid - min / 2;
                t1 = mid + min / 2;
            }
            // A little air on both sides so markers at the edges are not cut.
            let pad = (t1 - t0) / 25;
            let seg = Segment {
                t0: t0 - pad,
                t1: t1 + pad,
                x,
                w: avail * w / total,
            };
            x += seg.w + BREAK;
            seg
        })
        .collect()
}

fn segment_of(segs: &[Segment], t: DateTime<Utc>) -> Option<&Segment> {
    segs.iter().find(|s| t >= s.t0 && t <= s.t1).or_else(|| {
        segs.iter().min_by_key(|s| {
            (s.t0 - t)
                .num_seconds()
                .abs()
                .min((s.t1 - t).num_seconds().abs())
        })
    })
}

/// Tick times and labels for a segment, about one per 90 px.
fn ticks(s: &Segment) -> Vec<(DateTime<Utc>, String)> {
    const STEPS: [i64; 14] = [
        1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080,
    ];
    let minutes = (s.t1 - s.t0).num_minutes().max(1);
    let max_ticks = (s.w / 90.0).floor().max(1.0) as i64;
    let step = STEPS
        .iter()
        .copied()
        .find(|st| minutes / st <= max_ticks)
        .unwrap_or(43200);
    let first = s.t0.timestamp().div_euclid(step * 60) * step * 60 + step * 60;
    let mut out = Vec::new();
    let mut t = first;
    while t <= s.t1.timestamp() && out.len() < 50 {
        if let Some(dt) = Utc.timestamp_opt(t, 0).single() {
            let label = if step >= 1440 {
                dt.format("%m-%d").to_string()
            } else {
                dt.format("%H:%M").to_string()
            };
            out.push((dt, label));
        }
        t += step * 60;
    }
    out
}

pub fn outcome_color(outcome: &str) -> &'static str {
    match outcome {
        "completed" => "#2d9a4e",
        "failed" => "#c4232f",
        "interrupted" => "#d98c00",
        _ => "#8c959f",
    }
}

pub fn severity_color(severity: &str) -> &'static str {
    match severity {
        "critical" => "#8b0b1f",
        "high" => "#c4232f",
        "medium" => "#b35900",
        "low" => "#8a6d00",
        _ => "#57606a",
    }
}

/// Overlapping runs (two setup logs at once) go on separate lanes.
fn lanes(runs: &[RunSummary]) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by_key(|&i| runs[i].start_utc);
    let mut lane_end: Vec<DateTime<Utc>> = Vec::new();
    let mut lane = vec![0; runs.len()];
    for i in order {
        let r = &runs[i];
        let (Some(start), Some(end)) = (r.start_utc, run_end(r)) else {
            continue;
        };
        match lane_end.iter().position(|e| *e < start) {
            Some(l) => {
                lane[i] = l;
                lane_end[l] = end;
            }
            None => {
                lane[i] = lane_end.len();
                lane_end.push(end);
            }
        }
    }
    (lane, lane_end.len().max(1))
}

pub fn chart(d: &Diagnosis, marks: &[Mark<'_>], ids: &Ids) -> Markup {
    let segs = segments(d, marks);
    let (lane, lane_count) = lanes(&d.runs);
    let top = 40.0;
    let runs_h = lane_count as f64 * LANE_H;
    // Markers that would overlap move down a row.
    let mut rows_last: Vec<f64> = Vec::new();
    let placed: Vec<(f64, usize)> = marks
        .iter()
        .map(|m| {
            let x = segment_of(&segs, m.time).map_or(LEFT, |s| s.x_of(m.time));
            let row = match rows_last.iter().position(|last| x - last >= MARK_R * 2.4) {
                Some(r) => r,
                None if rows_last.len() < 6 => {
                    rows_last.push(f64::MIN);
                    rows_last.len() - 1
                }
                None => rows_last.len() - 1,
            };
            rows_last[row] = x;
            (x, row)
        })
        .collect();
    let mark_top = top + runs_h + 18.0;
    let mark_rows = rows_last.len().max(1) as f64;
    let axis_y = mark_top + mark_rows * MARK_ROW + 4.0;
    let height = axis_y + 34.0;
    let label = format!(
        "Timeline: {} setup run(s) and {} dated finding(s)",
        d.runs.len(),
        marks.len()
    );
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" aria-label=(label)
            width=(fmt(WIDTH)) height=(fmt(height))
            viewBox=(format!("0 0 {} {}", fmt(WIDTH), fmt(height)))
            font-family="-apple-system, 'Segoe UI', 'Noto Sans', 'DejaVu Sans', Arial, sans-serif" {
            // Lane names.
            text x="0" y=(fmt(top + BAR_H / 2.0 + 4.0)) font-size="12" fill="#59636e" font-weight="600" { "Setup runs" }
            @if !marks.is_empty() {
                text x="0" y=(fmt(mark_top + MARK_R + 3.0)) font-size="12" fill="#59636e" font-weight="600" { "Findings" }
            }
            @for (i, s) in segs.iter().enumerate() {
                // Segment background, date heading and ticks.
                rect x=(fmt(s.x)) y=(fmt(top - 8.0)) width=(fmt(s.w)) height=(fmt(axis_y - top + 8.0))
                    fill="#f6f8fa" rx="4" {}
                text x=(fmt(s.x + 4.0)) y="20" font-size="12" font-weight="700" fill="#1f2328" {
                    (segment_heading(s))
                }
                line x1=(fmt(s.x)) x2=(fmt(s.x + s.w)) y1=(fmt(axis_y)) y2=(fmt(axis_y)) stroke="#8c959f" {}
                @for (t, label) in ticks(s) {
                    @let tx = s.x_of(t);
                    line x1=(fmt(tx)) x2=(fmt(tx)) y1=(fmt(top - 8.0)) y2=(fmt(axis_y + 4.0))
                        stroke="#d8dee4" stroke-width="1" {}
                    text x=(fmt(tx)) y=(fmt(axis_y + 17.0)) font-size="11" fill="#59636e" text-anchor="middle" { (label) }
                }
                @if i > 0 {
                    // The break between segments: time skipped.
                    @let bx = s.x - BREAK / 2.0;
                    path d=(format!("M{} {} l6 -10 M{} {} l6 -10", fmt(bx - 6.0), fmt(axis_y + 5.0), fmt(bx), fmt(axis_y + 5.0)))
                        stroke="#59636e" stroke-width="1.4" {}
                }
            }
            @for (i, r) in d.runs.iter().enumerate() {
                @if let Some((start, end, s)) = r.start_utc.zip(run_end(r)).and_then(|(a, b)| Some((a, b, segment_of(&segs, a)?))) {
                    @let x0 = s.x_of(start);
                    @let x1 = s.x_of(end).max(x0 + 4.0);
                    @let y = top + lane[i] as f64 * LANE_H;
                    @let outcome = view::label(&r.outcome);
                    g {
                        title { (run_tooltip(r)) }
                        rect x=(fmt(x0)) y=(fmt(y)) width=(fmt(x1 - x0)) height=(fmt(BAR_H)) rx="4"
                            fill=(outcome_color(&outcome)) {}
                        @let text = fit_label(r, x1 - x0 - 12.0);
                        @if !text.is_empty() {
                            text x=(fmt(x0 + 6.0)) y=(fmt(y + 16.0)) font-size="11.5" fill="#ffffff" font-weight="600" { (text) }
                        }
                    }
                }
            }
            // Guide lines first, so no line is drawn over another finding's marker.
            @for (m, (x, row)) in marks.iter().zip(&placed) {
                @let cy = mark_top + *row as f64 * MARK_ROW + MARK_R;
                line x1=(fmt(*x)) x2=(fmt(*x)) y1=(fmt(top - 4.0)) y2=(fmt(cy - MARK_R))
                    stroke=(severity_color(&view::label(&m.finding.severity)))
                    stroke-width="1" stroke-dasharray="3 3" {}
            }
            @for (m, (x, row)) in marks.iter().zip(&placed) {
                @let cy = mark_top + *row as f64 * MARK_ROW + MARK_R;
                @let color = severity_color(&view::label(&m.finding.severity));
                a href=(ids.href(&m.finding.key())) {
                    title { "#" (m.number) " " (view::time(m.time)) ": " (m.finding.title) }
                    circle cx=(fmt(*x)) cy=(fmt(cy)) r=(fmt(MARK_R)) fill=(color) stroke="#ffffff" stroke-width="1.5" {}
                    text x=(fmt(*x)) y=(fmt(cy + 3.8)) font-size="10.5" font-weight="700" fill="#ffffff" text-anchor="middle" { (m.number) }
                }
            }
        }
    }
}

fn segment_heading(s: &Segment) -> String {
    // The padded edges are not part of the data: name the days the data covers.
    let (a, b) = (s.t0.date_naive(), s.t1.date_naive());
    if a == b {
        a.format("%Y-%m-%d").to_string()
    } else {
        format!("{} → {}", a.format("%Y-%m-%d"), b.format("%m-%d"))
    }
}

fn run_label(r: &RunSummary) -> String {
    let mut s = format!("Run {}", r.index + 1);
    if let Some(v) = &r.version {
        s.push_str(" · ");
        s.push_str(v);
    }
    if let Some(m) = &r.mode {
        s.push(' ');
        s.push_str(m);
    }
    s.push_str(" · ");
    s.push_str(&view::label(&r.outcome));
    if let Some(t) = &r.failed_task {
        s.push_str(" at ");
        s.push_str(t);
    }
    s
}

fn run_tooltip(r: &RunSummary) -> String {
    format!(
        "{} ({}) — {} to {} — {} error(s) — {}",
        run_label(r),
        r.product,
        r.start_utc
            .map(view::time)
            .unwrap_or_else(|| "an unknown time".into()),
        r.end_utc
            .map(view::time)
            .unwrap_or_else(|| "no end marker".into()),
        r.errors,
        r.locator
    )
}

/// The longest of a run's labels that fits whole: the full one, then shorter forms (number and
/// build, the build, the number), so a label is never cut mid-word.
fn fit_label(r: &RunSummary, px: f64) -> String {
    let full = run_label(r);
    let number = format!("Run {}", r.index + 1);
    let mut forms = vec![full];
    if let Some(v) = &r.version {
        forms.push(format!("{number} · {v}"));
        forms.push(v.clone());
    }
    forms.push(number);
    let max = (px / 6.6).floor().max(0.0) as usize;
    forms
        .into_iter()
        .find(|f| f.chars().count() <= max)
        .unwrap_or_default()
}

/// Cuts a label to what fits in `px` at 11.5 px (about 6.6 px a character).
#[cfg(test)]
fn fit(s: &str, px: f64) -> String {
    let max = (px / 6.6).floor().max(0.0) as usize;
    if s.chars().count() <= max {
        s.to_string()
    } else if max < 4 {
        String::new()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_years_apart_get_their_own_segments_and_the_failure_more_room() {
        let d = crate::report::testing::rich();
        let m = marks(&d);
        let segs = segments(&d, &m);
        // The seed's three runs are in 2010, 2011 and 2012; the findings are in the 2012 run.
        assert_eq!(
            segs.len(),
            3,
            "{:?}",
            segs.iter().map(|s| s.t0).collect::<Vec<_>>()
        );
        assert!(segs[2].w > segs[0].w * 2.5);
        // Every run and every mark falls inside a segment, within the plot.
        for r in &d.runs {
            let start = r.start_utc.expect("the seed's runs have a start");
            let s = segment_of(&segs, start).expect("a segment");
            assert!(start >= s.t0 && run_end(r).expect("an end") <= s.t1);
        }
        for mk in &m {
            let x = segment_of(&segs, mk.time).expect("a segment").x_of(mk.time);
            assert!((LEFT..=WIDTH - RIGHT).contains(&x));
        }
        let last = segs.last().expect("segments");
        assert!((last.x + last.w - (WIDTH - RIGHT)).abs() < 0.01);
    }

    #[test]
    fn marks_are_numbered_in_time_order() {
        let d = crate::report::testing::rich();
        let m = marks(&d);
        assert!(m.len() >= 4);
        assert!(m.windows(2).all(|w| w[0].time <= w[1].time));
        assert_eq!(m[0].number, 1);
    }

    #[test]
    fn ticks_are_inside_their_segment_and_not_crowded() {
        let t0 = Utc.with_ymd_and_hms(2012, 2, 12, 9, 41, 7).unwrap();
        let s = Segment {
            t0,
            t1: t0 + Duration::minutes(98),
            x: 0.0,
            w: 600.0,
        };
        let t = ticks(&s);
        assert!(!t.is_empty() && t.len() <= 7, "{t:?}");
        assert!(t.iter().all(|(x, _)| *x >= s.t0 && *x <= s.t1));
        assert_eq!(t[0].1, "09:45");
    }

    #[test]
    fn labels_are_cut_to_fit() {
        assert_eq!(fit("abcdef", 100.0), "abcdef");
        assert_eq!(fit("abcdefghijklmnop", 40.0), "abcde…");
        assert_eq!(fit("abcdefghijklmnop", 10.0), "");
    }
}
