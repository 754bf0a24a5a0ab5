//! `compute-worker` processes against the in-process local validator, over real JSON-RPC and
//! websockets, with manifests and modules served over HTTP by the local blob store.
//!
//! The tests share one validator; each works in its own market with its own wallets, and they
//! run one at a time (the machine has two cores and the workers are separate processes).

mod common;
mod fixture;
#[path = "daemon/recovery.rs"]
mod recovery;

use compute_market_client::{
    ata, commitment_hash,
    config::format_amount,
    ix,
    manifest::{BlobRef, RUNTIME_WASI_P1V3},
    merkle::ExitStatus,
    results::{output_url, summary_url, verify_output, verify_summary, ResultSummaryJson},
    Outcome, Pubkey, SlotState, Verdict,
};
use compute_sandbox::samples::products_across_a_call;
use fixture::*;
use solana_sdk::signer::Signer;
use std::{
    io::Write,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

// ------------------------------------------------------------------------------------ tests

#[test]
fn two_honest_workers_outvote_a_liar_who_is_slashed() {
    let _g = serial();
    let net = net();
    let root = test_dir("liar");
    let market = net.market(60, 120);
    let mut workers: Vec<WorkerProc> = ["honest-1", "honest-2", "liar"]
        .iter()
        .map(|n| WorkerProc::install(net, &market, &root, n, &net.rpc, &net.ws, ""))
        .collect();
    for w in workers.iter_mut() {
        let fault = (w.name == "liar").then_some("lie");
        w.start(fault);
    }
    std::thread::sleep(Duration::from_secs(2));
    let idle: Vec<u64> = workers.iter().map(WorkerProc::rss_kib).collect();
    println!("idle worker RSS (debug build): {idle:?} KiB");
    let status = workers[0].cli(&["status"]);
    assert!(status.contains("stake      2000 (locked 0"), "{status}");
    assert!(status.contains("daemon     200 OK"), "{status}");

    let (requester, _) = net.wallet(&root, "requester");
    let module = net.put(&shift_module());
    let input = net.put(b"HAL 9000 says hello");
    let manifest = net.manifest(&module, &input, 10_000_000);
    // posted after the workers subscribed: only the websocket push can bring it to them
    // (their safety rescan is an hour away)
    let posted = Instant::now();
    let job = net.post(&market, &requester, 1, &manifest, 3, 2);
    let refs: Vec<&WorkerProc> = workers.iter().collect();
    let s = net.settled(&job, Duration::from_secs(90), &refs);
    println!("n=3 k=2 job settled {:?} after posting", posted.elapsed());

    assert_eq!(s.outcome, Outcome::Verified);
    let verdict = |w: &WorkerProc| {
        s.verdicts
            .iter()
            .find(|v| v.provider == w.owner)
            .unwrap_or_else(|| panic!("{} held a slot", w.name))
    };
    let (h1, h2, liar) = (
        verdict(&workers[0]),
        verdict(&workers[1]),
        verdict(&workers[2]),
    );
    assert_eq!(h1.verdict, Verdict::Agreed);
    assert_eq!(h2.verdict, Verdict::Agreed);
    assert_eq!(h1.result_root, h2.result_root, "two workers, same root");
    assert_eq!(liar.verdict, Verdict::Dissented);
    assert_ne!(liar.result_root, s.result_root);
    assert_eq!(liar.slashed, market.state.config.collateral_per_claim);
    assert!(h1.paid > 0 && liar.paid == 0);
    // the winning root is what the test computes independently
    assert_eq!(
        s.result_root,
        honest_root(&shift_module(), b"HAL 9000 says hello", &job, 10_000_000)
    );

    // the result downloads from a winner and verifies against the on-chain root
    let endpoint = format!("http://{}", workers[0].listen);
    let summary: ResultSummaryJson = serde_json::from_str(
        &reqwest::blocking_get(&summary_url(&endpoint, &s.result_root)).unwrap(),
    )
    .unwrap();
    assert_eq!(
        verify_summary(&s.job, &s.result_root, &summary)
            .unwrap()
            .status,
        ExitStatus::Exited(0)
    );
    let bytes = net
        .block_on(async {
            ::reqwest::get(output_url(&endpoint, &s.result_root))
                .await
                .unwrap()
                .bytes()
                .await
        })
        .unwrap();
    verify_output(&s.job, &s.result_root, &summary, &bytes).unwrap();
    assert_eq!(&bytes[..], b"IBM!:111!tbzt!ifmmp");

    // metrics tell the same story
    let m0 = wait(Duration::from_secs(10), "honest metrics", &refs, || {
        let m = workers[0].metrics();
        (metric(&m, "cmkt_worker_jobs_total{outcome=\"agreed\"}") == 1.0).then_some(m)
    });
    assert_eq!(metric(&m0, "cmkt_worker_earned_total"), h1.paid as f64);
    assert_eq!(metric(&m0, "cmkt_worker_websocket_connected"), 1.0);
    assert!(metric(&m0, "cmkt_worker_stage_seconds_count{stage=\"execute\"}") >= 1.0);
    // it claimed in its own eligibility window, having waited for it (an early claim is refused
    // with NotEligibleYet and the job would not have settled with three providers)
    assert_eq!(
        metric(
            &m0,
            "cmkt_worker_stage_seconds_count{stage=\"eligibility_wait\"}"
        ),
        1.0
    );
    let ml = wait(Duration::from_secs(10), "liar metrics", &refs, || {
        let m = workers[2].metrics();
        (metric(&m, "cmkt_worker_jobs_total{outcome=\"dissented\"}") == 1.0).then_some(m)
    });
    assert_eq!(
        metric(&ml, "cmkt_worker_slashed_total"),
        liar.slashed as f64
    );
    let p = net
        .block_on(net.chain().provider(&market.address, &workers[2].owner))
        .unwrap()
        .unwrap();
    assert_eq!(p.stake, 2_000 * TOKEN - liar.slashed);

    let busy: Vec<u64> = workers.iter().map(WorkerProc::rss_kib).collect();
    println!("worker RSS after the job (debug build): {busy:?} KiB");
    // a graceful stop: exit 0, nothing left unfinished
    for w in workers.iter_mut() {
        let (status, took) = w.terminate();
        assert!(status.success(), "{} exited {status}", w.name);
        assert!(took < Duration::from_secs(10), "{took:?}");
    }
    let logs = workers[0].logs();
    assert!(logs
        .iter()
        .any(|l| l["message"] == "stopped" && l["pending"] == 0));
    println!(
        "honest payout {} tokens, liar slashed {} tokens",
        format_amount(h1.paid, 6),
        format_amount(liar.slashed, 6)
    );
}

#[test]
fn hostile_modules_end_as_outcomes_and_bad_blobs_are_never_claimed() {
    let _g = serial();
    let net = net();
    let root = test_dir("hostile");
    let market = net.market(60, 120);
    let mut w = WorkerProc::install(net, &market, &root, "worker", &net.rpc, &net.ws, "");
    w.start(None);
    let (requester, _) = net.wallet(&root, "requester");
    let empty = net.put(b"");
    let fuel = 20_000_000;
    let cases: Vec<(&str, Vec<u8>, ExitStatus)> = vec![
        (
            "infinite loop",
            module(r#"(func (export "_start") (loop (br 0)))"#),
            ExitStatus::OutOfFuel,
        ),
        (
            "memory bomb",
            module(
                r#"(func (export "_start") (loop (br_if 0 (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) unreachable)"#,
            ),
            ExitStatus::OutOfMemory,
        ),
        (
            "output bomb",
            module(
                r#"(func (export "_start") (loop (call $write (i32.const 1024) (i32.const 1000)) (br 0)))"#,
            ),
            ExitStatus::OutputLimit,
        ),
        (
            "trap",
            module(r#"(func (export "_start") unreachable)"#),
            ExitStatus::Trapped,
        ),
    ];
    let mut jobs = vec![];
    for (i, (name, wasm, status)) in cases.iter().enumerate() {
        let m = net.manifest(&net.put(wasm), &empty, fuel);
        jobs.push((
            *name,
            net.post(&market, &requester, i as u64, &m, 1, 1),
            *status,
        ));
    }
    // jobs that must be skipped: an invalid module, a module importing a host function,
    // a module that is not where the manifest says, and one whose bytes do not match its hash
    let invalid = net.manifest(&net.put(b"\0asm\x01\0\0\0 not really"), &empty, fuel);
    let foreign =
        wat::parse_str(r#"(module (import "env" "socket" (func)) (func (export "_start")))"#)
            .unwrap();
    let foreign = net.manifest(&net.put(&foreign), &empty, fuel);
    let absent = BlobRef {
        uri: format!("{}/blobs/{}", net.blob, "ab".repeat(32)),
        ..BlobRef::new(b"never uploaded", "")
    };
    let missing = net.manifest(&absent, &empty, fuel);
    let real = net.put(&shift_module());
    let wrong = BlobRef {
        sha256: BlobRef::new(b"other bytes", "").sha256,
        ..real.clone()
    };
    let wrong = net.manifest(&wrong, &empty, fuel);
    let too_big = net.manifest(&real, &empty, 60_000_000_000);
    let mut skipped = vec![invalid, foreign, missing, wrong, too_big];
    // a wasi-p1v3 module whose native frame outgrows its call-depth weight: claimed, its run
    // would be refused at the native stack limit and the claim's collateral lost (the machine
    // code is read on x86-64 only)
    let frames = cfg!(target_arch = "x86_64");
    if frames {
        let deep = wat::parse_str(products_across_a_call(1000)).unwrap();
        skipped.push(net.manifest_on(RUNTIME_WASI_P1V3, &net.put(&deep), &empty, fuel));
    }
    let skipped: Vec<Pubkey> = skipped
        .iter()
        .enumerate()
        .map(|(i, m)| net.post(&market, &requester, 10 + i as u64, m, 1, 1))
        .collect();

    for (name, job, status) in &jobs {
        let s = net.settled(job, Duration::from_secs(90), &[&w]);
        assert_eq!(s.outcome, Outcome::Verified, "{name}");
        assert_eq!(s.verdicts[0].verdict, Verdict::Agreed, "{name}");
        let summary: ResultSummaryJson = serde_json::from_str(
            &reqwest::blocking_get(&summary_url(
                &format!("http://{}", w.listen),
                &s.result_root,
            ))
            .unwrap(),
        )
        .unwrap();
        let summary = verify_summary(&s.job, &s.result_root, &summary).unwrap();
        assert_eq!(summary.status, *status, "{name}");
    }
    // the worker survived all of them, and never claimed the bad ones
    let m = wait(
        Duration::from_secs(20),
        "skips to be counted",
        &[&w],
        || {
            let m = w.metrics();
            (metric(&m, "cmkt_worker_skipped_total{reason=\"invalid_module\"}")
                >= 2.0 + f64::from(u8::from(frames))
                && metric(&m, "cmkt_worker_skipped_total{reason=\"blobs\"}") >= 2.0
                && metric(&m, "cmkt_worker_skipped_total{reason=\"limits\"}") >= 1.0)
                .then_some(m)
        },
    );
    assert_eq!(metric(&m, "cmkt_worker_up"), 1.0);
    for job in &skipped {
        let j = net.job(job).expect("still open");
        assert!(j.slots.iter().all(|s| s.state == SlotState::Free));
    }
    // the requester takes the money back
    let from = ata(
        &requester.pubkey(),
        &market.state.payment_mint,
        &market.state.payment_token_program,
    );
    for job in &skipped {
        net.block_on(net.chain().send(
            &[ix::cancel_job(&requester.pubkey(), &market, job, &from)],
            &requester,
            &[],
        ))
        .unwrap();
    }
    let reasons: Vec<String> = w
        .logs()
        .iter()
        .filter(|l| l["message"] == "job skipped, not claimed")
        .map(|l| l["detail"].as_str().unwrap_or_default().to_string())
        .collect();
    println!("skip reasons: {reasons:#?}");
    assert!(
        reasons.iter().any(|r| r.contains("unknown import")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("404")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("hash")), "{reasons:?}");
    assert!(
        !frames || reasons.iter().any(|r| r.contains("native frame takes")),
        "{reasons:?}"
    );
    let (status, _) = w.terminate();
    assert!(status.success());
}
