//! Stake-weighted eligibility: the program's checks on the chain, and a simulation of many jobs
//! showing that a party's chance to hold `k` of `n` slots follows its stake share.

mod common;

use common::*;
use compute_market::constants::{ELIGIBILITY_CAP_SLOTS, SEED_DELAY_SLOTS};
use compute_market::error::MarketError as E;
use compute_market_client::{sortition, Pubkey};
use solana_sdk::{clock::Clock, signature::Keypair, signer::Signer};

fn slot(env: &Env) -> u64 {
    env.svm.get_sysvar::<Clock>().slot
}

/// When `p` may claim `job` (the seed as the next claim fixes it).
fn eligible_from(env: &Env, job: &Pubkey, p: &Keypair) -> u64 {
    let state = env.job(job).unwrap();
    let hashes = env
        .account(&compute_market::constants::SLOT_HASHES_SYSVAR)
        .unwrap()
        .data;
    let seed = sortition::seed_of(job, &state, &hashes).expect("seed slot reached");
    let provider = env.provider(&p.pubkey()).unwrap();
    sortition::eligible_from(&state, &seed, &p.pubkey(), sortition::bonded(&provider))
}

#[test]
fn a_provider_claims_from_its_slot_on_and_the_first_claim_fixes_the_seed() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    // one large and several small providers
    let big = env.provider_with_stake(50_000);
    let small: Vec<Keypair> = (0..4).map(|_| env.provider_with_stake(1_000)).collect();
    let job = env
        .try_post_now(&r, env.post_args(1, REWARD, 5, 3))
        .unwrap();
    let state = env.job(&job).unwrap();
    assert_eq!(state.seed_slot, slot(&env) + SEED_DELAY_SLOTS);
    assert_eq!(state.seed, [0; 32]);
    assert_eq!(
        state.stake_scale, 54_000,
        "the stake vault's balance at posting"
    );
    // nobody knows the seed before its slot
    assert_market_err(env.claim(&big, &job), E::SeedNotReady);
    env.advance_slots(SEED_DELAY_SLOTS);

    let mut order: Vec<(u64, &Keypair)> = std::iter::once(&big)
        .chain(&small)
        .map(|p| (eligible_from(&env, &job, p), p))
        .collect();
    order.sort_by_key(|(from, _)| *from);
    let (first_from, first) = order[0];
    // one slot early: refused; at its slot: the claim lands and fixes the seed the client
    // computed
    let want_seed = {
        let hashes = env
            .account(&compute_market::constants::SLOT_HASHES_SYSVAR)
            .unwrap()
            .data;
        sortition::seed_of(&job, &state, &hashes).unwrap()
    };
    if first_from > slot(&env) {
        env.advance_slots(first_from - 1 - slot(&env));
        assert_market_err(env.claim(first, &job), E::NotEligibleYet);
        env.advance_slots(1);
    }
    env.claim(first, &job).unwrap();
    assert_eq!(env.job(&job).unwrap().seed, want_seed);
    // everyone else in turn, each refused one slot before its own
    for (from, p) in &order[1..] {
        let now = slot(&env);
        if *from > now + 1 {
            env.advance_slots(from - 1 - now);
            assert_market_err(env.claim(p, &job), E::NotEligibleYet);
        }
        if *from > slot(&env) {
            env.advance_slots(from - slot(&env));
        }
        env.claim(p, &job).unwrap();
    }
    env.assert_vaults_balanced();

    // each slot records the chain slot of its claim and the stake that set the turn, and the
    // settlement keeps them with the seed, so an auditor can recheck every claim's turn
    let state = env.job(&job).unwrap();
    for (from, p) in &order {
        let s = state.slots[state.slot_of(&p.pubkey()).unwrap()];
        assert!(s.claimed_slot >= *from, "{s:?} claimed before {from}");
        assert_eq!(s.bonded, env.provider(&p.pubkey()).unwrap().stake);
    }
    for (i, (_, p)) in order.iter().enumerate() {
        env.commit(p, &job, [4; 32], salt(i as u8)).unwrap();
    }
    for (i, (_, p)) in order.iter().enumerate() {
        env.reveal(p, &job, [4; 32], salt(i as u8)).unwrap();
    }
    env.finalize(&r, &job).unwrap();
    let record = env.settlement(&job).unwrap();
    assert_eq!(
        (record.seed, record.seed_slot, record.stake_scale),
        (state.seed, state.seed_slot, state.stake_scale)
    );
    let address = env.market.settlement(&job);
    let market = env.market.address;
    assert_eq!(
        compute_market_client::audit::check_settlement(&address, &record, &market),
        Vec::<String>::new()
    );
    // a record of a claim one slot before its provider's turn is flagged
    let (i, v) = record
        .verdicts
        .iter()
        .enumerate()
        .find(|(_, v)| {
            sortition::turn_slot(
                &record.seed,
                record.seed_slot,
                record.stake_scale,
                &v.provider,
                v.bonded,
            ) > record.seed_slot
        })
        .expect("a provider whose turn came after the seed slot");
    let turn = sortition::turn_slot(
        &record.seed,
        record.seed_slot,
        record.stake_scale,
        &v.provider,
        v.bonded,
    );
    let mut early = record.clone();
    early.verdicts[i].claimed_slot = turn - 1;
    let found = compute_market_client::audit::check_settlement(&address, &early, &market);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("before its provider's turn"), "{found:?}");
}

#[test]
fn every_staked_provider_is_eligible_after_the_cap() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let whale = env.provider_with_stake(10_000_000);
    let minnow = env.provider_with_stake(1_000);
    let job = env
        .try_post_now(&r, env.post_args(1, REWARD, 2, 2))
        .unwrap();
    env.advance_slots(SEED_DELAY_SLOTS);
    env.claim(&whale, &job).ok();
    let from = eligible_from(&env, &job, &minnow);
    let seed_slot = env.job(&job).unwrap().seed_slot;
    assert!(from <= seed_slot + ELIGIBILITY_CAP_SLOTS);
    env.advance_slots(seed_slot + ELIGIBILITY_CAP_SLOTS - slot(&env));
    env.claim(&minnow, &job).unwrap();
}

// ---- simulation ----------------------------------------------------------------------------

/// `P(X ≥ k)` for `X ~ Binomial(n, f)`.
fn binomial_tail(n: u32, k: u32, f: f64) -> f64 {
    let choose = |n: u32, j: u32| (0..j).fold(1.0, |c, i| c * (n - i) as f64 / (i + 1) as f64);
    (k..=n)
        .map(|j| choose(n, j) * f.powi(j as i32) * (1.0 - f).powi((n - j) as i32))
        .sum()
}

/// The share of `jobs` simulated jobs in which a party with stake share `f`, split evenly over
/// `wallets`, takes at least `k` of the `n` slots, against `honest` providers of equal stake
/// holding the rest. Every provider claims in the first slot it is eligible in; within a slot
/// the party wins every tie (it is the fastest), the worst case.
fn simulate(f: f64, wallets: usize, honest: usize, n: usize, k: usize, jobs: u64) -> f64 {
    const TOTAL: f64 = 1e12;
    let mut stakes: Vec<(bool, u64)> = (0..wallets)
        .map(|_| (true, (TOTAL * f / wallets as f64) as u64))
        .collect();
    stakes.extend((0..honest).map(|_| (false, (TOTAL * (1.0 - f) / honest as f64) as u64)));
    let scale: u64 = stakes.iter().map(|(_, s)| s).sum();
    let owners: Vec<Pubkey> = (0..stakes.len())
        .map(|i| Pubkey::new_from_array([i as u8 + 1; 32]))
        .collect();
    let mut won = 0;
    for j in 0..jobs {
        let seed = sortition::job_seed(&Pubkey::new_from_array([9; 32]), j, &[0; 32]);
        let mut arrivals: Vec<(u64, bool)> = stakes
            .iter()
            .zip(&owners)
            .map(|((party, stake), owner)| {
                let t = sortition::ticket(&seed, owner);
                (sortition::eligibility_delay(t, *stake, scale), !*party)
            })
            .collect();
        // earliest first; in a tie the party (false sorts first) goes first
        arrivals.sort();
        let party = arrivals[..n].iter().filter(|(_, honest)| !honest).count();
        won += (party >= k) as u64;
    }
    won as f64 / jobs as f64
}

#[test]
fn a_partys_chance_of_k_of_n_slots_follows_its_stake_share() {
    const JOBS: u64 = 4_000;
    println!(
        "  f    n k  binomial  1 wallet  k wallets  20 wallets  200 wallets  (30 honest providers)"
    );
    for (n, k) in [(3usize, 2usize), (5, 3)] {
        for f in [0.1, 0.2, 0.33] {
            let tail = binomial_tail(n as u32, k as u32, f);
            let one = simulate(f, 1, 30, n, k, JOBS);
            let few = simulate(f, k, 30, n, k, JOBS);
            let twenty = simulate(f, 20, 30, n, k, JOBS);
            let many = simulate(f, 200, 30, n, k, JOBS);
            println!(
                "{f:>5} {n} {k}  {tail:>8.4}  {one:>8.4}  {few:>9.4}  {twenty:>10.4}  {many:>11.4}"
            );
            // one wallet holds at most one slot, and k wallets are the fewest that can hold k:
            // a party never does better than with many
            assert_eq!(one, 0.0);
            assert!(
                few > 0.0 && few <= twenty + 0.03,
                "f {f}: {k} wallets {few}"
            );
            // with many wallets the party does about as well as the binomial tail says, winning
            // every tie, and more wallets than slots gain nothing further
            assert!(
                (twenty - tail).abs() < 0.03 + 0.25 * tail,
                "f {f}, n {n}, k {k}: 20 wallets {twenty} vs tail {tail}"
            );
            assert!(
                (many - twenty).abs() < 0.03 + 0.2 * tail,
                "f {f}: 200 wallets {many} vs 20 wallets {twenty}"
            );
        }
    }
}

#[test]
fn a_forged_slot_hashes_account_is_refused() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let p = env.provider_with_stake(1_000);
    let job = env.post(&r, 1, REWARD, 1, 1);
    // an account of the claimer's choosing in place of the sysvar would let it pick the seed
    let mut ix = compute_market_client::ix::claim_job(&p.pubkey(), &env.market, &job);
    let fake = env.wallet().pubkey();
    for m in ix.accounts.iter_mut() {
        if m.pubkey == compute_market::constants::SLOT_HASHES_SYSVAR {
            m.pubkey = fake;
        }
    }
    assert_anchor_err(env.send(&[ix], &[&p]), AnchorError::ConstraintAddress);
    env.claim(&p, &job).unwrap();
}
