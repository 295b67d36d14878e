//! Prometheus metrics: the text exposition format (version 0.0.4) that the JobManager and each
//! TaskManager serve at `/metrics`. Families are gathered first and written grouped, as the
//! format requires; label values are escaped. What each process exposes is gathered by
//! `weir-jobmanager` and `weir-taskmanager`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether a family counts up (resets only with its process) or goes up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic: Prometheus takes rates of it.
    Counter,
    /// A value now.
    Gauge,
}

struct Family {
    help: &'static str,
    kind: Kind,
    samples: Vec<(String, f64)>,
}

/// Metrics being gathered for one scrape.
#[derive(Default)]
pub struct Exposition {
    families: BTreeMap<&'static str, Family>,
}

impl Exposition {
    /// Adds a sample of family `name` (`help` and `kind` describe the family; the first call
    /// for a name fixes them).
    pub fn add(
        &mut self,
        (name, kind, help): (&'static str, Kind, &'static str),
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let mut rendered = String::new();
        if !labels.is_empty() {
            rendered.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    rendered.push(',');
                }
                let _ = write!(rendered, "{label}=\"{}\"", escape(value));
            }
            rendered.push('}');
        }
        self.families
            .entry(name)
            .or_insert_with(|| Family {
                help,
                kind,
                samples: Vec::new(),
            })
            .samples
            .push((rendered, value));
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, family) in &self.families {
            let kind = match family.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in &family.samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        }
        out
    }
}

/// Adds this process's resident memory (Linux: `VmRSS` of `/proc/self/status`), if known.
pub fn add_process_memory(metrics: &mut Exposition, labels: &[(&str, &str)]) {
    if let Some(rss) = resident_bytes() {
        metrics.add(
            (
                "weir_process_resident_bytes",
                Kind::Gauge,
                "Resident memory of the process.",
            ),
            labels,
            rss as f64,
        );
    }
}

/// This process's resident memory (Linux: `VmRSS` of `/proc/self/status`), if known.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Seconds from `watermark` (ms since the epoch) to now: how far event time is behind.
pub fn watermark_lag_seconds(watermark: i64) -> f64 {
    (weir_state::clock::now_ms().saturating_sub(watermark)) as f64 / 1e3
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A source's place and lag in one partition of its input (Kafka's consumer lag), labelled
/// `labels` plus its topic and partition.
pub fn add_partition_lag(
    metrics: &mut Exposition,
    labels: &[(&str, &str)],
    lag: &weir_proto::progress::PartitionLag,
) {
    let partition = lag.partition.to_string();
    let mut labels = labels.to_vec();
    labels.extend([
        ("topic", lag.topic.as_str()),
        ("partition", partition.as_str()),
    ]);
    let labels = labels.as_slice();
    metrics.add(
        (
            "weir_source_partition_lag",
            Kind::Gauge,
            "Messages in a source's partition after its next offset (Kafka consumer lag).",
        ),
        labels,
        lag.lag as f64,
    );
    metrics.add(
        (
            "weir_source_partition_offset",
            Kind::Gauge,
            "The next offset a source reads in a partition.",
        ),
        labels,
        lag.offset as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_grouped_and_labels_escaped() {
        let mut metrics = Exposition::default();
        let records = ("weir_records_total", Kind::Counter, "Records.");
        metrics.add(records, &[("vertex", "a \"b\"\n")], 3.0);
        metrics.add(("weir_up", Kind::Gauge, "Up."), &[], 1.0);
        metrics.add(records, &[("vertex", "c\\d")], 4.0);
        assert_eq!(
            metrics.render(),
            "# HELP weir_records_total Records.\n# TYPE weir_records_total counter\n\
             weir_records_total{vertex=\"a \\\"b\\\"\\n\"} 3\n\
             weir_records_total{vertex=\"c\\\\d\"} 4\n\
             # HELP weir_up Up.\n# TYPE weir_up gauge\nweir_up 1\n"
        );
    }
}
