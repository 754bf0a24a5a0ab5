//! The local chain under sustained load, for as long as `CMKT_SOAK_SECS` says (default 600). Run
//! by hand, it is not part of the suite:
//!
//! ```sh
//! CMKT_SOAK_SECS=1800 cargo test -p compute-market-localnet --test soak -- --ignored --nocapture
//! ```
//!
//! A requester keeps `IN_FLIGHT` transactions in flight, each posting as many jobs as fit and
//! cancelling them again (full-size transactions through the program, and no state left
//! behind). Every transaction must confirm, and the chain must still make slots at the end.
//! Written after two long `cmkt bench` runs ended with the validator panicking in its broadcast
//! stage ("All banks frozen ... must have a block id").

use compute_market_client::{ata, ix, rpc::Chain, JobPostArgs};
use compute_market_localnet::{bootstrap, load_or_create_keypair, Localnet, LocalnetConfig};
use solana_sdk::signer::Signer;
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

const IN_FLIGHT: usize = 16;

#[test]
#[ignore = "a soak of many minutes; run by hand"]
fn the_local_chain_keeps_up_with_sustained_load() {
    let secs: u64 = std::env::var("CMKT_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let dir = std::env::temp_dir().join(format!("cmkt-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let net = Localnet::start(&LocalnetConfig {
        ledger: Some(dir.join("ledger")),
        reset: false,
        rpc_port: 0,
        slots_per_epoch: None,
        ..Default::default()
    })
    .expect("validator starts");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let admin = net.mint_keypair.insecure_clone();
    let chain = Arc::new(Chain::new(&net.rpc_url()));
    let keys = dir.join("keys");
    let (market, mint) = rt
        .block_on(bootstrap::bootstrap(&chain, &admin, &keys))
        .expect("bootstrap");
    let payer = load_or_create_keypair(&keys.join("requester.json")).unwrap();
    let requester = Arc::new(payer.insecure_clone());
    let from = ata(
        &requester.pubkey(),
        &mint,
        &market.state.payment_token_program,
    );
    let market = Arc::new(market);
    let transaction = move |first: u64, count: u64| {
        let post = (first..first + count).map(|nonce| {
            ix::post_job(
                &requester.pubkey(),
                &market,
                &from,
                JobPostArgs {
                    nonce,
                    manifest_hash: [7; 32],
                    manifest_uri: "soak://job".into(),
                    reward_per_replica: 1,
                    min_reward_per_replica: 1,
                    ramp_delay: 0,
                    ramp_seconds: 0,
                    replicas: 1,
                    quorum: 1,
                    commit_window: 0,
                    terms_hash: market.terms_hash(),
                    consumer: None,
                },
            )
        });
        let cancel = (first..first + count).map(|nonce| {
            let job = market.job(&requester.pubkey(), nonce);
            ix::cancel_job(&requester.pubkey(), &market, &job, &from)
        });
        post.chain(cancel).collect::<Vec<_>>()
    };
    let mut per_tx = 1;
    while chain.fits(&transaction(0, per_tx + 1), &payer.pubkey()) {
        per_tx += 1;
    }

    let start_slot = net.rpc_client().get_slot().unwrap();
    let t0 = Instant::now();
    let (next, sent) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let transaction = Arc::new(transaction);
    let result: Result<(), String> = rt.block_on(async {
        let mut tasks = vec![];
        for _ in 0..IN_FLIGHT {
            let (chain, next, sent, transaction) = (
                chain.clone(),
                next.clone(),
                sent.clone(),
                transaction.clone(),
            );
            let payer = payer.insecure_clone();
            tasks.push(tokio::spawn(async move {
                while t0.elapsed() < Duration::from_secs(secs) {
                    let first = next.fetch_add(per_tx, Ordering::Relaxed);
                    chain
                        .send(&transaction(first, per_tx), &payer, &[])
                        .await
                        .map_err(|e| format!("after {:?}: {e}", t0.elapsed()))?;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<_, String>(())
            }));
        }
        for t in tasks {
            t.await.map_err(|e| e.to_string())??;
        }
        Ok(())
    });
    let end_slot = net.rpc_client().get_slot().unwrap();
    println!(
        "{} transactions ({} jobs posted and cancelled) in {:?}, slots {start_slot}..{end_slot}",
        sent.load(Ordering::Relaxed),
        sent.load(Ordering::Relaxed) * per_tx,
        t0.elapsed()
    );
    result.expect("every transaction confirms");
    // still alive: new slots keep coming
    std::thread::sleep(Duration::from_secs(5));
    assert!(net.rpc_client().get_slot().unwrap() > end_slot);
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
}
