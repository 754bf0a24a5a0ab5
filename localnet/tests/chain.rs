//! The program on the in-process validator, over real JSON-RPC: bootstrap, a whole job flow with
//! the SDK, named program errors, the getProgramAccounts filters, the blob store, an epoch
//! boundary, and a restart from the same ledger.

use compute_market_client::{
    ata, commitment_hash, deployment, ix, logs, rpc::Chain, JobPostArgs, JobStatus, Outcome,
    Verdict,
};
use compute_market_localnet::{bootstrap, load_or_create_keypair, Localnet, LocalnetConfig};
use solana_sdk::{account::ReadableAccount, signer::Signer};
use std::time::{Duration, Instant};

fn config(ledger: &std::path::Path) -> LocalnetConfig {
    LocalnetConfig {
        ledger: Some(ledger.to_path_buf()),
        reset: false,
        rpc_port: 0,
        slots_per_epoch: Some(32),
        ..Default::default()
    }
}

#[test]
fn jobs_settle_on_the_local_validator_across_epochs_and_restarts() {
    let dir = std::env::temp_dir().join(format!("cmkt-localnet-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (ledger, keys) = (dir.join("ledger"), dir.join("keys"));

    let t = Instant::now();
    let net = Localnet::start(&config(&ledger)).expect("validator starts");
    println!("validator ready in {:?} at {}", t.elapsed(), net.rpc_url());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let admin = net.mint_keypair.insecure_clone();

    // the program is the shipped .so, deployed under the upgradeable loader, upgradable by the
    // chain's authority
    let d = rt
        .block_on(Chain::new(&net.rpc_url()).deployment(None))
        .unwrap()
        .expect("the program account exists");
    assert_eq!(
        net.rpc_client()
            .get_account(&compute_market_localnet::PROGRAM_ID)
            .unwrap()
            .owner,
        deployment::LOADER_V3
    );
    assert!(d.is(compute_market_harness::PROGRAM_SO));
    assert_eq!(d.sha256(), compute_market_harness::program_sha256());
    assert_eq!(d.upgrade_authority, Some(admin.pubkey()));
    // every transaction of this test carries a compute-unit limit and a priority fee
    let mut chain = Chain::new(&net.rpc_url());
    chain.priority_fee = 5_000;
    chain.compute_limit = Some(1_000_000);

    let (market, mint) = rt
        .block_on(bootstrap::bootstrap(&chain, &admin, &keys))
        .expect("bootstrap");
    // idempotent
    let (again, _) = rt
        .block_on(bootstrap::bootstrap(&chain, &admin, &keys))
        .expect("bootstrap again");
    assert_eq!(again.address, market.address);
    let requester = load_or_create_keypair(&keys.join("requester.json")).unwrap();
    let workers: Vec<_> = (1..=3)
        .map(|i| load_or_create_keypair(&keys.join(format!("provider-{i}.json"))).unwrap())
        .collect();
    let program = market.state.payment_token_program;

    rt.block_on(async {
        // providers register and stake over RPC
        for w in &workers {
            let from = ata(&w.pubkey(), &mint, &program);
            let ixs = [
                ix::register_provider(&w.pubkey(), &market, "http://127.0.0.1:1", 1),
                ix::stake(&w.pubkey(), &market, &from, 2_000 * 1_000_000),
            ];
            chain.send(&ixs, w, &[]).await.unwrap();
        }
        assert_eq!(chain.providers(&market.address).await.unwrap().len(), 3);

        // a 2-of-3 job with one dissenter, driven over JSON-RPC
        let args = JobPostArgs {
            nonce: 1,
            manifest_hash: [9; 32],
            manifest_uri: "data:,{}".into(),
            reward_per_replica: 5_000_000,
            min_reward_per_replica: 5_000_000,
            ramp_delay: 0,
            ramp_seconds: 0,
            replicas: 3,
            quorum: 2,
            commit_window: 0,
            terms_hash: market.terms_hash(),
            consumer: None,
        };
        let job = market.job(&requester.pubkey(), 1);
        let from = ata(&requester.pubkey(), &mint, &program);
        let sig = chain
            .send(
                &[ix::post_job(&requester.pubkey(), &market, &from, args)],
                &requester,
                &[],
            )
            .await
            .unwrap();
        // the transaction's logs carry the program's own lines, its compute units and its event
        let logs = chain.transaction_logs(&sig).await.unwrap();
        let id = compute_market_localnet::PROGRAM_ID;
        assert!(
            logs.iter()
                .any(|l| l.starts_with(&format!("Program {id} consumed "))
                    && l.ends_with(" compute units")),
            "{logs:#?}"
        );
        let ours = logs::parse(&logs, &id);
        assert_eq!(ours.invocations.len(), 1);
        assert_eq!(ours.invocations[0].instruction.as_deref(), Some("PostJob"));
        assert!(ours.compute_units() > 1_000, "{logs:#?}");
        match ours.events.as_slice() {
            [logs::Event::JobPosted(e)] => {
                assert_eq!((e.job, e.replicas, e.quorum), (job, 3, 2));
                assert_eq!(e.escrow, 15_000_000);
            }
            other => panic!("expected one JobPosted event, got {other:?}"),
        }
        let open = chain.open_jobs(&market.address).await.unwrap();
        assert_eq!(open.iter().map(|(a, _)| *a).collect::<Vec<_>>(), vec![job]);

        for w in &workers {
            chain
                .claim_when_eligible(&market, &job, w, std::time::Duration::from_secs(300))
                .await
                .unwrap();
        }
        // a named program error comes back as such
        let err = chain
            .send(
                &[ix::claim_job(&workers[0].pubkey(), &market, &job)],
                &workers[0],
                &[],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err.program_error(),
                Some("JobFull") | Some("DuplicateProvider")
            ),
            "{err}"
        );
        // with the log line Anchor wrote, from the node's preflight simulation
        match &err {
            compute_market_client::rpc::ChainError::Program { log: Some(log), .. } => {
                assert!(log.starts_with("AnchorError"), "{log}")
            }
            other => panic!("no AnchorError log with {other:?}"),
        }
        assert!(
            chain.open_jobs(&market.address).await.unwrap().is_empty(),
            "a full job is not open"
        );
        assert_eq!(
            chain
                .claims_of(&market.address, &workers[1].pubkey())
                .await
                .unwrap()
                .len(),
            1
        );

        let roots = [[1u8; 32], [1; 32], [2; 32]];
        for (i, w) in workers.iter().enumerate() {
            let c = commitment_hash(&job, &w.pubkey(), &roots[i], &[i as u8; 32]);
            chain
                .send(&[ix::commit_result(&market, &w.pubkey(), &job, c)], w, &[])
                .await
                .unwrap();
        }
        assert_eq!(
            chain.job(&job).await.unwrap().unwrap().status,
            JobStatus::Revealing
        );
        for (i, w) in workers.iter().enumerate() {
            chain
                .send(
                    &[ix::reveal_result(
                        &market,
                        &w.pubkey(),
                        &job,
                        roots[i],
                        [i as u8; 32],
                    )],
                    w,
                    &[],
                )
                .await
                .unwrap();
        }
        let state = chain.job(&job).await.unwrap().unwrap();
        let bounty_to = ata(&admin.pubkey(), &mint, &program);
        let mut ixs =
            compute_market_client::ix::finalize_job_prerequisites(&admin.pubkey(), &market, &state);
        ixs.push(ix::finalize_job(
            &admin.pubkey(),
            &market,
            &job,
            &state,
            &bounty_to,
        ));
        chain.send(&ixs, &admin, &[]).await.unwrap();

        assert!(chain.job(&job).await.unwrap().is_none());
        let s = chain
            .settlement(&job)
            .await
            .unwrap()
            .expect("settlement over RPC");
        assert_eq!(s.outcome, Outcome::Verified);
        assert_eq!(s.verdicts[2].verdict, Verdict::Dissented);
        assert!(s.balances());
        let all = chain.settlements(&market.address).await.unwrap();
        assert_eq!(all.len(), 1);
        let escrow = chain
            .token_balance(&market.state.escrow_vault)
            .await
            .unwrap();
        assert_eq!(escrow, 0);
        let stakes: u64 = chain
            .providers(&market.address)
            .await
            .unwrap()
            .iter()
            .map(|(_, p)| p.stake)
            .sum();
        assert_eq!(
            chain
                .token_balance(&market.state.stake_vault)
                .await
                .unwrap(),
            stakes
        );
    });

    // cross an epoch boundary (32 slots) and keep transacting
    let epoch = net.rpc_client().get_epoch_info().unwrap().epoch;
    let deadline = Instant::now() + Duration::from_secs(60);
    while net.rpc_client().get_epoch_info().unwrap().epoch < epoch + 1 {
        assert!(Instant::now() < deadline, "no epoch boundary within 60 s");
        std::thread::sleep(Duration::from_millis(500));
    }
    let w = workers[0].insecure_clone();
    rt.block_on(chain.send(&[ix::request_unstake(&w.pubkey(), &market, 1)], &w, &[]))
        .expect("the program still runs after an epoch boundary");

    // the state is saved after activity (the unstake above) and left alone while only the
    // validator's votes land
    let state_file = ledger.join(compute_market_localnet::STATE_FILE);
    let provider = market.provider(&w.pubkey());
    let unstake_saved = || {
        let state = compute_market_localnet::state::State::load(&state_file).unwrap();
        state
            .and_then(|s| s.accounts().ok())
            .and_then(|all| all.into_iter().find(|(a, _)| *a == provider))
            .map(|(a, acc)| {
                compute_market_client::decode::<compute_market_client::Provider>(
                    &a,
                    "Provider",
                    acc.data(),
                )
                .unwrap()
                .pending_unstake
                    == 1
            })
            .unwrap_or(false)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !unstake_saved() {
        assert!(
            Instant::now() < deadline,
            "the unstake was not saved within 30 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let modified = || {
        std::fs::metadata(&state_file)
            .and_then(|m| m.modified())
            .unwrap()
    };
    let saved = modified();
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(modified(), saved, "an idle chain's state was written again");

    // restart on the same ledger: state survives and the program is deployed again
    drop(net);
    let net = Localnet::start(&config(&ledger)).expect("validator restarts");
    let chain = Chain::new(&net.rpc_url());
    rt.block_on(async {
        assert_eq!(chain.settlements(&market.address).await.unwrap().len(), 1);
        let p = chain
            .provider(&market.address, &w.pubkey())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.pending_unstake, 1);
        chain
            .send(&[ix::request_unstake(&w.pubkey(), &market, 1)], &w, &[])
            .await
            .expect("the program runs after a restart");
    });
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn blob_store_checks_hashes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = std::env::temp_dir().join(format!("cmkt-blobs-test-{}", std::process::id()));
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(compute_market_localnet::blobs::serve(listener, dir.clone()));
        let http = reqwest::Client::new();
        let body = b"hello blobs".to_vec();
        let hash = hex::encode(compute_market_client::manifest::sha256(&body));
        let url = format!("http://{addr}/blobs/{hash}");
        assert_eq!(http.get(&url).send().await.unwrap().status(), 404);
        let wrong = format!("http://{addr}/blobs/{}", "0".repeat(64));
        let r = http.put(&wrong).body(body.clone()).send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("sha256 mismatch"));
        assert_eq!(
            http.put(format!("http://{addr}/blobs/nothex"))
                .body(body.clone())
                .send()
                .await
                .unwrap()
                .status(),
            400
        );
        assert_eq!(
            http.put(&url)
                .body(body.clone())
                .send()
                .await
                .unwrap()
                .status(),
            201
        );
        assert_eq!(
            http.put(&url)
                .body(body.clone())
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let got = http.get(&url).send().await.unwrap();
        assert_eq!(got.headers()["access-control-allow-origin"], "*");
        assert_eq!(got.bytes().await.unwrap().to_vec(), body);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
