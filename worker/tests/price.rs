//! A worker and a job's terms, against the in-process local validator: it claims a rising offer
//! once the price reaches its floor for the manifest (here per 10^9 fuel), never a job whose
//! maximum stays below the floor until the requester raises it (`extend_job`), and its metrics
//! show the price its claim locked against that floor; a verified result goes to the program
//! its job named (`deliver_result`).

mod common;
mod fixture;

use compute_market_client::{ata, ix, JobExtendArgs, JobReprice, Outcome};
use fixture::*;
use solana_sdk::signer::Signer;
use std::time::Duration;

#[test]
fn a_worker_claims_a_rising_offer_once_it_reaches_its_floor() {
    let _g = serial();
    let net = net();
    let root = test_dir("price");
    let market = net.market(30, 120);
    let (requester, _) = net.wallet(&root, "requester");
    // 10^7 fuel at 300 tokens per 10^9 fuel: a floor of 3 tokens
    let m = net.manifest(&net.put(&shift_module()), &net.put(b"price"), 10_000_000);
    let mut w = WorkerProc::install(net, &market, &root, "worker", &net.rpc, &net.ws, "");
    let text = std::fs::read_to_string(&w.config).unwrap();
    let text = text.replace(
        "min_price_per_gfuel = 0",
        &format!("min_price_per_gfuel = {}", 300 * TOKEN),
    );
    std::fs::write(&w.config, text).unwrap();
    w.start(None);

    // from 1 to 5 tokens over 20 s: 3 tokens after 10 s
    let rising = net.post_with(&market, &requester, 1, &m, 1, 1, |a| {
        a.min_reward_per_replica = TOKEN;
        a.ramp_seconds = 20;
    });
    // at most 2 tokens: below the floor for good
    let cheap = net.post_with(&market, &requester, 2, &m, 1, 1, |a| {
        a.reward_per_replica = 2 * TOKEN;
        a.min_reward_per_replica = TOKEN;
        a.ramp_seconds = 20;
    });
    let job = net.job(&rising).unwrap();

    let s = net.settled(&rising, Duration::from_secs(120), &[&w]);
    assert_eq!(s.outcome, Outcome::Verified);
    let v = &s.verdicts[0];
    assert_eq!(v.provider, w.owner);
    assert!(
        (3 * TOKEN..=5 * TOKEN).contains(&v.price),
        "claimed at {}, the floor is 3 tokens",
        v.price
    );
    assert!(
        v.claimed_at >= job.ramp_start + 10,
        "claimed {} s into the ramp, before the price reached the floor",
        v.claimed_at - job.ramp_start
    );
    assert_eq!(s.refund, 5 * TOKEN - v.price);

    // the cheap job is skipped by reason, never claimed
    wait(Duration::from_secs(30), "the price skip", &[&w], || {
        (metric(&w.metrics(), "cmkt_worker_skipped_total{reason=\"price\"}") >= 1.0).then_some(())
    });
    let open = net.job(&cheap).unwrap();
    assert!(open.slots.iter().all(|s| s.provider != w.owner));
    // the requester raises the cheap job's maximum to 4 tokens at once, with more time: the
    // worker looks at it again (its skip ends with the job's terms) and takes it at 4
    let from = ata(
        &requester.pubkey(),
        &market.state.payment_mint,
        &market.state.payment_token_program,
    );
    let extend = JobExtendArgs {
        extend_seconds: 120,
        reprice: Some(JobReprice {
            reward_per_replica: 4 * TOKEN,
            ramp_seconds: 0,
        }),
    };
    net.block_on(net.chain().send(
        &[ix::extend_job(
            &requester.pubkey(),
            &market,
            &cheap,
            &from,
            extend,
        )],
        &requester,
        &[],
    ))
    .unwrap();
    let s = net.settled(&cheap, Duration::from_secs(120), &[&w]);
    assert_eq!(s.outcome, Outcome::Verified);
    assert_eq!(
        (s.verdicts[0].provider, s.verdicts[0].price),
        (w.owner, 4 * TOKEN)
    );
    // the metrics: the locked price (read back after the claim) against the floor, and the wait
    let metrics = wait(Duration::from_secs(30), "the claim price", &[&w], || {
        let m = w.metrics();
        (metric(&m, "cmkt_worker_claim_price_total") > 0.0).then_some(m)
    });
    assert_eq!(
        metric(&metrics, "cmkt_worker_claim_price_total"),
        (v.price + 4 * TOKEN) as f64
    );
    assert_eq!(
        metric(&metrics, "cmkt_worker_claim_floor_total"),
        (2 * 3 * TOKEN) as f64
    );
    assert_eq!(
        metric(
            &metrics,
            "cmkt_worker_stage_seconds_count{stage=\"price_wait\"}"
        ),
        1.0
    );
    // the worker published what it accepts at start-up: `cmkt job why` reads it
    let published = net
        .block_on(net.chain().provider(&market.address, &w.owner))
        .unwrap()
        .unwrap();
    assert_eq!(published.offer.price_per_gfuel, 300 * TOKEN);
    assert_eq!(published.offer.max_fuel, 50_000_000_000);
    assert_eq!(published.capabilities, compute_worker::CAPABILITIES);
    assert_eq!(compute_worker::CAPABILITIES, 0b111, "every runtime");
    assert!(published.last_seen > 0);
    let (status, _) = w.terminate();
    assert!(status.success());
}

#[test]
fn a_worker_delivers_a_verified_result_to_the_program_its_job_named() {
    let _g = serial();
    let net = net();
    let root = test_dir("deliver");
    let market = net.market(30, 120);
    let (requester, _) = net.wallet(&root, "requester");
    let input = b"deliver me".to_vec();
    let module = shift_module();
    let m = net.manifest(&net.put(&module), &net.put(&input), 10_000_000);
    let mut w = WorkerProc::install(net, &market, &root, "worker", &net.rpc, &net.ws, "");
    w.start(None);

    // a feed of the sample consumer that takes this market's results of this manifest, for
    // this requester's jobs
    let feed = verified_value::client::feed_address(&requester.pubkey(), 0);
    let args = verified_value::CreateFeedArgs {
        feed_id: 0,
        market_program: compute_market_client::PROGRAM_ID,
        market: market.address,
        manifest_hash: m.1,
        requester: requester.pubkey(),
        min_agreeing: 1,
    };
    let create = verified_value::client::create_feed(&requester.pubkey(), args);
    let mut chain = net.chain();
    chain.compute_limit = Some(50_000);
    net.block_on(chain.send(&[create], &requester, &[]))
        .unwrap();
    let job = net.post_with(&market, &requester, 3, &m, 1, 1, |a| {
        a.consumer = Some(verified_value::client::consumer(&feed));
    });

    let s = net.settled(&job, Duration::from_secs(120), &[&w]);
    assert_eq!(s.outcome, Outcome::Verified);
    assert_eq!(
        s.result_root,
        honest_root(&module, &input, &job, 10_000_000)
    );
    // the worker that agreed delivers: the settlement records it, the feed holds the output
    let d = wait(Duration::from_secs(60), "the delivery", &[&w], || {
        net.settlement(&job)
            .and_then(|s| s.delivery)
            .filter(|d| d.delivered_slot != 0)
    });
    assert_eq!(d.delivered_by, w.owner);
    let acc = net.block_on(net.chain().account(&feed)).unwrap().unwrap();
    let f: verified_value::Feed =
        anchor_lang::AccountDeserialize::try_deserialize(&mut acc.data.as_slice()).unwrap();
    let output = honest_output(&module, &input, &job, 10_000_000);
    assert_eq!(f.value, output, "the feed holds the verified output");
    assert_eq!((f.last_job, f.last_root), (job, s.result_root));
    // counted once the worker saw its transaction confirmed (the chain may show it first)
    wait(
        Duration::from_secs(30),
        "the delivery metric",
        &[&w],
        || {
            let delivered = metric(
                &w.metrics(),
                "cmkt_worker_deliveries_total{result=\"delivered\"}",
            );
            (delivered == 1.0).then_some(())
        },
    );
    let (status, _) = w.terminate();
    assert!(status.success());
}
