//! Turns the table that `examples/compare.rs` prints into an SVG bar chart: one bar per row, its
//! length the row's median time, its label the strategy and its paired ratio. allockit's rows are
//! drawn in one colour, the peers in another, so that each strategy sits beside what it is
//! measured against.
//!
//! ```text
//! cargo run --release --example compare -- churn > churn.md
//! cargo run --example chart < churn.md > docs/charts/churn.svg
//! ```

use std::fmt::Write as _;
use std::io::Read;

/// The peers of allockit's strategies, as `compare` names them.
const PEERS: [&str; 7] = [
    "mimalloc",
    "bumpalo",
    "bump_scope",
    "bump_scope_str",
    "minifree",
    "minifree_str",
    "platform_ref",
];

/// One bar: its label, its value, and whether it is a peer's.
struct Bar {
    label: String,
    value: f64,
    peer: bool,
}

/// Escapes the characters that XML gives a meaning.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn main() {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .expect("the table on standard input");
    let title = input.lines().next().unwrap_or("").trim().to_string();
    let mut unit = "ns per step";
    let mut bars = Vec::new();
    for line in input.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.iter().any(|c| c.starts_with("---")) {
            continue;
        }
        if cells.contains(&"strategy") {
            if cells.contains(&"ms per round") {
                unit = "ms per round";
            }
            continue;
        }
        // `threads` rows start with the thread count.
        let (prefix, cells) = match cells[0].parse::<usize>() {
            Ok(t) => (format!("T={t} "), &cells[1..]),
            Err(_) => (String::new(), &cells[..]),
        };
        let [name, _, value, _, paired, ..] = cells else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let label = if paired.is_empty() {
            format!("{prefix}{name}")
        } else {
            format!("{prefix}{name} ({paired})")
        };
        bars.push(Bar {
            label,
            value,
            peer: PEERS.contains(name) || *name == "platform",
        });
    }
    assert!(!bars.is_empty(), "no table rows on standard input");

    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max);
    let (label_width, bar_width, row, top) = (380.0, 360.0, 22.0, 48.0);
    let width = label_width + bar_width + 80.0;
    let height = top + row * bars.len() as f64 + 30.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
        escape(&title)
    );
    let _ = writeln!(
        svg,
        r##"<text x="10" y="38" fill="#555">{unit}, shorter is faster; allockit in blue, the platform and the peers in grey; paired ratio in brackets</text>"##
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = top + row * i as f64;
        let length = if max > 0.0 {
            bar.value / max * bar_width
        } else {
            0.0
        };
        let colour = if bar.peer { "#9a9a9a" } else { "#2f6db5" };
        let _ = writeln!(
            svg,
            r#"<text x="{x}" y="{ty}" text-anchor="end">{label}</text><rect x="{bx}" y="{y}" width="{length:.1}" height="{h}" fill="{colour}"/><text x="{vx:.1}" y="{ty}">{value}</text>"#,
            x = label_width - 6.0,
            ty = y + 13.0,
            label = escape(&bar.label),
            bx = label_width,
            h = row - 6.0,
            vx = label_width + length + 4.0,
            value = bar.value,
        );
    }
    svg.push_str("</svg>\n");
    print!("{svg}");
}
