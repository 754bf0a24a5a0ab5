//! `cmkt` end to end against `cmkt localnet` over real JSON-RPC: a local chain started by the
//! command itself, providers acting through the SDK, requesters and auditors through `cmkt`.

use assert_cmd::cargo::CommandCargoExt;
use compute_market_client::{
    commitment_hash, ix,
    merkle::{ExitStatus, ResultSummary},
    results::ResultSummaryJson,
    rpc::Chain,
    Pubkey,
};
use solana_sdk::{signature::Keypair, signer::Signer};
use std::{
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

mod common;
use common::*;
#[path = "cmkt/refusals.rs"]
mod refusals;

#[test]
fn cmkt_drives_jobs_and_audits_a_local_chain() {
    let net = start_localnet();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let chain = Chain::new(&net.info.rpc_url);
    let market: Pubkey = net.info.market.parse().unwrap();
    let market_ref = rt.block_on(chain.market(&market)).unwrap();

    // market show
    let m = net.json("requester", &["market", "show"]);
    assert_eq!(m["address"], net.info.market);
    assert_eq!(m["config"]["fee_bps"], 250);

    // the output honest providers compute, and a server for it
    let output: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let summary = ResultSummary::new("wasi-p1", ExitStatus::Exited(0), 12_345, &output);
    // what honest providers reveal: the output's root bound to each job
    let root = |job: &Pubkey| summary.root(job);
    let server = rt.block_on(result_server(
        Arc::new(output.clone()),
        ResultSummaryJson::from(&summary),
    ));

    // providers register and stake through cmkt; provider-1 serves corrupted bytes
    for (p, path) in [
        ("provider-1", "liar"),
        ("provider-2", "good"),
        ("provider-3", "good"),
    ] {
        net.ok(p, &["provider", "register", &format!("{server}/{path}")]);
        net.ok(p, &["provider", "stake", "2000"]);
    }
    let providers = net.json("requester", &["provider", "list"]);
    assert_eq!(providers.as_array().unwrap().len(), 3);
    assert_eq!(providers[0]["stake"], 2_000_000_000u64);

    let module = net.dir.join("job.wasm");
    std::fs::write(&module, empty_job()).unwrap();
    let input = net.dir.join("input.txt");
    std::fs::write(&input, b"some input").unwrap();
    let post = |n: &str, k: &str, nonce: &str| -> Pubkey {
        let v = net.json(
            "requester",
            &[
                "job",
                "post",
                "--module",
                module.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
                "--arg",
                "x",
                "--replicas",
                n,
                "--quorum",
                k,
                "--reward",
                "5",
                "--nonce",
                nonce,
            ],
        );
        v["job"].as_str().unwrap().parse().unwrap()
    };
    let p: Vec<Keypair> = (1..=3)
        .map(|i| key(&net.wallet(&format!("provider-{i}"))))
        .collect();
    let act = |job: &Pubkey, who: &[(usize, [u8; 32])]| {
        rt.block_on(async {
            // each in its turn (stake-weighted eligibility)
            for (i, _) in who {
                chain
                    .claim_when_eligible(&market_ref, job, &p[*i], Duration::from_secs(300))
                    .await
                    .unwrap();
            }
            for (i, r) in who {
                let c = commitment_hash(job, &p[*i].pubkey(), r, &[*i as u8; 32]);
                chain
                    .send(
                        &[ix::commit_result(&market_ref, &p[*i].pubkey(), job, c)],
                        &p[*i],
                        &[],
                    )
                    .await
                    .unwrap();
            }
            for (i, r) in who {
                chain
                    .send(
                        &[ix::reveal_result(
                            &market_ref,
                            &p[*i].pubkey(),
                            job,
                            *r,
                            [*i as u8; 32],
                        )],
                        &p[*i],
                        &[],
                    )
                    .await
                    .unwrap();
            }
        })
    };

    // job A: 2 of 3 agree, provider-3 dissents
    let a = post("3", "2", "1");
    let st = net.json("requester", &["job", "status", &a.to_string()]);
    assert_eq!(st["state"], "live");
    assert_eq!(st["status"], "Open");
    let manifest_uri = st["manifest_uri"].as_str().unwrap().to_string();
    assert!(manifest_uri.starts_with(net.info.blob_url.as_deref().unwrap()));
    let open = net.json("requester", &["job", "list", "--open"]);
    assert_eq!(open.as_array().unwrap().len(), 1);
    // the job's eligibility seed and each staked provider's turn, once the seed slot passed
    let e = loop {
        let st = net.json("requester", &["job", "status", &a.to_string()]);
        if !st["eligibility"]["seed"].is_null() {
            break st["eligibility"].clone();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let turns = e["eligible_from"].as_array().unwrap();
    assert_eq!(turns.len(), 3, "{e}");
    let seed_slot = e["seed_slot"].as_u64().unwrap();
    assert!(
        turns
            .iter()
            .all(|t| t["slot"].as_u64().unwrap() >= seed_slot),
        "{e}"
    );
    act(&a, &[(0, root(&a)), (1, root(&a)), (2, [7; 32])]);
    let s = net.json("provider-3", &["job", "finalize", &a.to_string()]);
    assert_eq!(s["outcome"], "Verified");
    assert_eq!(s["verdicts"][2]["verdict"], "Dissented");
    // every claim in its turn, as the record shows (the audit below rechecks the same)
    assert_eq!(s["seed_slot"].as_u64().unwrap(), seed_slot, "{s}");
    for v in s["verdicts"].as_array().unwrap() {
        let (at, from) = (
            v["claimed_slot"].as_u64().unwrap(),
            v["turn_slot"].as_u64().unwrap(),
        );
        assert!(at >= from && from >= seed_slot, "{v}");
    }
    // its history from the events in its transactions' logs, after the job account closed
    let h = net.json("requester", &["job", "history", &a.to_string()]);
    let names: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"JobPosted"), "{names:?}");
    assert_eq!(names.last(), Some(&"JobFinalized"), "{names:?}");
    for (event, count) in [
        ("JobClaimed", 3),
        ("ResultCommitted", 3),
        ("ResultRevealed", 3),
    ] {
        assert_eq!(
            names.iter().filter(|n| **n == event).count(),
            count,
            "{names:?}"
        );
    }
    assert!(h[0]["compute_units"].as_u64().unwrap() > 1_000, "{h}");
    assert!(h[h.as_array().unwrap().len() - 1]["summary"]
        .as_str()
        .unwrap()
        .starts_with("Verified"));

    // the result: provider-1's bytes fail verification, provider-2's pass
    let out_file = net.dir.join("out.bin");
    let o = net.cmkt(
        "requester",
        &[
            "job",
            "result",
            &a.to_string(),
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&out_file).unwrap(), output);
    let warn = String::from_utf8_lossy(&o.stderr);
    assert!(
        warn.contains(&format!("provider {}", p[0].pubkey())) && warn.contains("verification"),
        "{warn}"
    );

    // job B: only provider-1 (the liar) won: the result is refused, naming it
    let b = post("1", "1", "2");
    act(&b, &[(0, root(&b))]);
    net.ok("requester", &["job", "finalize", &b.to_string()]);
    let err = net.fails(
        "requester",
        &[
            "job",
            "result",
            &b.to_string(),
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert!(err.contains(&p[0].pubkey().to_string()), "{err}");

    // job C: 2 of 2 disagree: no quorum, full refund
    let c = post("2", "2", "3");
    act(&c, &[(1, root(&c)), (2, [8; 32])]);
    let s = net.json("requester", &["job", "finalize", &c.to_string()]);
    assert_eq!(s["outcome"], "NoQuorum");
    assert_eq!(s["refund"], 10_000_000);
    assert!(net
        .fails(
            "requester",
            &["job", "result", &c.to_string(), "--out", "/tmp/x"]
        )
        .contains("without a verified result"));

    // job E: posted with --wait, which follows the job until the providers settle it
    let waiting = Command::cargo_bin("cmkt")
        .unwrap()
        .args([
            "--url",
            &net.info.rpc_url,
            "--config",
            "/nonexistent",
            "-o",
            "json",
        ])
        .args(["--keypair", net.wallet("requester").to_str().unwrap()])
        .args(["--localnet-dir", net.keys().to_str().unwrap()])
        .args([
            "job",
            "post",
            "--module",
            module.to_str().unwrap(),
            "--reward",
            "1",
            "--nonce",
            "5",
            "--wait",
            "--timeout",
            "120",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let e = market_ref.job(&key(&net.wallet("requester")).pubkey(), 5);
    let t = Instant::now();
    while rt.block_on(chain.job(&e)).unwrap().is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "job E was not posted"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    act(&e, &[(1, root(&e))]);
    net.ok("provider-2", &["job", "finalize", &e.to_string()]);
    let o = waiting.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let progress = String::from_utf8_lossy(&o.stderr);
    assert!(
        progress.contains("slots: free") && progress.contains("settled: Verified"),
        "{progress}"
    );
    let settled: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(settled["outcome"], "Verified");

    // job D: cancelled
    let d = post("1", "1", "4");
    net.ok("requester", &["job", "cancel", &d.to_string()]);
    // a cancellation leaves a record, like a settlement
    let st = net.json("requester", &["job", "status", &d.to_string()]);
    assert_eq!(st["outcome"], "Cancelled", "{st}");
    assert_eq!(st["refund"], 5_000_000);

    // the audit holds and sums up
    let r = net.json("requester", &["audit"]);
    assert_eq!(r["violations"].as_array().unwrap().len(), 0, "{r}");
    assert_eq!(
        (
            r["settlements"].as_u64(),
            r["verified"].as_u64(),
            r["no_quorum"].as_u64(),
            r["cancelled"].as_u64()
        ),
        (Some(5), Some(3), Some(1), Some(1))
    );
    // 2.5% of 5 tokens for three agreeing slots, and of 1 token once
    assert_eq!(r["total_fees"], 3 * 125_000 + 25_000);
    assert_eq!(r["total_slashed"], 100_000_000); // provider-3's collateral in job A
    let csv = net.ok("requester", &["audit", "--format", "csv"]);
    assert_eq!(csv.lines().count(), 6, "{csv}");
    assert!(csv.starts_with("settlement,job,requester,outcome"));
    let table = net.ok("requester", &["audit"]);
    assert!(table.contains("audit: OK"), "{table}");

    // tokens pushed straight into the escrow vault are a surplus the audit reports, not a
    // violation (anyone can send them)
    let requester = key(&net.wallet("requester"));
    rt.block_on(async {
        let m = chain.market(&market).await.unwrap();
        let from = compute_market_client::ata(
            &requester.pubkey(),
            &m.state.payment_mint,
            &m.state.payment_token_program,
        );
        let t = anchor_spl_transfer(
            &m.state.payment_token_program,
            &from,
            &m.state.escrow_vault,
            &requester.pubkey(),
            1,
        );
        chain.send(&[t], &requester, &[]).await.unwrap();
    });
    let r = net.json("requester", &["audit"]);
    assert_eq!(r["violations"].as_array().unwrap().len(), 0, "{r}");
    assert_eq!(r["escrow_surplus"], 1);
    let table = net.ok("requester", &["audit"]);
    assert!(
        table.contains("(surplus 0.000001, sent from outside: `cmkt market sweep`")
            && table.contains("audit: OK"),
        "{table}"
    );
    // the authority sweeps the surplus to the treasury; the books stay, and only once
    let err = net.fails("requester", &["market", "sweep", "--vault", "escrow"]);
    assert!(
        err.contains("ConstraintHasOne") || err.contains("has one"),
        "{err}"
    );
    let swept = net.json("authority", &["market", "sweep", "--vault", "escrow"]);
    assert_eq!(swept["swept"], 1, "{swept}");
    let r = net.json("requester", &["audit"]);
    assert_eq!(
        (r["escrow_surplus"].clone(), r["escrow_swept"].clone()),
        (0.into(), 1.into()),
        "{r}"
    );
    assert_eq!(r["escrow_books"], r["open_escrow"], "{r}");
    let err = net.fails("authority", &["market", "sweep", "--vault", "escrow"]);
    assert!(err.contains("no surplus"), "{err}");

    // bad input: one clear line each, and nothing posted
    refusals::bad_input(&net, &module, &input);
    let m = module.to_str().unwrap();
    // a rising offer: its terms and the current price, from 1 to 3 tokens over 200 s
    let rising = net.json(
        "requester",
        &[
            "job",
            "post",
            "--module",
            m,
            "--reward",
            "3",
            "--min-reward",
            "1",
            "--ramp",
            "200",
        ],
    );
    let status = net.json(
        "requester",
        &["job", "status", rising["job"].as_str().unwrap()],
    );
    assert_eq!(status["min_reward_per_replica"], 1_000_000u64, "{status}");
    assert_eq!(status["reward_per_replica"], 3_000_000u64, "{status}");
    assert_eq!(status["ramp_seconds"], 200, "{status}");
    let now = status["price_now"].as_u64().unwrap();
    assert!((1_000_000..3_000_000).contains(&now), "{status}");
    let text = net.ok(
        "requester",
        &["job", "status", rising["job"].as_str().unwrap()],
    );
    assert!(text.contains("price rising from 1 at "), "{text}");

    // why nobody takes it yet: provider-1's worker would at 2 tokens (the price gets there),
    // provider-2's floor of 4 is above the maximum, provider-3 never published an offer
    for (i, floor) in [(0, 2_000_000), (1, 4_000_000)] {
        let offer = compute_market_client::ProviderOffer {
            max_fuel: u64::MAX,
            max_memory: u64::MAX,
            max_output: u64::MAX,
            min_price: floor,
            price_per_gfuel: 0,
            price_per_mib: 0,
        };
        rt.block_on(chain.send(
            // every runtime (capability bits 1, 2 and 4)
            &[ix::publish_offer(&p[i].pubkey(), &market_ref, offer, 0b111)],
            &p[i],
            &[],
        ))
        .unwrap();
    }
    let job = rising["job"].as_str().unwrap();
    let why = net.json("requester", &["job", "why", job]);
    let reason_of = |i: usize| {
        why["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["provider"] == p[i].pubkey().to_string())
            .unwrap_or_else(|| panic!("{why}"))
            .clone()
    };
    assert_eq!(reason_of(0)["reason"], "waits_for_price", "{why}");
    assert_eq!(reason_of(0)["floor"], 2_000_000u64, "{why}");
    assert_eq!(reason_of(1)["reason"], "price", "{why}");
    assert_eq!(reason_of(2)["reason"], "unpublished", "{why}");
    assert_eq!(why["groups"]["price"], 1, "{why}");
    let text = net.ok("requester", &["job", "why", job]);
    assert!(
        text.contains("claims when the price reaches its floor 2, in "),
        "{text}"
    );
    assert!(
        text.contains("its floor 4 is above the most the job pays, 3"),
        "{text}"
    );
    // what needs the chain's state: a settled job, a wallet given as a mint, no keypair, an
    // endpoint nobody answers
    refusals::on_chain(&net, &a, &market, &requester.pubkey());
}

fn anchor_spl_transfer(
    program: &Pubkey,
    from: &Pubkey,
    to: &Pubkey,
    owner: &Pubkey,
    amount: u64,
) -> solana_sdk::instruction::Instruction {
    #[allow(deprecated)]
    anchor_spl::token_interface::spl_token_2022::instruction::transfer(
        program,
        from,
        to,
        owner,
        &[],
        amount,
    )
    .unwrap()
}

#[test]
fn the_command_line_definition_is_consistent() {
    // clap's debug assertions catch clashing flags (a global -k against a subcommand's -k, ...)
    for args in [
        vec!["--help"],
        vec!["job", "post", "--help"],
        vec!["job", "result", "--help"],
        vec!["blob", "get", "--help"],
        vec!["audit", "--help"],
        vec!["localnet", "--help"],
        vec!["market", "update", "--help"],
        vec!["provider", "stake", "--help"],
    ] {
        let o = Command::cargo_bin("cmkt")
            .unwrap()
            .args(&args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
