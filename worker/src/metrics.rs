//! Prometheus metrics in the text exposition format: counters and gauges with labels, and
//! stage latencies as summaries (`_sum` and `_count`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Summary,
}

struct Family {
    kind: Kind,
    help: &'static str,
    /// Label string (`a="x",b="y"`) → value; summaries keep `(sum, count)`.
    series: BTreeMap<String, (f64, u64)>,
}

/// The worker's metrics.
pub struct Metrics {
    families: Mutex<BTreeMap<&'static str, Family>>,
}

/// Every metric, its kind and help, declared in one place.
const DECLARED: &[(&str, Kind, &str)] = &[
    ("cmkt_worker_jobs_total", Kind::Counter, "Jobs by outcome (claimed, committed, revealed, settled verdicts, refused, failed)."),
    ("cmkt_worker_skipped_total", Kind::Counter, "Open jobs not claimed, by reason."),
    ("cmkt_worker_earned_total", Kind::Counter, "Rewards received, payment-mint base units."),
    ("cmkt_worker_slashed_total", Kind::Counter, "Collateral lost, stake-mint base units."),
    ("cmkt_worker_bounty_total", Kind::Counter, "Slash bounties earned by cranking, stake-mint base units."),
    ("cmkt_worker_fuel_used_total", Kind::Counter, "Fuel used by executed jobs."),
    ("cmkt_worker_claim_price_total", Kind::Counter, "Prices the claims locked, summed (payment-mint base units; divide by the claimed jobs for the mean)."),
    ("cmkt_worker_claim_floor_total", Kind::Counter, "This worker's price floors for the jobs it claimed, summed (payment-mint base units)."),
    ("cmkt_worker_last_claim_price", Kind::Gauge, "The price the latest claim locked (payment-mint base units)."),
    ("cmkt_worker_transactions_total", Kind::Counter, "Transactions sent, by instruction and result."),
    ("cmkt_worker_crank_total", Kind::Counter, "Crank actions on other providers' jobs."),
    ("cmkt_worker_deliveries_total", Kind::Counter, "Deliveries of verified results to the programs their jobs named, by result (delivered, already, consumer_refused, too_costly, failed, no_output)."),
    ("cmkt_worker_rpc_errors_total", Kind::Counter, "Failed RPC calls (endpoint unreachable or erroring)."),
    ("cmkt_worker_stage_seconds", Kind::Summary, "Latency of each stage: pickup (post to claim), fetch, compile (module_load when the module came from the disk cache), price_wait (for a rising offer to reach the floor), eligibility_wait, execute, claim, commit, reveal, finalize."),
    ("cmkt_worker_in_flight", Kind::Gauge, "Jobs claimed and not yet committed."),
    ("cmkt_worker_pending", Kind::Gauge, "Journal entries not finished (committed, awaiting reveal or settlement)."),
    ("cmkt_worker_waiting", Kind::Gauge, "Unfinished entries the tracker backs off on while they wait on the chain."),
    ("cmkt_worker_refused_total", Kind::Counter, "Transactions the program refused as part of normal operation (a race lost, a job someone else moved on), by instruction and error."),
    ("cmkt_worker_websocket_connected", Kind::Gauge, "1 while the program subscription is live, 0 while polling."),
    ("cmkt_worker_up", Kind::Gauge, "1 while the worker accepts jobs, 0 once shutting down."),
];

fn labels(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', " ");
            format!("{k}=\"{v}\"")
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl Default for Metrics {
    fn default() -> Self {
        let families = DECLARED
            .iter()
            .map(|&(name, kind, help)| {
                (
                    name,
                    Family {
                        kind,
                        help,
                        series: BTreeMap::new(),
                    },
                )
            })
            .collect();
        Metrics {
            families: Mutex::new(families),
        }
    }
}

impl Metrics {
    fn update(&self, name: &'static str, pairs: &[(&str, &str)], f: impl FnOnce(&mut (f64, u64))) {
        let mut families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let family = families
            .get_mut(name)
            .unwrap_or_else(|| panic!("metric {name} is not declared"));
        f(family.series.entry(labels(pairs)).or_insert((0.0, 0)));
    }

    /// Adds `by` to a counter.
    pub fn add(&self, name: &'static str, pairs: &[(&str, &str)], by: f64) {
        self.update(name, pairs, |v| v.0 += by);
    }

    /// Adds one to a counter.
    pub fn inc(&self, name: &'static str, pairs: &[(&str, &str)]) {
        self.add(name, pairs, 1.0);
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, value: f64) {
        self.update(name, &[], |v| v.0 = value);
    }

    /// Records one observation of a stage's latency.
    pub fn observe(&self, stage: &str, d: Duration) {
        self.update("cmkt_worker_stage_seconds", &[("stage", stage)], |v| {
            v.0 += d.as_secs_f64();
            v.1 += 1;
        });
    }

    /// A counter's or gauge's current value (0 when never set).
    pub fn value(&self, name: &'static str, pairs: &[(&str, &str)]) -> f64 {
        let families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        families
            .get(name)
            .and_then(|f| f.series.get(&labels(pairs)))
            .map_or(0.0, |v| v.0)
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for (name, f) in families.iter() {
            let kind = match f.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Summary => "summary",
            };
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} {kind}", f.help);
            if f.series.is_empty() && f.kind != Kind::Summary {
                let _ = writeln!(out, "{name} 0");
            }
            for (l, (v, count)) in &f.series {
                let braces = |l: &str| {
                    if l.is_empty() {
                        String::new()
                    } else {
                        format!("{{{l}}}")
                    }
                };
                if f.kind == Kind::Summary {
                    let _ = writeln!(out, "{name}_sum{} {v}", braces(l));
                    let _ = writeln!(out, "{name}_count{} {count}", braces(l));
                } else {
                    let _ = writeln!(out, "{name}{} {v}", braces(l));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every metric name the worker's sources use is declared: an undeclared one panics at its
    /// first update, inside whichever task made it.
    #[test]
    fn every_metric_the_sources_name_is_declared() {
        fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    sources(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs")
                    && p.file_name().is_some_and(|n| n != "metrics.rs")
                {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let declared: Vec<&str> = DECLARED.iter().map(|d| d.0).collect();
        let mut used = 0;
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (i, _) in text.match_indices("\"cmkt_worker_") {
                let name: String = text[i + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                used += 1;
                assert!(
                    declared.contains(&name.as_str()),
                    "{name} (in {}) is not declared in DECLARED",
                    f.display()
                );
            }
        }
        assert!(used > 20, "the scan found the metric names ({used})");
    }

    #[test]
    fn renders_the_exposition_format() {
        let m = Metrics::default();
        m.inc("cmkt_worker_jobs_total", &[("outcome", "agreed")]);
        m.inc("cmkt_worker_jobs_total", &[("outcome", "agreed")]);
        m.add("cmkt_worker_earned_total", &[], 975.0);
        m.set("cmkt_worker_websocket_connected", 1.0);
        m.observe("execute", Duration::from_millis(250));
        m.observe("execute", Duration::from_millis(750));
        m.inc("cmkt_worker_skipped_total", &[("reason", "say \"no\"")]);
        let text = m.render();
        assert!(text.contains("# TYPE cmkt_worker_jobs_total counter\n"));
        assert!(text.contains("cmkt_worker_jobs_total{outcome=\"agreed\"} 2\n"));
        assert!(text.contains("cmkt_worker_earned_total 975\n"));
        assert!(text.contains("cmkt_worker_websocket_connected 1\n"));
        assert!(text.contains("cmkt_worker_stage_seconds_sum{stage=\"execute\"} 1\n"));
        assert!(text.contains("cmkt_worker_stage_seconds_count{stage=\"execute\"} 2\n"));
        assert!(text.contains("reason=\"say \\\"no\\\"\""));
        assert!(text.contains("cmkt_worker_slashed_total 0\n"));
        assert_eq!(
            m.value("cmkt_worker_jobs_total", &[("outcome", "agreed")]),
            2.0
        );
    }
}
