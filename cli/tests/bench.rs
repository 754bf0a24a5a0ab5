//! `cmkt bench --quick` end to end: every benchmark runs against the embedded chain with real
//! worker processes and reports figures that are consistent with what the protocol promises.
//! (Speed itself is not asserted: the figures go to BENCHMARKS.md.)

use std::process::Command;

#[test]
fn the_quick_bench_measures_every_section() {
    let dir = std::env::temp_dir().join(format!("cmkt-bench-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let json = dir.with_extension("json");
    let md_path = dir.with_extension("md");
    // scripts/bench passes the release-build table of scripts/bench-sandbox (too slow to build
    // here); the report carries it into BENCHMARKS.md as given
    let table = dir.with_extension("sandbox.md");
    let row = "| hash-chain | 130.9 | 483.0 | 0.27 |";
    std::fs::write(
        &table,
        format!("| sample | native ms | sandbox ms | ratio |\n|---|---:|---:|---:|\n{row}\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cmkt"))
        .args(["bench", "--quick", "--settlements", "120", "--dir"])
        .arg(&dir)
        .arg("--json")
        .arg(&json)
        .arg("--write")
        .arg(&md_path)
        .arg("--sandbox-table")
        .arg(&table)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();

    let pickup = r["pickup"].as_array().unwrap();
    assert_eq!(pickup.len(), 2, "push and 1 s polling");
    for p in pickup {
        // a claim lands in a later slot than the post it answers
        assert!(p["p50_slots"].as_f64().unwrap() >= 1.0, "{p}");
        assert!(p["p99_ms"].as_f64().unwrap() >= p["p50_ms"].as_f64().unwrap());
    }

    let latency = r["latency"].as_array().unwrap();
    let n1 = latency.iter().find(|l| l["replicas"] == 1).unwrap();
    let n3 = latency.iter().find(|l| l["replicas"] == 3).unwrap();
    // n = 1: claim, then commit + reveal + finalize in one transaction
    assert_eq!(n1["txs_max"], 2, "{n1}");
    // n = 3: three claims, three commits (the last one also reveals), two reveals, the last of
    // which finalizes: at least 8, and nothing wasted beyond a commit each
    let (lo, hi) = (
        n3["txs_min"].as_u64().unwrap(),
        n3["txs_max"].as_u64().unwrap(),
    );
    assert!((8..=10).contains(&lo) && lo <= hi && hi <= 10, "{n3}");

    let rent = r["rent"].as_array().unwrap();
    assert_eq!(rent.len(), 2);
    for x in rent {
        // the job is closed at settlement; the record left behind costs less than the open job
        assert!(x["settled_lamports"].as_u64().unwrap() < x["open_lamports"].as_u64().unwrap());
        assert!(x["settled_bytes"].as_u64().unwrap() > 0);
    }

    let throughput = r["throughput"].as_array().unwrap();
    assert_eq!(
        throughput
            .iter()
            .map(|t| t["workers"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 4]
    );
    assert!(throughput
        .iter()
        .all(|t| t["per_minute"].as_f64().unwrap() > 0.0));

    // rising and fixed offers at the same maximum: every claim at or above its claimer's floor
    // (a worker waits for it), and no claim above the maximum (3 tokens)
    let prices = r["prices"].as_array().unwrap();
    assert_eq!(prices.len(), 2, "{prices:?}");
    for p in prices {
        assert!(p["jobs"].as_u64().unwrap() >= 1, "{p}");
        assert!(p["price_over_floor"].as_f64().unwrap() >= 1.0, "{p}");
        assert!(p["mean_price"].as_f64().unwrap() <= 3.0, "{p}");
    }
    assert!(prices[0]["offer"].as_str().unwrap().starts_with("rising"));
    assert_eq!(
        prices[1]["mean_price"].as_f64().unwrap(),
        3.0,
        "a fixed offer pays its maximum"
    );

    let sandbox = r["sandbox"].as_array().unwrap();
    // every instruction's compute units on both token programs (tests/tests/compute_units.rs
    // holds them to their limits)
    let cu = r["compute_units"].as_array().unwrap();
    assert!(cu.len() >= 15, "{cu:?}");
    for row in cu {
        for token in ["spl_token", "token_2022"] {
            assert!(row[token].as_u64().unwrap() > 1_000, "{row}");
        }
        // a delivery's limit comes from simulating it (its consumer's work is its own)
        let simulated = row["instruction"]
            .as_str()
            .unwrap()
            .starts_with("deliver_result");
        assert!(simulated || row["limit"].as_u64().unwrap() > 0, "{row}");
    }
    assert_eq!(sandbox.len(), compute_sandbox::samples::SAMPLES.len());
    assert!(sandbox.iter().all(|s| s["ratio"].as_f64().unwrap() > 0.0));

    assert!(r["rss"]["idle_kib"].as_u64().unwrap() > 1024);
    assert!(r["rss"]["busy_peak_kib"].as_u64().unwrap() >= r["rss"]["idle_kib"].as_u64().unwrap());

    let audit = &r["audit"];
    // exactly the generated settlements (a market of their own), all of them sound, and the
    // `cmkt audit` process agreed on the count
    assert_eq!(audit["settlements"], 120, "{audit}");
    assert_eq!(audit["violations"], 0, "{audit}");
    assert!(audit["cli_secs"].as_f64().unwrap() > 0.0, "{audit}");

    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(md.contains("### Release builds, and what each safeguard costs"));
    assert!(md.contains(row), "the release table is in the report");
    for heading in [
        "## Targets",
        "## Compute units",
        "## Pickup",
        "## Post → settled",
        "## Throughput",
        "## Price discovery",
        "## Bytes and rent",
        "## Sandbox against native",
        "## Worker memory",
        "## Audit",
    ] {
        assert!(md.contains(heading), "{heading} missing:\n{md}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    for file in [&json, &md_path, &table] {
        let _ = std::fs::remove_file(file);
    }
}
