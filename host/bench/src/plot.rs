//! `weir bench --plot`: the runs of the results file drawn as an SVG chart — per workload, the
//! median records/s of Weir and of the peer measured in the same session (the newest session
//! that ran it), with their ratio; and, where a session ran a workload at several
//! parallelisms, its throughput per parallelism.

use crate::peer::median;
use crate::results::RunRecord;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// (workload, engine, parallelism) → the median records/s of its runs in the chosen session.
type Medians = BTreeMap<(String, String, u32), f64>;

/// For each workload, the session whose runs of it `rank` highest (sessions it gives no rank
/// are left out); the medians of those runs.
fn medians<K: Ord>(runs: &[RunRecord], rank: impl Fn(&[&RunRecord]) -> Option<K>) -> Medians {
    let mut sessions: BTreeMap<(&str, u64), Vec<&RunRecord>> = BTreeMap::new();
    for run in runs {
        sessions
            .entry((run.workload.as_str(), run.session))
            .or_default()
            .push(run);
    }
    let mut chosen: BTreeMap<&str, (K, &Vec<&RunRecord>)> = BTreeMap::new();
    for ((workload, _), session) in &sessions {
        let Some(rank) = rank(session) else { continue };
        if chosen.get(workload).is_none_or(|(best, _)| rank > *best) {
            chosen.insert(workload, (rank, session));
        }
    }
    let mut rates: BTreeMap<(String, String, u32), Vec<f64>> = BTreeMap::new();
    for (_, session) in chosen.values() {
        for run in session.iter() {
            rates
                .entry((run.workload.clone(), run.engine.clone(), run.parallelism))
                .or_default()
                .push(run.records_per_second);
        }
    }
    rates
        .into_iter()
        .map(|(key, rates)| (key, median(rates)))
        .collect()
}

/// Engines compared at parallelism 1: per workload the newest session with a peer's runs, else
/// the newest with Weir's alone.
fn side_by_side(runs: &[RunRecord]) -> Medians {
    let mut chosen = medians(runs, |s| {
        let peer = s.iter().any(|r| r.engine != "weir" && r.parallelism == 1);
        s.iter()
            .any(|r| r.parallelism == 1)
            .then_some((peer, s[0].session))
    });
    chosen.retain(|(_, _, p), _| *p == 1);
    chosen
}

/// The newest session that ran a workload at several parallelisms.
fn scaling(runs: &[RunRecord]) -> Medians {
    medians(runs, |s| {
        s.iter()
            .any(|r| r.parallelism != s[0].parallelism)
            .then_some(s[0].session)
    })
}

/// Escapes `text` for SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const WIDTH: f64 = 760.0;
const LABEL: f64 = 230.0;
const BAR: f64 = 16.0;
const COLOURS: [(&str, &str); 2] = [("weir", "#2563eb"), ("flink", "#f97316")];

/// A bar of `rate` (of the chart's largest, `max`) at height `y`, labelled.
fn bar(svg: &mut String, y: f64, rate: f64, max: f64, colour: &str, label: &str) {
    let width = (WIDTH - LABEL - 200.0) * rate / max.max(1.0);
    let _ = writeln!(
        svg,
        r#"<rect x="{LABEL}" y="{y:.1}" width="{width:.1}" height="{BAR}" fill="{colour}"/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#,
        LABEL + width + 6.0,
        y + 12.5,
        escape(label)
    );
}

/// The chart of `runs` as an SVG document.
pub(crate) fn svg(runs: &[RunRecord]) -> String {
    let (compared, scaled) = (side_by_side(runs), scaling(runs));
    let p1: BTreeMap<&str, BTreeMap<&str, f64>> =
        compared
            .iter()
            .fold(BTreeMap::new(), |mut by, ((workload, engine, _), rate)| {
                by.entry(workload.as_str())
                    .or_default()
                    .insert(engine.as_str(), *rate);
                by
            });
    let scaled: BTreeMap<&str, Vec<(u32, f64)>> = scaled
        .iter()
        .filter(|((_, engine, _), _)| engine == "weir")
        .fold(BTreeMap::new(), |mut by, ((workload, _, p), rate)| {
            by.entry(workload.as_str()).or_default().push((*p, *rate));
            by
        });
    let scaled: Vec<(&str, Vec<(u32, f64)>)> =
        scaled.into_iter().filter(|(_, ps)| ps.len() > 1).collect();
    let rows = p1.len() + scaled.iter().map(|(_, ps)| ps.len()).sum::<usize>();
    let height = 70.0 + rows as f64 * (2.0 * BAR + 14.0) + 60.0 * (scaled.len() as f64 + 1.0);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="10" y="24" font-size="16" font-weight="bold">Weir vs Apache Flink 2.3, same session, parallelism 1 (median records/s)</text><rect x="{LABEL}" y="34" width="12" height="12" fill="{}"/><text x="{}" y="45" font-size="12">Weir</text><rect x="{}" y="34" width="12" height="12" fill="{}"/><text x="{}" y="45" font-size="12">Flink</text>"#,
        COLOURS[0].1,
        LABEL + 16.0,
        LABEL + 70.0,
        COLOURS[1].1,
        LABEL + 86.0
    );
    let mut y = 60.0;
    for (workload, engines) in &p1 {
        let max = engines.values().copied().fold(0.0, f64::max);
        let _ = writeln!(
            svg,
            r#"<text x="10" y="{:.1}" font-size="13">{}</text>"#,
            y + BAR + 4.0,
            escape(workload)
        );
        let weir = engines.get("weir").copied();
        for (i, (engine, colour)) in COLOURS.iter().enumerate() {
            let Some(&rate) = engines.get(engine) else {
                continue;
            };
            let mut label = format!("{:.2} M/s", rate / 1e6);
            if let (1, Some(weir)) = (i, weir) {
                let _ = write!(label, " (Weir {:.2}x)", weir / rate);
            }
            bar(
                &mut svg,
                y + i as f64 * (BAR + 2.0),
                rate,
                max,
                colour,
                &label,
            );
        }
        if !engines.contains_key("flink") {
            let _ = writeln!(
                svg,
                r#"<text x="{LABEL}" y="{:.1}" font-size="11" fill="gray">no Flink run in this session</text>"#,
                y + 2.0 * BAR + 12.0
            );
        }
        y += 2.0 * BAR + 24.0;
    }
    if !scaled.is_empty() {
        y += 20.0;
        let _ = writeln!(
            svg,
            r#"<text x="10" y="{y:.1}" font-size="16" font-weight="bold">Weir throughput vs parallelism (2 cores)</text>"#
        );
        y += 16.0;
        for (workload, points) in &scaled {
            let max = points.iter().map(|(_, r)| *r).fold(0.0, f64::max);
            let base = points.first().map_or(1.0, |(_, r)| *r);
            for (p, rate) in points {
                let label = format!("p={p}: {:.2} M/s ({:.2}x p=1)", rate / 1e6, rate / base);
                let _ = writeln!(
                    svg,
                    r#"<text x="10" y="{:.1}" font-size="13">{} p={p}</text>"#,
                    y + 12.5,
                    escape(workload)
                );
                bar(&mut svg, y, *rate, max, COLOURS[0].1, &label);
                y += BAR + 8.0;
            }
            y += 12.0;
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(session: u64, engine: &str, workload: &str, p: u32, rate: f64) -> RunRecord {
        RunRecord {
            session,
            engine: engine.into(),
            workload: workload.into(),
            parallelism: p,
            events: 1,
            records_per_second: rate,
        }
    }

    #[test]
    fn each_workload_is_drawn_from_its_newest_session_with_the_ratio_of_medians() {
        let runs = [
            run(1, "weir", "W2 (b)", 1, 1e6),
            run(2, "weir", "W2 (b)", 1, 9e6),
            run(2, "weir", "W2 (b)", 1, 12e6),
            run(2, "weir", "W2 (b)", 1, 10e6),
            run(2, "flink", "W2 (b)", 1, 5e6),
            run(1, "weir", "W3 memory", 1, 2e6),
            run(1, "weir", "W3 memory", 2, 3e6),
        ];
        let compared = side_by_side(&runs);
        assert_eq!(compared[&("W2 (b)".into(), "weir".into(), 1)], 10e6);
        // A newer session without the peer does not hide the side-by-side one.
        let mut later = runs.to_vec();
        later.push(run(3, "weir", "W2 (b)", 1, 1e6));
        later.push(run(3, "weir", "W2 (b)", 2, 2e6));
        assert_eq!(
            side_by_side(&later)[&("W2 (b)".into(), "flink".into(), 1)],
            5e6
        );
        assert_eq!(scaling(&later)[&("W2 (b)".into(), "weir".into(), 2)], 2e6);
        let svg = svg(&runs);
        assert!(svg.contains("10.00 M/s"), "{svg}");
        assert!(svg.contains("5.00 M/s (Weir 2.00x)"), "{svg}");
        assert!(svg.contains("p=2: 3.00 M/s (1.50x p=1)"), "{svg}");
        assert!(svg.contains("no Flink run in this session"), "{svg}");
    }
}
