//! Workers and jobs that survive failures: a worker killed mid-job, an RPC endpoint that goes
//! away and comes back, a claim whose worker vanished (see `daemon.rs`).

use super::*;

#[test]
fn a_worker_killed_mid_job_finishes_it_after_a_restart() {
    let _g = serial();
    let net = net();
    let root = test_dir("crash");
    // a claim needs its 20 s timeout to end before the commit deadline: the 90 s window leaves
    // 70 s for the turns of part 2's two providers (up to 150 slots after the seed; with a
    // 30 s window a late turn on a loaded machine failed the claim with ClaimWindowClosed)
    let market = net.market(20, 90);
    let mut w = WorkerProc::install(net, &market, &root, "worker", &net.rpc, &net.ws, "");
    let (requester, _) = net.wallet(&root, "requester");
    w.start(None);

    // 1. killed while running the job (claimed, nothing computed yet)
    let slow = slow_module(1_000_000_000);
    let m = net.manifest(&net.put(&slow), &net.put(b""), 20_000_000_000);
    let job = net.post(&market, &requester, 1, &m, 1, 1);
    wait(Duration::from_secs(30), "the claim", &[&w], || {
        net.job(&job)
            .filter(|j| j.slots[0].provider == w.owner && j.slots[0].state == SlotState::Claimed)
    });
    w.kill9();
    assert_eq!(net.job(&job).unwrap().slots[0].state, SlotState::Claimed);
    w.start(None);
    let s = net.settled(&job, Duration::from_secs(120), &[&w]);
    assert_eq!(s.outcome, Outcome::Verified);
    assert_eq!(s.verdicts[0].verdict, Verdict::Agreed);
    assert_eq!(s.verdicts[0].slashed, 0);

    // 2. killed between commit and reveal: a 2-of-2 job whose other slot the test drives by
    //    hand, so the reveal phase opens only after the kill
    let (other, _) = net.wallet(&root, "other");
    net.block_on(async {
        let chain = net.chain();
        let from = ata(
            &other.pubkey(),
            &net.mint,
            &market.state.stake_token_program,
        );
        chain
            .send(
                &[
                    ix::register_provider(&other.pubkey(), &market, "http://127.0.0.1:1", 1),
                    ix::stake(&other.pubkey(), &market, &from, 2_000 * TOKEN),
                ],
                &other,
                &[],
            )
            .await
            .unwrap();
    });
    let shift = shift_module();
    let m = net.manifest(&net.put(&shift), &net.put(b"crash me"), 10_000_000);
    let job = net.post(&market, &requester, 2, &m, 2, 2);
    wait(
        Duration::from_secs(30),
        "the worker's commitment",
        &[&w],
        || {
            net.job(&job).filter(|j| {
                j.slots
                    .iter()
                    .any(|s| s.provider == w.owner && s.state == SlotState::Committed)
            })
        },
    );
    w.kill9();
    // the journal holds the salt behind the on-chain commitment
    let entry: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.dir.join(format!("data/journal/jobs/{job}.json"))).unwrap(),
    )
    .unwrap();
    // `computed` when the kill came between the commitment landing and its journal update:
    // the salt is on disk either way, and the restart reconciles the stage with the chain
    assert!(
        entry["stage"] == "committed" || entry["stage"] == "computed",
        "{entry}"
    );
    let hex32 = |v: &serde_json::Value| -> [u8; 32] {
        hex::decode(v.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    };
    let on_chain = net.job(&job).unwrap();
    let slot = &on_chain.slots[on_chain.slot_of(&w.owner).unwrap()];
    assert_eq!(
        slot.commitment,
        commitment_hash(
            &job,
            &w.owner,
            &hex32(&entry["result_root"]),
            &hex32(&entry["salt"])
        )
    );
    let root_hash = honest_root(&shift, b"crash me", &job, 10_000_000);
    let salt = [42u8; 32];
    net.block_on(async {
        let chain = net.chain();
        let me = other.pubkey();
        chain
            .claim_when_eligible(&market, &job, &other, Duration::from_secs(300))
            .await
            .unwrap();
        chain
            .send(
                &[ix::commit_result(
                    &market,
                    &me,
                    &job,
                    commitment_hash(&job, &me, &root_hash, &salt),
                )],
                &other,
                &[],
            )
            .await
            .unwrap();
        chain
            .send(
                &[ix::reveal_result(&market, &me, &job, root_hash, salt)],
                &other,
                &[],
            )
            .await
            .unwrap();
    });
    assert!(
        net.job(&job).is_some(),
        "waits for the killed worker's reveal"
    );
    w.start(None);
    let s = net.settled(&job, Duration::from_secs(60), &[&w]);
    assert_eq!(s.outcome, Outcome::Verified);
    assert!(s
        .verdicts
        .iter()
        .all(|v| v.verdict == Verdict::Agreed && v.slashed == 0));
    assert_eq!(
        s.finalizer, w.owner,
        "the restarted worker revealed last and finalized"
    );
    // no double claims: one claim attempt per job in the worker's logs across all three runs
    // (the line is written before the claim is sent)
    let claims = w
        .logs()
        .iter()
        .filter(|l| l["message"] == "claiming")
        .count();
    assert_eq!(claims, 2, "each job claimed once");

    // 3. SIGTERM while a job runs: the run finishes and commits within the grace period, the
    //    worker exits 0, and the next start reveals
    let m = net.manifest(&net.put(&slow), &net.put(b"x"), 20_000_000_000);
    // n = 2, k = 2 and nobody else claims: the job cannot fill, so its commit deadline passes
    let job = net.post(&market, &requester, 3, &m, 2, 2);
    wait(Duration::from_secs(30), "the claim", &[&w], || {
        net.job(&job).filter(|j| j.slot_of(&w.owner).is_some())
    });
    let j = net.job(&job).unwrap();
    assert_eq!(
        j.slots[j.slot_of(&w.owner).unwrap()].state,
        SlotState::Claimed,
        "still running when the signal arrives"
    );
    // job 3 runs job 1's module, which an earlier process of this worker compiled: loaded from
    // the disk cache in `data/modules`, not compiled again
    let m = w.metrics();
    assert!(
        metric(&m, "cmkt_worker_stage_seconds_count{stage=\"module_load\"}") >= 1.0,
        "{m}"
    );
    let (status, took) = w.terminate();
    assert!(status.success(), "exit {status}");
    let j = net.job(&job).unwrap();
    let mine = &j.slots[j.slot_of(&w.owner).unwrap()];
    assert_eq!(
        mine.state,
        SlotState::Committed,
        "committed before exiting ({took:?})"
    );
    println!("SIGTERM with a job running: exited after {took:?}, its commitment landed");

    assert!(w
        .logs()
        .iter()
        .any(|l| l["message"] == "stopping: no new claims" && l["in_flight"] == 1));
    w.start(None);
    // the commit deadline passes with one slot free; then the worker reveals and finalizes (one
    // reveal of k = 2: no quorum, but revealed in time, so its collateral comes back)
    let s = net.settled(&job, Duration::from_secs(240), &[&w]);
    assert_eq!(s.outcome, Outcome::NoQuorum);
    let v = s.verdicts.iter().find(|v| v.provider == w.owner).unwrap();
    assert_eq!((v.verdict, v.slashed), (Verdict::Unverified, 0));
    let (status, _) = w.terminate();
    assert!(status.success());
}

/// A TCP relay that can be cut (every connection dropped, nothing accepted) and restored.
struct Relay {
    up: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl Relay {
    fn start(net: &Net, target: SocketAddr) -> Relay {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        listener.set_nonblocking(true).unwrap();
        let flag = up.clone();
        net.rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped at once
                }
                let flag = flag.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let cut = async {
                        while flag.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    };
                    tokio::select! { _ = copy => {}, _ = cut => {} }
                });
            }
        });
        Relay { up, addr }
    }
}

#[test]
fn the_rpc_endpoint_going_away_and_coming_back() {
    let _g = serial();
    let net = net();
    let root = test_dir("outage");
    let market = net.market(60, 120);
    let addr = |url: &str| -> SocketAddr {
        use std::net::ToSocketAddrs;
        let hostport = url.split_once("://").unwrap().1.trim_end_matches('/');
        hostport.to_socket_addrs().unwrap().next().unwrap()
    };
    let (rpc, ws) = (addr(&net.rpc), addr(&net.ws));
    let (rpc_relay, ws_relay) = (Relay::start(net, rpc), Relay::start(net, ws));
    let mut w = WorkerProc::install(
        net,
        &market,
        &root,
        "worker",
        &format!("http://{}", rpc_relay.addr),
        &format!("ws://{}", ws_relay.addr),
        "",
    );
    w.start(None);
    let (requester, _) = net.wallet(&root, "requester");
    let m = net.manifest(&net.put(&shift_module()), &net.put(b"before"), 10_000_000);
    let job = net.post(&market, &requester, 1, &m, 1, 1);
    net.settled(&job, Duration::from_secs(60), &[&w]);

    // the endpoint goes away: websocket and JSON-RPC connections drop, new ones are refused
    rpc_relay.up.store(false, Ordering::SeqCst);
    ws_relay.up.store(false, Ordering::SeqCst);
    let m = net.manifest(&net.put(&shift_module()), &net.put(b"during"), 10_000_000);
    let job = net.post(&market, &requester, 2, &m, 1, 1);
    wait(
        Duration::from_secs(30),
        "the worker to notice",
        &[&w],
        || {
            let h = reqwest::blocking_get(&format!("http://{}/healthz", w.listen))?;
            let m = w.metrics();
            (h.contains("\"websocket_connected\":false")
                && metric(&m, "cmkt_worker_rpc_errors_total") > 0.0)
                .then_some(())
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    let j = net.job(&job).unwrap();
    assert!(
        j.slots.iter().all(|s| s.state == SlotState::Free),
        "nothing claimed while cut off"
    );
    assert_eq!(
        metric(
            &w.metrics(),
            "cmkt_worker_jobs_total{outcome=\"claim_failed\"}"
        ),
        0.0,
        "the job was not given up on"
    );

    // it comes back: the worker finds the job (by polling or the new subscription) and settles it
    rpc_relay.up.store(true, Ordering::SeqCst);
    ws_relay.up.store(true, Ordering::SeqCst);
    let t = Instant::now();
    let s = net.settled(&job, Duration::from_secs(90), &[&w]);
    println!("settled {:?} after the endpoint came back", t.elapsed());
    assert_eq!(s.outcome, Outcome::Verified);
    wait(
        Duration::from_secs(60),
        "the subscription to come back",
        &[&w],
        || {
            let h = reqwest::blocking_get(&format!("http://{}/healthz", w.listen))?;
            h.contains("\"websocket_connected\":true").then_some(())
        },
    );
    let (status, _) = w.terminate();
    assert!(status.success());
}

#[test]
fn the_crank_expires_a_vanished_claim_and_the_job_is_rescued() {
    let _g = serial();
    let net = net();
    let root = test_dir("crank");
    // claims must commit within 8 s in this market
    let market = net.market(8, 120);
    let (requester, _) = net.wallet(&root, "requester");
    let (ghost, _) = net.wallet(&root, "ghost");
    let m = net.manifest(&net.put(&shift_module()), &net.put(b"rescue"), 10_000_000);
    let job = net.post(&market, &requester, 1, &m, 1, 1);
    net.block_on(async {
        let chain = net.chain();
        let me = ghost.pubkey();
        let from = ata(&me, &net.mint, &market.state.stake_token_program);
        chain
            .send(
                &[
                    ix::register_provider(&me, &market, "http://127.0.0.1:1", 1),
                    ix::stake(&me, &market, &from, 2_000 * TOKEN),
                ],
                &ghost,
                &[],
            )
            .await
            .unwrap();
        chain
            .claim_when_eligible(&market, &job, &ghost, Duration::from_secs(300))
            .await
            .unwrap();
    });
    // the ghost holds the only slot and never commits
    let mut w = WorkerProc::install(net, &market, &root, "worker", &net.rpc, &net.ws, "");
    w.start(None);
    let s = net.settled(&job, Duration::from_secs(60), &[&w]);
    assert_eq!(s.outcome, Outcome::Verified);
    assert_eq!(s.verdicts[0].provider, w.owner);
    let collateral = market.state.config.collateral_per_claim;
    assert_eq!(
        s.expired_slashed, collateral,
        "the ghost's claim was expired and slashed"
    );
    let ghost_p = net
        .block_on(net.chain().provider(&market.address, &ghost.pubkey()))
        .unwrap()
        .unwrap();
    assert_eq!(ghost_p.stake, 2_000 * TOKEN - collateral);
    let bounty = collateral * market.state.config.slash_bounty_bps as u64 / 10_000;
    let m = w.metrics();
    assert_eq!(
        metric(&m, "cmkt_worker_crank_total{action=\"expire\"}"),
        1.0
    );
    assert!(metric(&m, "cmkt_worker_bounty_total") >= bounty as f64);
    let (status, _) = w.terminate();
    assert!(status.success());
    let _ = std::io::stderr().flush();
}
