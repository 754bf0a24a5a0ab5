//! A worker and rising offers, against the in-process local validator: it claims once the price
//! reaches its floor for the manifest (here per 10^9 fuel), never a job whose maximum stays below
//! the floor, and its metrics show the price its claim locked against that floor.

mod common;
mod fixture;

use compute_market_client::Outcome;
use fixture::*;
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
    // the metrics: the locked price (read back after the claim) against the floor, and the wait
    let metrics = wait(Duration::from_secs(30), "the claim price", &[&w], || {
        let m = w.metrics();
        (metric(&m, "cmkt_worker_claim_price_total") > 0.0).then_some(m)
    });
    assert_eq!(
        metric(&metrics, "cmkt_worker_claim_price_total"),
        v.price as f64
    );
    assert_eq!(
        metric(&metrics, "cmkt_worker_claim_floor_total"),
        (3 * TOKEN) as f64
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
    assert_eq!(published.capabilities, 0b11);
    assert!(published.last_seen > 0);
    let (status, _) = w.terminate();
    assert!(status.success());
}
