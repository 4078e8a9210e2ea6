//! The chain as a diagram: the root cause on the left, what it explains to the right, one
//! column per depth, an arrow from each finding to those it explains directly. Inline SVG; each
//! box links to the finding's evidence further down the page.

use super::Ids;
use crate::diagnosis::{Diagnosis, RootCause};
use crate::report::view::{self, ChainNode};
use maud::{Markup, html};

/// The width the page gives a diagram; wider diagrams are scaled down to it.
const FIT_W: f64 = 1030.0;
const MAX_BOX_W: f64 = 240.0;
const MIN_BOX_W: f64 = 170.0;
const COL_GAP: f64 = 40.0;
const ROW_GAP: f64 = 14.0;
const PAD: f64 = 10.0;
/// Title font size; 20 px of each box go to the colour strip and margins.
const TEXT_PX: f64 = 12.5;
const MAX_LINES: usize = 5;
const LINE_H: f64 = 14.5;

/// Box size for a diagram of `cols` columns: as wide as fits the page, as tall as the longest
/// title needs.
struct Geometry {
    box_w: f64,
    box_h: f64,
    text_w: f64,
    lines: usize,
}

impl Geometry {
    fn new(cols: usize, titles: &[&str]) -> Self {
        let box_w = ((FIT_W - 2.0 * PAD - (cols - 1) as f64 * COL_GAP) / cols as f64)
            .clamp(MIN_BOX_W, MAX_BOX_W);
        let text_w = box_w - 20.0;
        let lines = titles
            .iter()
            .map(|t| wrap(t, text_w, MAX_LINES).len())
            .max()
            .unwrap_or(1)
            .clamp(2, MAX_LINES);
        Geometry {
            box_w,
            box_h: 30.0 + lines as f64 * LINE_H,
            text_w,
            lines,
        }
    }
}

struct Node {
    key: String,
    title: String,
    kind: String,
    severity: String,
    depth: usize,
    /// Column drawn in: the depth, or further right inside a grid of leaves.
    col: usize,
    row: f64,
    parent: Option<usize>,
    /// Drawn inside its parent's grid of leaves, which gets one arrow for all.
    in_grid: bool,
}

/// Leaves (findings that explain nothing further) under one finding, drawn as a grid.
struct Grid {
    parent: usize,
    cols: (usize, usize),
    rows: (f64, f64),
}

/// More leaves than this under one finding are drawn in a grid instead of one tall column.
const STACK: usize = 4;
const GRID_COLS: usize = 3;

/// Lays the tree out: leaves take consecutive rows in depth-first order, a parent sits midway
/// between its first and last child, so arrows never cross. A finding that explains many
/// findings which explain nothing further gets them as a grid, not one very tall column.
fn layout(d: &Diagnosis, rc: &RootCause) -> (Vec<Node>, Vec<Grid>) {
    struct Ctx<'d> {
        d: &'d Diagnosis,
        next_row: f64,
        out: Vec<Node>,
        grids: Vec<Grid>,
    }
    fn node(cx: &Ctx<'_>, n: &ChainNode<'_>, parent: usize) -> Node {
        let f = cx.d.finding(&n.link.key);
        Node {
            key: n.link.key.clone(),
            title: node_label(&n.link.title),
            kind: f.map_or("symptom".into(), |f| view::label(&f.kind)),
            severity: f.map_or(String::new(), |f| view::label(&f.severity)),
            depth: n.link.depth,
            col: n.link.depth,
            row: 0.0,
            parent: Some(parent),
            in_grid: false,
        }
    }
    /// Places the children of `me` (at column `col`) and returns the row `me` sits on.
    fn children(cx: &mut Ctx<'_>, kids: &[ChainNode<'_>], me: usize, col: usize) -> f64 {
        if kids.is_empty() {
            let r = cx.next_row;
            cx.next_row += 1.0;
            return r;
        }
        let leaves: Vec<&ChainNode<'_>> = kids.iter().filter(|k| k.children.is_empty()).collect();
        let grid = leaves.len() > STACK;
        // Findings that explain more are stacked first; many leaves go in a grid below them.
        let mut rows: Vec<f64> = kids
            .iter()
            .filter(|k| !(grid && k.children.is_empty()))
            .map(|k| {
                let n = node(cx, k, me);
                let col = n.col;
                let i = cx.out.len();
                cx.out.push(n);
                let r = children(cx, &k.children, i, col);
                cx.out[i].row = r;
                r
            })
            .collect();
        if grid {
            let cols = leaves.len().div_ceil(STACK).min(GRID_COLS);
            let top = cx.next_row;
            for (i, k) in leaves.iter().enumerate() {
                let mut n = node(cx, k, me);
                n.col = col + 1 + i % cols;
                n.row = top + (i / cols) as f64;
                n.in_grid = true;
                cx.out.push(n);
            }
            let bottom = top + leaves.len().div_ceil(cols) as f64 - 1.0;
            cx.next_row = bottom + 1.0;
            cx.grids.push(Grid {
                parent: me,
                cols: (col + 1, col + cols),
                rows: (top, bottom),
            });
            rows.extend([top, bottom]);
        }
        match (rows.first(), rows.last()) {
            (Some(a), Some(b)) => (a + b) / 2.0,
            _ => 0.0,
        }
    }
    let mut cx = Ctx {
        d,
        next_row: 0.0,
        out: vec![Node {
            key: rc.key.clone(),
            title: node_label(&rc.title),
            kind: "cause".into(),
            severity: view::label(&rc.severity),
            depth: 0,
            col: 0,
            row: 0.0,
            parent: None,
            in_grid: false,
        }],
        grids: Vec::new(),
    };
    let tree = view::chain_tree(rc);
    let root_row = children(&mut cx, &tree, 0, 0);
    cx.out[0].row = if tree.is_empty() { 0.0 } else { root_row };
    (cx.out, cx.grids)
}

/// A chain node's words: the title without parenthesised paths and lists (they are in the
/// report below), so what tells nodes apart (the virtual directory, the service) fits the box.
pub(super) fn node_label(title: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut group = String::new();
    for c in title.chars() {
        match c {
            '(' => {
                depth += 1;
                if depth == 1 {
                    group.clear();
                }
                group.push(c);
            }
            ')' if depth > 0 => {
                group.push(c);
                depth -= 1;
                if depth == 0 {
                    // Counts and versions stay ("(1310 ×45)", "(v14)"); names and lists go.
                    let short = group.chars().count() <= 14 && !group.contains('\\');
                    if short {
                        out.push_str(&group);
                    }
                    group.clear();
                }
            }
            c if depth > 0 => group.push(c),
            c => out.push(c),
        }
    }
    out.push_str(&group);
    // A path keeps its last component: the DLL, the file.
    out.split_whitespace()
        .map(|w| {
            if w.matches('\\').count() >= 2 {
                w.rsplit('\\').next().unwrap_or(w)
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" :", ":")
        .replace(" ,", ",")
        .replace(" ;", ";")
}

/// Approximate advance of a character in em for Arial-like sans fonts (Liberation Sans, Arial,
/// Helvetica; Segoe UI is close). Enough to wrap titles inside a box without measuring text.
fn char_em(c: char) -> f64 {
    match c {
        'i' | 'l' | 'j' | '\'' | '|' | '!' => 0.23,
        ' ' | 'f' | 't' | 'r' | 'I' | '.' | ',' | ':' | ';' | '/' | '\\' | '(' | ')' | '['
        | ']' | '-' => 0.32,
        'm' | 'M' | 'W' | '%' | '@' => 0.86,
        'w' => 0.74,
        'A'..='Z' => 0.68,
        c if c.is_ascii() => 0.56,
        c if (c as u32) >= 0x2E80 => 1.0,
        _ => 0.62,
    }
}

/// Width of `s` in px at `TEXT_PX`.
pub(super) fn text_px(s: &str) -> f64 {
    s.chars().map(char_em).sum::<f64>() * TEXT_PX
}

/// Word-wraps `s` into at most `lines` lines no wider than `max_px`, ending with `…` if cut.
pub(super) fn wrap(s: &str, max_px: f64, lines: usize) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in s.split_whitespace() {
        // A word wider than a line (a path, a dotted name) is broken after a separator
        // (`.`, `\`, `/`, `-`), never inside a name; only a separator-free run is cut.
        let mut piece = String::new();
        let mut last_sep: Option<usize> = None;
        let mut prev_lower = false;
        for c in w.chars() {
            // A capital after a small letter starts a new part of a CamelCase name.
            if prev_lower && c.is_ascii_uppercase() && last_sep.is_none_or(|i| i < piece.len()) {
                last_sep = Some(piece.len());
            }
            prev_lower = c.is_ascii_lowercase();
            if !piece.is_empty() && text_px(&piece) + char_em(c) * TEXT_PX > max_px {
                match last_sep.filter(|&i| i > 0 && i < piece.len()) {
                    Some(i) => {
                        let rest = piece.split_off(i);
                        words.push(std::mem::replace(&mut piece, rest));
                    }
                    None => words.push(std::mem::take(&mut piece)),
                }
                last_sep = None;
            }
            piece.push(c);
            if matches!(c, '.' | '\\' | '/' | '-' | '_') {
                last_sep = Some(piece.len());
            }
        }
        if !piece.is_empty() {
            words.push(piece);
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cut = false;
    for w in words {
        if !cur.is_empty() && text_px(&format!("{cur} {w}")) > max_px {
            out.push(std::mem::take(&mut cur));
            if out.len() == lines {
                cut = true;
                break;
            }
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(&w);
    }
    if !cut && !cur.is_empty() {
        out.push(cur);
    }
    if cut && let Some(last) = out.last_mut() {
        while !last.is_empty() && text_px(&format!("{last}…")) > max_px {
            last.pop();
        }
        *last = format!("{}…", last.trim_end());
    }
    out
}

/// The diagram of one root cause; `n` keeps marker ids unique when there are several.
pub fn diagram(d: &Diagnosis, rc: &RootCause, ids: &Ids, n: usize) -> Markup {
    let (nodes, grids) = layout(d, rc);
    let cols = nodes.iter().map(|n| n.col).max().unwrap_or(0) + 1;
    let rows = nodes.iter().map(|n| n.row).fold(0.0, f64::max) + 1.0;
    let titles: Vec<&str> = nodes.iter().map(|n| n.title.as_str()).collect();
    let g = Geometry::new(cols, &titles);
    let (box_w, box_h) = (g.box_w, g.box_h);
    let width = PAD * 2.0 + cols as f64 * box_w + (cols - 1) as f64 * COL_GAP;
    let height = PAD * 2.0 + rows * box_h + (rows - 1.0) * ROW_GAP;
    let col_x = |c: usize| PAD + c as f64 * (box_w + COL_GAP);
    let row_y = |r: f64| PAD + r * (box_h + ROW_GAP);
    let x = |n: &Node| col_x(n.col);
    let y = |n: &Node| row_y(n.row);
    let marker = format!("arrow-{n}");
    let label = format!(
        "Chain of {}: {} finding(s) explained",
        rc.title,
        nodes.len() - 1
    );
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="chain" role="img" aria-label=(label)
            width=(fmt(width)) height=(fmt(height))
            viewBox=(format!("0 0 {} {}", fmt(width), fmt(height))) {
            defs {
                marker id=(marker) viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"
                    markerHeight="7" orient="auto-start-reverse" {
                    path d="M0,0 L10,5 L0,10 z" fill="#8c959f" {}
                }
            }
            @for gr in &grids {
                @let p = &nodes[gr.parent];
                @let gx = col_x(gr.cols.0) - 8.0;
                @let gy = row_y(gr.rows.0) - 8.0;
                @let gw = col_x(gr.cols.1) + box_w - col_x(gr.cols.0) + 16.0;
                @let gh = row_y(gr.rows.1) + box_h - row_y(gr.rows.0) + 16.0;
                rect x=(fmt(gx)) y=(fmt(gy)) width=(fmt(gw)) height=(fmt(gh)) rx="10"
                    fill="#f6f8fa" stroke="#d1d9e0" stroke-dasharray="4 3" {}
                @let (x1, y1) = (x(p) + box_w, y(p) + box_h / 2.0);
                @let (x2, y2) = (gx - 2.0, gy + gh / 2.0);
                @let mid = (x1 + x2) / 2.0;
                path d=(format!("M{} {} C{} {} {} {} {} {}", fmt(x1), fmt(y1), fmt(mid), fmt(y1), fmt(mid), fmt(y2), fmt(x2), fmt(y2)))
                    fill="none" stroke="#8c959f" stroke-width="1.6"
                    marker-end=(format!("url(#{marker})")) {}
            }
            @for c in nodes.iter().filter(|c| !c.in_grid) {
                @if let Some(p) = c.parent.map(|p| &nodes[p]) {
                    @let (x1, y1) = (x(p) + box_w, y(p) + box_h / 2.0);
                    @let (x2, y2) = (x(c) - 2.0, y(c) + box_h / 2.0);
                    @let mid = (x1 + x2) / 2.0;
                    path d=(format!("M{} {} C{} {} {} {} {} {}", fmt(x1), fmt(y1), fmt(mid), fmt(y1), fmt(mid), fmt(y2), fmt(x2), fmt(y2)))
                        fill="none" stroke="#8c959f" stroke-width="1.6"
                        marker-end=(format!("url(#{marker})")) {}
                }
            }
            @for c in &nodes {
                @let (bx, by) = (x(c), y(c));
                @let color = kind_color(&c.kind);
                a href=(ids.href(&c.key)) {
                    title { (c.title) " (" (c.key) ")" }
                    rect x=(fmt(bx)) y=(fmt(by)) width=(fmt(box_w)) height=(fmt(box_h)) rx="6"
                        fill=(if c.depth == 0 { "#fdeeee" } else { "#ffffff" })
                        stroke=(color) stroke-width=(if c.depth == 0 { "2" } else { "1.2" }) {}
                    rect x=(fmt(bx)) y=(fmt(by)) width="6" height=(fmt(box_h)) rx="3" fill=(color) {}
                    text x=(fmt(bx + 16.0)) y=(fmt(by + 17.0)) font-size="10" font-weight="700"
                        letter-spacing="0.8" fill=(color) {
                        (if c.depth == 0 { "ROOT CAUSE".to_string() } else { c.kind.to_uppercase() })
                        @if !c.severity.is_empty() { " · " (c.severity.to_uppercase()) }
                    }
                    @for (i, line) in wrap(&c.title, g.text_w, g.lines).iter().enumerate() {
                        text x=(fmt(bx + 16.0)) y=(fmt(by + 34.0 + i as f64 * LINE_H))
                            font-size=(fmt(TEXT_PX)) fill="#1f2328" { (line) }
                    }
                }
            }
        }
    }
}

pub(super) fn kind_color(kind: &str) -> &'static str {
    match kind {
        "cause" => "#c4232f",
        "symptom" => "#b35900",
        "risk" => "#7a3fd1",
        _ => "#57606a",
    }
}

/// Coordinates with one decimal at most: smaller files, stable output.
pub(super) fn fmt(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_on_words_and_marks_a_cut() {
        let w = text_px("aaaa");
        assert_eq!(wrap("a bb ccc", w * 1.2, 3), ["a bb", "ccc"]);
        assert_eq!(wrap("aaaa bbbb cccc dddd", w, 2), ["aaaa", "bb…"]);
        assert_eq!(wrap("aaaabbbbcc", w, 3), ["aaaa", "bbbb", "cc"]);
        assert!(wrap("", w, 3).is_empty());
        // Capitals are wider than small letters: fewer fit on a line.
        assert!(
            wrap("MSEXCHANGESERVICEHOST", 60.0, 9).len()
                > wrap("msexchangeservicehost", 60.0, 9).len()
        );
        for line in wrap(
            "MSExchangeMailSubmission (Microsoft Exchange Mail Submission) starts",
            146.0,
            5,
        ) {
            assert!(text_px(&line) <= 146.0, "{line}");
        }
    }

    #[test]
    fn parents_sit_between_their_children() {
        let d = crate::report::testing::rich();
        let rc = &d.root_causes[0];
        let (nodes, grids) = layout(&d, rc);
        assert_eq!(nodes.len(), rc.chain.len() + 1);
        // The failed run explains a deeper chain and many leaves: the leaves get a grid, the
        // chain keeps its arrows.
        assert_eq!(grids.len(), 1);
        assert!(nodes.iter().any(|n| n.key == "fixture-roles" && !n.in_grid));
        for (i, n) in nodes.iter().enumerate() {
            let kids: Vec<f64> = nodes
                .iter()
                .filter(|c| c.parent == Some(i))
                .map(|c| c.row)
                .collect();
            if let (Some(a), Some(b)) = (kids.first(), kids.last()) {
                assert_eq!(n.row, (a + b) / 2.0, "{}", n.key);
            }
            if let Some(p) = n.parent {
                assert_eq!(nodes[p].depth + 1, n.depth);
            }
        }
        // Two leaves at depth 4 under the tokens finding: two rows at least.
        assert!(nodes.iter().any(|n| n.depth == 4));
    }

    #[test]
    fn many_leaves_under_one_finding_become_a_grid() {
        use crate::diagnosis::ChainLink;
        let d = crate::report::testing::seed();
        let mut rc = d.root_causes[0].clone();
        let link = |key: String, depth, via: &str| ChainLink {
            title: key.clone(),
            key,
            depth,
            via: via.into(),
        };
        rc.chain = vec![link("mid".into(), 1, &rc.key)];
        rc.chain
            .extend((0..12).map(|i| link(format!("leaf{i}"), 2, "mid")));
        let (nodes, grids) = layout(&d, &rc);
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0].cols, (2, 4), "three columns right of `mid`");
        assert_eq!(grids[0].rows, (0.0, 3.0), "four rows");
        // Every cell is used once.
        let mut cells: Vec<(usize, u64)> = nodes
            .iter()
            .filter(|n| n.in_grid)
            .map(|n| (n.col, n.row as u64))
            .collect();
        cells.sort();
        cells.dedup();
        assert_eq!(cells.len(), 12);
        // The finding with the grid sits level with the grid's middle.
        assert_eq!(nodes[1].row, 1.5);
        // Fewer leaves stay a column with an arrow each.
        rc.chain.truncate(1 + STACK);
        let (nodes, grids) = layout(&d, &rc);
        assert!(grids.is_empty());
        assert!(nodes.iter().all(|n| !n.in_grid && n.col == n.depth));
    }
}
