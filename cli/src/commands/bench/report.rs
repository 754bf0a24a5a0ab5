//! The bench's figures and their Markdown form (BENCHMARKS.md).

use serde::Serialize;
use std::fmt::Write;

#[derive(Serialize, Default)]
pub struct PickupRow {
    pub discovery: String,
    pub jobs: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p50_slots: f64,
    pub p99_slots: f64,
    pub slot_ms: f64,
}

#[derive(Serialize, Default)]
pub struct LatencyRow {
    pub replicas: u8,
    pub quorum: u8,
    pub jobs: usize,
    pub p50_ms: f64,
    pub max_ms: f64,
    /// Successful transactions naming the job, after its post.
    pub txs_min: u64,
    pub txs_max: u64,
}

#[derive(Serialize, Default)]
pub struct ThroughputRow {
    pub workers: usize,
    pub jobs: usize,
    pub secs: f64,
    pub per_minute: f64,
}

#[derive(Serialize, Default)]
pub struct RentRow {
    pub replicas: u8,
    pub open_bytes: u64,
    pub open_lamports: u64,
    pub settled_bytes: u64,
    pub settled_lamports: u64,
}

#[derive(Serialize, Default)]
pub struct SandboxRow {
    pub sample: String,
    pub native_ms: f64,
    pub sandbox_ms: f64,
    pub ratio: f64,
    pub compile_ms: f64,
    pub fuel: u64,
}

/// The tracker's journal work per tick with 10 and with 100 000 finished jobs.
#[derive(Serialize, Default)]
pub struct JournalRow {
    pub pending: usize,
    pub lookups: usize,
    pub tick_10_us: f64,
    pub tick_100k_us: f64,
    /// 100 000 / 10.
    pub ratio: f64,
    pub open_10_ms: f64,
    pub open_100k_ms: f64,
    pub log_100k_bytes: u64,
}

/// Compute units of one instruction at one n, as the runtime measured them: the most any
/// measured call consumed, less its bump searches beyond the first try (which vary with the
/// addresses).
#[derive(Serialize, Default)]
pub struct CuRow {
    pub instruction: String,
    /// 0 for instructions that do not depend on a job.
    pub replicas: u8,
    pub spl_token: u64,
    pub token_2022: u64,
    /// What a client asks for this instruction (`compute_market_client::budget`), before the
    /// allowance for bump searches.
    pub limit: u64,
}

/// The program's binary the run measured.
#[derive(Serialize, Default)]
pub struct ProgramInfo {
    pub bytes: usize,
    pub sha256: String,
}

#[derive(Serialize, Default)]
pub struct Rss {
    pub idle_kib: u64,
    pub busy_peak_kib: u64,
}

#[derive(Serialize, Default)]
pub struct AuditRow {
    pub settlements: u64,
    /// Making them in LiteSVM.
    pub generate_secs: f64,
    /// Starting the local chain with them in its genesis.
    pub start_secs: f64,
    pub fetch_secs: f64,
    pub check_secs: f64,
    pub audit_secs: f64,
    pub cli_secs: f64,
    pub violations: u64,
}

#[derive(Serialize, Default)]
pub struct Report {
    pub command: String,
    pub cpu: String,
    pub cores: usize,
    pub profile: String,
    /// `compute-worker` or `cmkt worker`.
    pub worker: String,
    pub slot_ms: f64,
    pub program: ProgramInfo,
    pub compute_units: Vec<CuRow>,
    pub pickup: Vec<PickupRow>,
    pub latency: Vec<LatencyRow>,
    pub throughput: Vec<ThroughputRow>,
    pub prices: Vec<super::price::PriceRow>,
    pub rent: Vec<RentRow>,
    pub sandbox: Vec<SandboxRow>,
    /// The release-build table of `scripts/bench-sandbox` (sandbox/examples/bench.rs), as
    /// Markdown: ratios to native binaries and what each safeguard costs.
    pub sandbox_release: Option<String>,
    pub rss: Rss,
    pub journal: JournalRow,
    pub audit: AuditRow,
    /// Why the run stopped early, when it did.
    pub failure: Option<String>,
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**short**"
    }
}

fn sol(lamports: u64) -> String {
    format!("{:.6} SOL", lamports as f64 / 1e9)
}

impl Report {
    pub fn new(command: String) -> Report {
        Report {
            command,
            cpu: cpu_model(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            profile: if cfg!(debug_assertions) {
                "debug".into()
            } else {
                "release".into()
            },
            ..Report::default()
        }
    }

    pub fn sandbox_geo_mean(&self) -> f64 {
        if self.sandbox.is_empty() {
            return f64::NAN;
        }
        (self.sandbox.iter().map(|r| r.ratio.ln()).sum::<f64>() / self.sandbox.len() as f64).exp()
    }

    /// BENCHMARKS.md.
    pub fn markdown(&self) -> String {
        let mut m = String::new();
        let w = &mut m;
        let _ = writeln!(w, "# Benchmarks\n");
        let _ = writeln!(
            w,
            "Written by `{} --write BENCHMARKS.md`. Everything below comes from that one run, on \
             {} ({} cores), with a {} build, against the embedded local chain (one in-process \
             validator, slot time {:.0} ms) and real worker processes (`{} run`) talking \
             JSON-RPC and websockets to it. Re-run the command to reproduce; `--quick` gives a \
             smoke run with small samples.\n",
            self.command, self.cpu, self.cores, self.profile, self.slot_ms, self.worker
        );

        if let Some(f) = &self.failure {
            let _ = writeln!(
                w,
                "**This run stopped early**: {f}. Sections it did not reach are empty.\n"
            );
        }
        let push = self.pickup.iter().find(|r| r.discovery.contains("push"));
        let n1 = self.latency.iter().find(|r| r.replicas == 1);
        let geo = self.sandbox_geo_mean();
        let idle_mib = self.rss.idle_kib as f64 / 1024.0;
        let _ = writeln!(w, "## Targets\n");
        let _ = writeln!(w, "| target | measured | |\n|---|---|---|");
        if let Some(p) = push {
            let _ = writeln!(
                w,
                "| pickup p50 ≤ 1 slot with push | {:.1} slots ({:.0} ms) | {} |",
                p.p50_slots,
                p.p50_ms,
                verdict(p.p50_slots <= 1.0)
            );
        }
        if let Some(r) = n1 {
            let _ = writeln!(
                w,
                "| n = 1 settled in ≤ 3 transactions | {} with the post ({} after it) | {} |",
                r.txs_max + 1,
                r.txs_max,
                verdict(r.txs_max < 3)
            );
        }
        let _ = writeln!(
            w,
            "| sandbox ≥ 0.7× native | {geo:.2}× (geometric mean) | {} |",
            verdict(geo >= 0.7)
        );
        let _ = writeln!(
            w,
            "| worker idle RSS ≤ 64 MiB | {idle_mib:.0} MiB | {} |",
            verdict(idle_mib <= 64.0)
        );
        let _ = writeln!(
            w,
            "| journal tick with 100 000 finished jobs ≤ 1.5× that with 10 | {:.2}× | {} |",
            self.journal.ratio,
            verdict(self.journal.ratio > 0.0 && self.journal.ratio <= 1.5)
        );
        let _ = writeln!(
            w,
            "| audit of 10 000 settlements ≤ 5 s | {:.2} s over {} | {} |\n",
            self.audit.audit_secs,
            self.audit.settlements,
            verdict(self.audit.audit_secs <= 5.0 && self.audit.settlements >= 10_000)
        );

        let _ = writeln!(w, "## Compute units\n");
        let _ = writeln!(
            w,
            "Every instruction of the program as shipped (`target/deploy/compute_market.so`, {} \
             bytes, sha256 `{}`), each alone in a transaction in LiteSVM with mainnet's feature \
             set, on a market paying and staking in SPL Token and on one in Token-2022; units as \
             the runtime logs them (`consumed … compute units`, CPIs included), the most of the \
             measured calls, less 1 500 units for each bump tried beyond the first for the PDAs \
             the instruction creates (that part depends on the addresses, so it differs from run \
             to run: up to a few thousand units). Finalize is measured with every replica \
             agreeing and with a bare quorum and the rest slashed (more transfers). The limit is \
             what clients request for the instruction (`client/src/budget.rs`, about 1.25× the \
             need), to which they add the bump searches of the very addresses they use. \
             `tests/tests/compute_units.rs` fails when a call exceeds what its client requests.\n",
            self.program.bytes, self.program.sha256
        );
        let _ = writeln!(
            w,
            "| instruction | n | SPL Token | Token-2022 | limit before bump searches |\n|---|---|---|---|---|"
        );
        for r in &self.compute_units {
            let n = if r.replicas == 0 {
                "–".to_string()
            } else {
                r.replicas.to_string()
            };
            // a delivery's limit comes from simulating it: its consumer's work is its own
            let limit = if r.limit == 0 {
                "simulated".to_string()
            } else {
                r.limit.to_string()
            };
            let _ = writeln!(
                w,
                "| `{}` | {n} | {} | {} | {limit} |",
                r.instruction, r.spl_token, r.token_2022
            );
        }
        let _ = writeln!(w);

        let _ = writeln!(w, "## Pickup: post → claim\n");
        let _ = writeln!(
            w,
            "One worker, one single-replica job at a time posted at random intervals (a seeded \
             schedule). Milliseconds run from the moment the requester saw its post confirmed to \
             the moment it saw the claim (account polled every 25 ms); slots are the claim's slot \
             minus the post's, from `getSignaturesForAddress`. The worker fetches the manifest \
             and blobs and checks the compiled module (cached) before it claims.\n"
        );
        let _ = writeln!(
            w,
            "| discovery | jobs | p50 | p99 | p50 slots | p99 slots | p50 against push |\n|---|---|---|---|---|---|---|"
        );
        for r in &self.pickup {
            let base = push.map_or(f64::NAN, |p| r.p50_ms / p.p50_ms);
            let _ = writeln!(
                w,
                "| {} | {} | {:.0} ms | {:.0} ms | {:.1} | {:.1} | {:.1}× |",
                r.discovery, r.jobs, r.p50_ms, r.p99_ms, r.p50_slots, r.p99_slots, base
            );
        }

        let _ = writeln!(w, "\n## Post → settled\n");
        let _ = writeln!(
            w,
            "Three workers (websocket push, own-job check every 200 ms), one job at a time. \
             Transactions are the successful ones naming the job after its post; a worker's \
             first payout also creates its token account, which is counted when it happens in \
             the same transaction.\n"
        );
        let _ = writeln!(
            w,
            "| n / k | jobs | p50 | max | transactions after the post |\n|---|---|---|---|---|"
        );
        for r in &self.latency {
            let txs = if r.txs_min == r.txs_max {
                r.txs_min.to_string()
            } else {
                format!("{}–{}", r.txs_min, r.txs_max)
            };
            let _ = writeln!(
                w,
                "| {} / {} | {} | {:.0} ms | {:.0} ms | {txs} |",
                r.replicas, r.quorum, r.jobs, r.p50_ms, r.max_ms
            );
        }

        let _ = writeln!(w, "\n## Throughput\n");
        let _ = writeln!(
            w,
            "A batch of single-replica jobs posted at once; time from the first post to the last \
             settlement. Each worker runs up to 2 jobs at once. Workers, validator and bench share \
             the machine's {} cores.\n",
            self.cores
        );
        let _ = writeln!(
            w,
            "| workers | jobs | seconds | jobs settled per minute | against 1 worker |\n|---|---|---|---|---|"
        );
        let one = self.throughput.first().map_or(f64::NAN, |r| r.per_minute);
        for r in &self.throughput {
            let _ = writeln!(
                w,
                "| {} | {} | {:.1} | {:.1} | {:.2}× |",
                r.workers,
                r.jobs,
                r.secs,
                r.per_minute,
                r.per_minute / one
            );
        }

        let _ = writeln!(w, "\n## Price discovery\n");
        let _ = writeln!(
            w,
            "Three workers with price floors of {} tokens (`policy.min_reward`) and single-replica \
             jobs posted at once: rising offers against fixed offers at the same maximum. A worker \
             claims once the price reaches its floor and its eligibility window is open; the claim \
             locks the price of its moment.\n",
            super::price::FLOORS
                .iter()
                .map(|f| format!("{}", *f as f64 / super::TOKEN as f64))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            w,
            "| offer | jobs | mean price | mean floor of the claimer | price / claimer's floor | claimed by the lowest floor | post → claim |\n|---|---|---|---|---|---|---|"
        );
        for r in &self.prices {
            let _ = writeln!(
                w,
                "| {} | {} | {:.2} | {:.2} | {:.2}× | {} of {} | {:.1} s |",
                r.offer,
                r.jobs,
                r.mean_price,
                r.mean_floor,
                r.price_over_floor,
                r.lowest_floor_claims,
                r.jobs,
                r.claim_secs
            );
        }
        if let [rising, fixed] = self.prices.as_slice() {
            let _ = writeln!(
                w,
                "\nRising offers paid {:.2}× what fixed offers at the same maximum paid.",
                rising.mean_price / fixed.mean_price
            );
        }

        let _ = writeln!(w, "\n## Bytes and rent per job\n");
        let _ = writeln!(
            w,
            "While open, the job account holds its own rent plus the deposit for its settlement \
             record (escrow sits in the market's shared vault, so a job has no token account of \
             its own). At settlement the job account closes and its rent returns to the \
             requester; the settlement record stays, for auditors.\n"
        );
        let _ = writeln!(
            w,
            "| n | open: bytes | open: lamports locked | settled: bytes | settled: lamports locked |\n|---|---|---|---|---|"
        );
        for r in &self.rent {
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {} |",
                r.replicas,
                r.open_bytes,
                sol(r.open_lamports),
                r.settled_bytes,
                sol(r.settled_lamports)
            );
        }

        let _ = writeln!(w, "\n## Sandbox against native\n");
        let _ = writeln!(
            w,
            "Each sample's committed module in the worker's executor (wasmtime, runtime wasi-p1v3 \
             as new jobs ask for it: fuel metering and the timeout compiled into the module, NaNs \
             canonicalised where seen) against the same \
             Rust kernel compiled natively at opt-level 3; best of 3; outputs compared byte for \
             byte. Ratio = native time / sandbox time (1.0 = as fast as native).\n"
        );
        let _ = writeln!(
            w,
            "| sample | native | sandbox | native/sandbox | compile | fuel |\n|---|---|---|---|---|---|"
        );
        for r in &self.sandbox {
            let _ = writeln!(
                w,
                "| {} | {:.1} ms | {:.1} ms | {:.2} | {:.0} ms | {} |",
                r.sample, r.native_ms, r.sandbox_ms, r.ratio, r.compile_ms, r.fuel
            );
        }
        let _ = writeln!(w, "| geometric mean | | | {geo:.2} | | |");
        if let Some(table) = &self.sandbox_release {
            let _ = writeln!(w, "\n### Release builds, and what each safeguard costs\n");
            let _ = writeln!(
                w,
                "`scripts/bench-sandbox` in the same run: sandbox/examples/bench.rs built in release \
                 mode against each sample built natively in release mode as its own binary (same \
                 stdin and arguments, outputs compared byte for byte), fastest of interleaved \
                 rounds. The first ratio is runtime `wasi-p1v3`, the one new jobs ask for; the \
                 next two are the runtimes before it (`wasi-p1v2`, metered by wasmtime's fuel and \
                 epoch checks, and `wasi-p1`, which also canonicalises every float result), then \
                 `wasi-p1v3` without counted loops and the SIMD NaN rule (every loop metered per \
                 iteration, vector results canonicalised by Cranelift: the same counts and bits); \
                 the rest switch one safeguard of `wasi-p1v3` off at a time (a measurement only); \
                 \"host calls\" is the share of the \
                 production run spent in WASI calls; \"cached load\" is a fresh executor loading \
                 the module from the disk cache a worker keeps in `<data_dir>/modules`.\n"
            );
            let _ = writeln!(w, "{}", table.trim_end());
        }

        let _ = writeln!(w, "\n## Worker memory\n");
        let _ = writeln!(
            w,
            "Resident set of the worker processes from `/proc`: idle is the largest `VmRSS` of \
             three workers a second after they subscribed; busy is the largest `VmHWM` (peak) \
             after the throughput batches.\n"
        );
        let _ = writeln!(
            w,
            "| idle | busy (peak) |\n|---|---|\n| {:.1} MiB | {:.1} MiB |",
            self.rss.idle_kib as f64 / 1024.0,
            self.rss.busy_peak_kib as f64 / 1024.0
        );

        let j = &self.journal;
        let _ = writeln!(w, "\n## Worker journal\n");
        let _ = writeln!(
            w,
            "What the tracker does with the journal at every tick (read the {} unfinished \
             entries) plus {} \"seen this job?\" lookups, median of 200 ticks, with 10 and with \
             100 000 finished jobs beside them; and opening the journal (a restart), which loads \
             the finished jobs' log ({:.1} MiB for 100 000).\n",
            j.pending,
            j.lookups,
            j.log_100k_bytes as f64 / 1_048_576.0
        );
        let _ = writeln!(
            w,
            "| finished jobs | tick | open |\n|---|---|---|\n| 10 | {:.0} µs | {:.1} ms |\n| 100 000 | {:.0} µs ({:.2}× of 10) | {:.0} ms |",
            j.tick_10_us, j.open_10_ms, j.tick_100k_us, j.ratio, j.open_100k_ms
        );

        let a = &self.audit;
        let _ = writeln!(w, "\n## Audit\n");
        let _ = writeln!(
            w,
            "{} settlements of a market of their own, made by the program in LiteSVM (the Solana \
             VM with the real SPL Token program: a post, then claim, commit, reveal and finalize \
             in one transaction per job) in {:.0} s, then put in the genesis of a fresh local \
             chain, which started in {:.0} s. The audit reads every job, provider and settlement \
             of the market with `getProgramAccounts` and both vault balances over JSON-RPC, then \
             checks every rule.\n",
            a.settlements, a.generate_secs, a.start_secs
        );
        let _ = writeln!(
            w,
            "| reads | checks | audit in all | `cmkt audit --format json` (process) | violations |\n|---|---|---|---|---|\n| {:.2} s | {:.3} s | {:.2} s | {:.2} s | {} |",
            a.fetch_secs, a.check_secs, a.audit_secs, a.cli_secs, a.violations
        );
        m
    }
}
