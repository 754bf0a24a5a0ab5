//! Rising offers: the price a claim locks follows the job's ramp on the program's clock, each
//! agreeing slot is paid its locked price minus the fee, and the rest of `max × n` is refunded;
//! `post_job` refuses a ramp that could not be honoured.

mod common;

use common::*;
use compute_market::error::MarketError as E;
use compute_market_client::{SlotState, Verdict};
use solana_sdk::signer::Signer;

const MIN: u64 = 4_000;
/// Seconds from the post until the price starts to rise, and the ramp's length.
const DELAY: i64 = 100;
const RAMP: i64 = 300;

fn rising(env: &Env, nonce: u64, n: u8, k: u8) -> compute_market_client::JobPostArgs {
    let mut a = env.post_args(nonce, REWARD, n, k);
    a.min_reward_per_replica = MIN;
    a.ramp_delay = DELAY;
    a.ramp_seconds = RAMP;
    a
}

#[test]
fn claims_lock_the_ramp_price_and_settlement_pays_it_and_refunds_the_rest() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let (a, b, c) = (
        env.provider_with_stake(5_000),
        env.provider_with_stake(5_000),
        env.provider_with_stake(5_000),
    );
    let posted_at = env.now();
    let args = rising(&env, 1, 3, 2);
    let job = env.try_post(&r, args).unwrap();
    let j = env.job(&job).unwrap();
    assert_eq!(
        (j.min_reward_per_replica, j.ramp_start, j.ramp_seconds),
        (MIN, posted_at + DELAY, RAMP)
    );
    assert_eq!(j.escrow, 3 * REWARD, "the maximum is escrowed");
    let paid_before = env.balance(&env.payment_ata(&r.pubkey()));

    // before the ramp: the starting price; a third of the way: a third of the rise; after: max
    // (each commits within its claim timeout)
    env.claim(&a, &job).unwrap();
    env.commit(&a, &job, [1; 32], salt(0)).unwrap();
    env.warp(DELAY + RAMP / 3);
    env.claim(&b, &job).unwrap();
    env.commit(&b, &job, [1; 32], salt(1)).unwrap();
    env.warp(RAMP);
    env.claim(&c, &job).unwrap();
    env.commit(&c, &job, [1; 32], salt(2)).unwrap();
    let third = MIN + (REWARD - MIN) / 3;
    let j = env.job(&job).unwrap();
    assert_eq!(
        j.slots.iter().map(|s| s.price).collect::<Vec<_>>(),
        vec![MIN, third, REWARD]
    );
    for (i, p) in [&a, &b, &c].iter().enumerate() {
        env.reveal(p, &job, [1; 32], salt(i as u8)).unwrap();
    }
    let caller = env.wallet();
    env.finalize(&caller, &job).unwrap();

    let s = env.settlement(&job).unwrap();
    let fee = |p: u64| p * 250 / 10_000;
    let prices = [MIN, third, REWARD];
    for (v, price) in s.verdicts.iter().zip(prices) {
        assert_eq!(v.verdict, Verdict::Agreed);
        assert_eq!((v.price, v.paid), (price, price - fee(price)));
    }
    let paid: u64 = prices.iter().map(|&p| p - fee(p)).sum();
    let fees: u64 = prices.iter().map(|&p| fee(p)).sum();
    assert_eq!((s.total_paid, s.fee), (paid, fees));
    assert_eq!(s.refund, 3 * REWARD - prices.iter().sum::<u64>());
    assert_eq!(
        env.balance(&env.payment_ata(&r.pubkey())),
        paid_before + s.refund,
        "the requester gets back what the locked prices did not use"
    );
    assert_eq!(
        (
            env.balance(&env.payment_ata(&a.pubkey())),
            env.balance(&env.payment_ata(&c.pubkey()))
        ),
        (MIN - fee(MIN), REWARD - fee(REWARD))
    );
    assert_eq!(
        (s.min_reward_per_replica, s.ramp_start, s.ramp_seconds),
        (MIN, posted_at + DELAY, RAMP),
        "the record keeps the ramp, so an auditor can recompute every locked price"
    );
    let report = env.audit();
    assert!(report.ok(), "{:?}", report.violations);
    env.assert_vaults_balanced();
}

#[test]
fn a_re_claim_after_an_expiry_locks_the_price_of_its_own_moment() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let (a, b) = (
        env.provider_with_stake(5_000),
        env.provider_with_stake(5_000),
    );
    let args = rising(&env, 2, 1, 1);
    let job = env.try_post(&r, args).unwrap();
    env.claim(&a, &job).unwrap();
    assert_eq!(env.job(&job).unwrap().slots[0].price, MIN);
    // a's claim expires half way up the ramp: b takes the slot at that moment's price
    env.warp(DELAY + RAMP / 2);
    let cranker = env.wallet();
    env.expire(&cranker, &job, 0).unwrap();
    assert_eq!(env.job(&job).unwrap().slots[0].state, SlotState::Free);
    assert_eq!(
        env.job(&job).unwrap().slots[0].price,
        0,
        "a freed slot keeps no price"
    );
    env.claim(&b, &job).unwrap();
    let half = MIN + (REWARD - MIN) / 2;
    assert_eq!(env.job(&job).unwrap().slots[0].price, half);
    env.commit(&b, &job, [2; 32], salt(1)).unwrap();
    env.reveal(&b, &job, [2; 32], salt(1)).unwrap();
    env.finalize(&cranker, &job).unwrap();
    let s = env.settlement(&job).unwrap();
    assert_eq!(s.verdicts[0].price, half);
    assert_eq!(s.refund, REWARD - half);
    assert!(env.audit().ok());
    env.assert_vaults_balanced();
}

#[test]
fn a_fixed_offer_pays_the_reward_whenever_it_is_claimed() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let p = env.provider_with_stake(5_000);
    let job = env.post(&r, 3, REWARD, 1, 1);
    env.warp(500);
    env.claim(&p, &job).unwrap();
    assert_eq!(env.job(&job).unwrap().slots[0].price, REWARD);
}

#[test]
fn post_refuses_a_ramp_it_could_not_honour() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let window = config().default_commit_window;
    type Case = (
        &'static str,
        fn(&mut compute_market_client::JobPostArgs, i64),
    );
    let cases: [Case; 7] = [
        ("start above the maximum", |a, _| {
            a.min_reward_per_replica = REWARD + 1
        }),
        ("a rise without a ramp", |a, _| a.ramp_seconds = 0),
        ("a negative ramp", |a, _| a.ramp_seconds = -1),
        ("a negative delay", |a, _| a.ramp_delay = -1),
        ("a ramp past the commit deadline", |a, w| {
            a.ramp_delay = 1;
            a.ramp_seconds = w;
        }),
        // a claim at the ramp's end could not fit its claim window (60 s) before the deadline
        ("a maximum no claim can lock", |a, w| {
            a.ramp_seconds = w - 60 - DELAY;
        }),
        ("a delay past the commit deadline", |a, w| {
            a.ramp_delay = w + 1;
        }),
    ];
    for (nonce, (what, edit)) in cases.iter().enumerate() {
        let mut args = rising(&env, 100 + nonce as u64, 1, 1);
        edit(&mut args, window);
        eprintln!("case: {what}");
        assert_market_err(env.try_post_now(&r, args), E::InvalidRamp);
    }
    // the edges that are allowed: a ramp whose maximum a claim can still lock (one claim
    // timeout and a second before the deadline), a flat ramp, a zero start
    let mut latest = rising(&env, 200, 1, 1);
    latest.ramp_seconds = window - 60 - DELAY - 1;
    env.try_post_now(&r, latest).unwrap();
    let mut flat = rising(&env, 201, 1, 1);
    flat.min_reward_per_replica = REWARD;
    env.try_post_now(&r, flat).unwrap();
    let mut from_zero = rising(&env, 202, 1, 1);
    from_zero.min_reward_per_replica = 0;
    env.try_post_now(&r, from_zero).unwrap();
    env.assert_vaults_balanced();
}
