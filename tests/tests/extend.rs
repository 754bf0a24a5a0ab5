//! `extend_job`: a requester moves an open job's deadlines later and raises its maximum, the
//! escrow topped up; every refusal next to the rule it protects.

mod common;

use common::*;
use compute_market::error::MarketError as E;
use compute_market_client::{ix, JobExtendArgs, JobReprice, Verdict};
use solana_sdk::signature::Keypair;
use solana_sdk::signer::Signer;

/// More time only.
fn by(extend_seconds: i64) -> JobExtendArgs {
    JobExtendArgs {
        extend_seconds,
        reprice: None,
    }
}

/// More time and a new curve to `reward_per_replica` over `ramp_seconds` from now.
fn reprice(extend_seconds: i64, reward_per_replica: u64, ramp_seconds: i64) -> JobExtendArgs {
    JobExtendArgs {
        extend_seconds,
        reprice: Some(JobReprice {
            reward_per_replica,
            ramp_seconds,
        }),
    }
}

impl Env {
    fn extend(
        &mut self,
        requester: &Keypair,
        job: &solana_sdk::pubkey::Pubkey,
        args: JobExtendArgs,
    ) -> Result<(), solana_sdk::transaction::TransactionError> {
        let from = self.payment_ata(&requester.pubkey());
        let market = self.market.clone();
        let ix = ix::extend_job(&requester.pubkey(), &market, job, &from, args);
        self.send(&[ix], &[requester])
    }
}

#[test]
fn a_raise_tops_up_the_escrow_restarts_the_ramp_and_settles_at_the_new_price() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let (a, b) = (
        env.provider_with_stake(5_000),
        env.provider_with_stake(5_000),
    );
    let mut args = env.post_args(1, REWARD, 2, 2);
    args.min_reward_per_replica = 2_000;
    args.ramp_seconds = 200;
    let job = env.try_post(&r, args).unwrap();
    let before = env.job(&job).unwrap();
    let wallet = env.balance(&env.payment_ata(&r.pubkey()));
    let books = env.ledger(&env.market.escrow_ledger()).unwrap().books;

    // half way up the ramp (price 6 000) nobody has claimed: raise to 16 000 over 100 s, and
    // give the job 300 s more
    env.warp(100);
    let raise_at = env.now();
    env.extend(&r, &job, reprice(300, 16_000, 100)).unwrap();
    let j = env.job(&job).unwrap();
    assert_eq!(
        (j.commit_deadline, j.reveal_deadline),
        (before.commit_deadline + 300, before.reveal_deadline + 300)
    );
    assert_eq!(
        (j.min_reward_per_replica, j.ramp_start, j.ramp_seconds),
        (6_000, raise_at, 100),
        "the new ramp starts where the price stood"
    );
    assert_eq!((j.reward_per_replica, j.escrow), (16_000, 32_000));
    assert_eq!(
        env.balance(&env.payment_ata(&r.pubkey())),
        wallet - 2 * 6_000,
        "the top-up is (new - old maximum) x n"
    );
    assert_eq!(
        env.ledger(&env.market.escrow_ledger()).unwrap().books,
        books + 12_000
    );
    env.assert_vaults_balanced();

    // claims lock prices on the new curve; the settlement pays them and refunds the rest
    env.warp(50);
    env.claim(&a, &job).unwrap();
    env.warp(50);
    env.claim(&b, &job).unwrap();
    for (i, p) in [&a, &b].iter().enumerate() {
        env.commit(p, &job, [1; 32], salt(i as u8)).unwrap();
    }
    for (i, p) in [&a, &b].iter().enumerate() {
        env.reveal(p, &job, [1; 32], salt(i as u8)).unwrap();
    }
    let caller = env.wallet();
    env.finalize(&caller, &job).unwrap();
    let s = env.settlement(&job).unwrap();
    let prices: Vec<u64> = s.verdicts.iter().map(|v| v.price).collect();
    assert_eq!(prices, vec![11_000, 16_000]);
    assert!(s.verdicts.iter().all(|v| v.verdict == Verdict::Agreed));
    assert_eq!(s.escrow, 32_000);
    assert_eq!(s.refund, 32_000 - 27_000);
    assert_eq!(
        (s.min_reward_per_replica, s.ramp_start, s.ramp_seconds),
        (6_000, raise_at, 100),
        "the record keeps the curve the claims locked their prices on"
    );
    let report = env.audit();
    assert!(report.ok(), "{:?}", report.violations);
    env.assert_vaults_balanced();
}

#[test]
fn windows_grow_while_slots_are_held_and_a_raise_at_once_is_a_fixed_offer() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let a = env.provider_with_stake(5_000);
    let job = env.post(&r, 2, REWARD, 3, 2);
    // a fixed raise before any claim: the new maximum at once
    env.extend(&r, &job, reprice(0, 12_000, 0)).unwrap();
    let j = env.job(&job).unwrap();
    assert_eq!(
        (
            j.min_reward_per_replica,
            j.reward_per_replica,
            j.ramp_seconds
        ),
        (12_000, 12_000, 0)
    );
    env.claim(&a, &job).unwrap();
    assert_eq!(env.job(&job).unwrap().slots[0].price, 12_000);
    // a slot is held: the deadlines may still move, the price curve may not (not even to the
    // same maximum)
    let deadline = env.job(&job).unwrap().commit_deadline;
    env.extend(&r, &job, by(120)).unwrap();
    assert_eq!(env.job(&job).unwrap().commit_deadline, deadline + 120);
    for curve in [reprice(0, 13_000, 0), reprice(0, 12_000, 0)] {
        assert_market_err(env.extend(&r, &job, curve), E::PriceLocked);
    }
    env.assert_vaults_balanced();
}

#[test]
fn extend_refuses_what_would_break_a_rule() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let job = env.post(&r, 3, REWARD, 1, 1);
    let max_window = config().max_commit_window;
    let window = config().default_commit_window;

    assert_market_err(env.extend(&r, &job, by(0)), E::NothingToExtend);
    assert_market_err(
        env.extend(&r, &job, reprice(0, REWARD - 1, 0)),
        E::RewardLowered,
    );
    assert_market_err(
        env.extend(&r, &job, reprice(-10, REWARD + 1, 0)),
        E::InvalidCommitWindow,
    );
    // the commit deadline may end at most max_commit_window after the post, both sides
    assert_market_err(
        env.extend(&r, &job, by(max_window - window + 1)),
        E::InvalidCommitWindow,
    );
    // a ramp must leave a claim window before the deadline, and last 0 s or more
    assert_market_err(
        env.extend(&r, &job, reprice(0, REWARD + 1, window - 60)),
        E::InvalidRamp,
    );
    // (the extension in the same call counts: 10 s more, still 10 s short)
    assert_market_err(
        env.extend(&r, &job, reprice(10, REWARD, window - 50)),
        E::InvalidRamp,
    );
    assert_market_err(
        env.extend(&r, &job, reprice(0, REWARD + 1, -1)),
        E::InvalidRamp,
    );
    env.extend(&r, &job, reprice(0, REWARD + 1, window - 61))
        .unwrap();
    env.extend(&r, &job, by(max_window - window)).unwrap();

    // only the requester, with its own signature
    let stranger = env.requester(100_000);
    let from = env.payment_ata(&stranger.pubkey());
    let market = env.market.clone();
    let mut forged = ix::extend_job(
        &stranger.pubkey(),
        &market,
        &job,
        &from,
        reprice(0, REWARD + 5, 0),
    );
    assert_anchor_err(
        env.send(&[forged.clone()], &[&stranger]),
        anchor_lang::error::ErrorCode::ConstraintSeeds,
    );
    // the requester's key without its signature
    forged.accounts[0].pubkey = r.pubkey();
    forged.accounts[0].is_signer = false;
    assert_anchor_err(
        env.send(&[forged], &[&stranger]),
        anchor_lang::error::ErrorCode::AccountNotSigner,
    );

    // once the commit deadline passed, the job can no longer grow
    env.warp(max_window);
    assert_market_err(
        env.extend(&r, &job, reprice(0, REWARD + 10, 0)),
        E::CommitPhaseOver,
    );
    env.assert_vaults_balanced();
}

#[test]
fn a_paused_market_takes_no_extension() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let job = env.post(&r, 4, REWARD, 1, 1);
    let market = env.market.clone();
    let admin = env.admin.insecure_clone();
    let pause = compute_market_client::MarketUpdateArgs {
        paused: Some(true),
        ..Default::default()
    };
    env.send(
        &[ix::update_market(&admin.pubkey(), &market, pause)],
        &[&admin],
    )
    .unwrap();
    assert_market_err(env.extend(&r, &job, by(10)), E::MarketPaused);
}

#[test]
fn a_new_curve_is_nowhere_below_the_old_one() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let mut args = env.post_args(5, REWARD, 1, 1);
    args.min_reward_per_replica = 1_000;
    args.ramp_seconds = 300;
    let job = env.try_post(&r, args).unwrap();
    let old = env.job(&job).unwrap();
    env.warp(100);
    // a longer ramp from the price now would fall below the old curve later on: a worker
    // waiting for the moment the old curve reaches its floor would find less
    assert_market_err(
        env.extend(&r, &job, reprice(0, 12_000, 201)),
        E::InvalidRamp,
    );
    // ending with the old ramp (or sooner) is allowed, and nowhere below it
    env.extend(&r, &job, reprice(0, 12_000, 200)).unwrap();
    let new = env.job(&job).unwrap();
    for t in (old.created_at..old.commit_deadline).step_by(7) {
        let (t_now, before, after) = (t, old.price_at(t), new.price_at(t));
        if t_now >= env.now() {
            assert!(after >= before, "at {t}: {after} < {before}");
        }
    }
    // the new curve starts at the price then, rounded up: 1 000 + 9 000 × 100 / 300
    assert_eq!(new.min_reward_per_replica, 4_000);
    // once the old ramp has ended the price is flat: any ramp to a higher maximum is allowed
    env.warp(250);
    env.extend(&r, &job, reprice(0, 13_000, 100)).unwrap();

    // between whole units too: from 0 to 10 over 30 s is 0.33 one second in; a new curve
    // starting at 0 would lag the old one (1 at 3 s, where it would still show 0); it starts at
    // 1, and every second after is at least the old price
    let mut args = env.post_args(8, 10, 1, 1);
    args.min_reward_per_replica = 0;
    args.ramp_seconds = 30;
    let small = env.try_post(&r, args).unwrap();
    let old = env.job(&small).unwrap();
    env.warp(1);
    env.extend(&r, &small, reprice(0, 10, 29)).unwrap();
    let new = env.job(&small).unwrap();
    assert_eq!(new.min_reward_per_replica, 1);
    for t in env.now()..=old.ramp_start + 31 {
        assert!(
            new.price_at(t) >= old.price_at(t),
            "at {}: {} < {}",
            t - old.ramp_start,
            new.price_at(t),
            old.price_at(t)
        );
    }
    env.assert_vaults_balanced();
}

#[test]
fn the_longest_window_is_the_one_the_job_was_posted_with() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let job = env.post(&r, 6, REWARD, 1, 1);
    let j = env.job(&job).unwrap();
    assert_eq!(
        j.latest_commit_deadline,
        j.created_at + config().max_commit_window
    );
    // the authority lengthens the market's longest window after the post: the job keeps its own
    let admin = env.admin.insecure_clone();
    let market = env.market.clone();
    let mut longer = config();
    longer.max_commit_window *= 2;
    let update = compute_market_client::MarketUpdateArgs {
        config: Some(longer),
        ..Default::default()
    };
    env.send(
        &[ix::update_market(&admin.pubkey(), &market, update)],
        &[&admin],
    )
    .unwrap();
    let room = j.latest_commit_deadline - j.commit_deadline;
    assert_market_err(env.extend(&r, &job, by(room + 1)), E::InvalidCommitWindow);
    env.extend(&r, &job, by(room)).unwrap();
    assert_eq!(
        env.job(&job).unwrap().commit_deadline,
        j.latest_commit_deadline
    );
}
