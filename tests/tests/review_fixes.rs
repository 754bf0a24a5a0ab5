//! The attacks a security review found, one test per finding: each fails without the check it
//! names (the copied-commitment grief is in `attacks.rs`, next to the other commitment rules).

mod common;

use common::*;
use compute_market::error::MarketError as E;
use compute_market_client::{
    constants::MAX_EXPIRED_CLAIMS, ix, MarketUpdateArgs, Outcome, Verdict,
};
use solana_sdk::{signature::Keypair, signer::Signer};

// ---- a minority cannot void a job for free -------------------------------------------------

#[test]
fn a_lone_dissenter_pays_when_a_majority_agrees_without_a_quorum() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let ps: Vec<Keypair> = (0..3).map(|_| env.provider_with_stake(1_000)).collect();
    // n = 3, k = 3 with X, X, Y: no quorum, but Y contradicts a majority of the slots
    let job = env.post(&r, 1, REWARD, 3, 3);
    let refs: Vec<&Keypair> = ps.iter().collect();
    run_to_reveals(&mut env, &job, &refs, &[[1; 32], [1; 32], [2; 32]]);
    let cranker = env.wallet();
    env.finalize(&cranker, &job).unwrap();
    let s = env.settlement(&job).unwrap();
    assert_eq!(s.outcome, Outcome::NoQuorum);
    let v: Vec<_> = s.verdicts.iter().map(|v| (v.verdict, v.slashed)).collect();
    assert_eq!(
        v,
        vec![
            (Verdict::Unverified, 0),
            (Verdict::Unverified, 0),
            (Verdict::Dissented, COLLATERAL),
        ]
    );
    assert_eq!(
        (s.refund, s.total_paid),
        (3 * REWARD, 0),
        "the requester pays nothing"
    );
    assert_eq!(
        env.provider(&ps[2].pubkey()).unwrap().stake,
        1_000 - COLLATERAL
    );

    // without a majority of the n slots nobody is singled out: 2 of 5 agreeing is not one
    let ps: Vec<Keypair> = (0..3).map(|_| env.provider_with_stake(1_000)).collect();
    let job = env.post(&r, 2, REWARD, 5, 3);
    let roots = [[1; 32], [1; 32], [2; 32]];
    for (i, (p, root)) in ps.iter().zip(roots).enumerate() {
        env.claim(p, &job).unwrap();
        env.commit(p, &job, root, salt(i as u8)).unwrap();
    }
    // two slots stay free: reveals open at the commit deadline
    env.warp(600);
    for (i, (p, root)) in ps.iter().zip(roots).enumerate() {
        env.reveal(p, &job, root, salt(i as u8)).unwrap();
    }
    env.finalize(&cranker, &job).unwrap();
    let s = env.settlement(&job).unwrap();
    assert!(s.verdicts[..3]
        .iter()
        .all(|v| v.verdict == Verdict::Unverified));
    assert!(env.audit().ok(), "{:?}", env.audit().violations);
    env.assert_vaults_balanced();
}

// ---- stake pending withdrawal is not at stake ----------------------------------------------

#[test]
fn stake_pending_withdrawal_does_not_back_a_claim() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let p = env.provider_with_stake(1_500);
    let market = env.market.clone();
    let me = p.pubkey();
    // all but the collateral requested for withdrawal, then claim and withdraw in one go
    env.send(&[ix::request_unstake(&me, &market, 1_000)], &[&p])
        .unwrap();
    env.warp(3_600);
    let job = env.post(&r, 1, REWARD, 1, 1);
    let to = env.stake_ata(&me);
    let claim_and_run = [
        ix::claim_job(&me, &market, &job),
        ix::withdraw_stake(&me, &market, &to),
    ];
    assert_market_err(env.send(&claim_and_run, &[&p]), E::InsufficientStake);
    assert_market_err(env.claim(&p, &job), E::InsufficientStake);
    env.send(&[ix::withdraw_stake(&me, &market, &to)], &[&p])
        .unwrap();

    // while a claim is open, unstaking may not take the bond below the minimum
    let q = env.provider_with_stake(1_500);
    env.claim(&q, &job).unwrap();
    let q_me = q.pubkey();
    assert_market_err(
        env.send(&[ix::request_unstake(&q_me, &market, 501)], &[&q]),
        E::StakeBelowMinimum,
    );
    env.send(&[ix::request_unstake(&q_me, &market, 500)], &[&q])
        .unwrap();
    let st = env.provider(&q_me).unwrap();
    assert_eq!(st.stake - st.pending_unstake, config().min_stake);
    env.assert_vaults_balanced();
}

// ---- slot squatting ------------------------------------------------------------------------

#[test]
fn a_provider_whose_claim_expired_cannot_claim_the_job_again() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let (squatter, accomplice, honest) = (
        env.provider_with_stake(2_000),
        env.provider_with_stake(1_000),
        env.provider_with_stake(1_000),
    );
    let job = env.post(&r, 1, REWARD, 1, 1);
    env.claim(&squatter, &job).unwrap();
    env.warp(61);
    // the accomplice expires the claim and the squatter re-claims in the same transaction
    let market = env.market.clone();
    // (the accomplice staked from this account)
    let bounty_to = env.stake_ata(&accomplice.pubkey());
    let squat = [
        ix::expire_claim(
            &accomplice.pubkey(),
            &market,
            &job,
            0,
            &squatter.pubkey(),
            &bounty_to,
        ),
        ix::claim_job(&squatter.pubkey(), &market, &job),
    ];
    assert_market_err(
        env.send(&squat, &[&accomplice, &squatter]),
        E::ClaimExpiredBefore,
    );
    env.send(&squat[..1], &[&accomplice]).unwrap();
    env.warp(61);
    assert_market_err(env.claim(&squatter, &job), E::ClaimExpiredBefore);
    let state = env.job(&job).unwrap();
    assert_eq!(state.expired, vec![squatter.pubkey()]);
    assert_eq!(state.expired_slashed, COLLATERAL);
    // the slot goes to someone else
    env.claim(&honest, &job).unwrap();
    env.assert_vaults_balanced();
}

#[test]
fn a_job_takes_no_claim_that_could_expire_beyond_its_record() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let cranker = env.wallet();
    let job = env.post(&r, 1, REWARD, 5, 3);
    let mut expired = 0;
    // rounds of claims that all expire, until one short of the record's capacity
    while expired < MAX_EXPIRED_CLAIMS as usize - 1 {
        let round = (MAX_EXPIRED_CLAIMS as usize - 1 - expired).min(5);
        for _ in 0..round {
            let p = env.provider_with_stake(1_000);
            env.claim(&p, &job).unwrap();
        }
        env.warp(61);
        for slot in 0..round as u8 {
            env.expire(&cranker, &job, slot).unwrap();
        }
        expired += round;
    }
    // one more claim fits (15 expired + 1 that may expire = 16), a second does not
    let (last, refused) = (
        env.provider_with_stake(1_000),
        env.provider_with_stake(1_000),
    );
    env.claim(&last, &job).unwrap();
    assert_market_err(env.claim(&refused, &job), E::TooManyExpiredClaims);
    env.warp(61);
    env.expire(&cranker, &job, 0).unwrap();
    assert_market_err(env.claim(&refused, &job), E::TooManyExpiredClaims);
    let state = env.job(&job).unwrap();
    assert_eq!(state.expired.len(), MAX_EXPIRED_CLAIMS as usize);
    // the requester gets everything back, and all sixteen slashes stay on record
    let market = env.market.clone();
    let to = env.payment_ata(&r.pubkey());
    env.send(&[ix::cancel_job(&r.pubkey(), &market, &job, &to)], &[&r])
        .unwrap();
    let s = env.settlement(&job).unwrap();
    assert_eq!(s.outcome, Outcome::Cancelled);
    assert_eq!(s.expired.len(), MAX_EXPIRED_CLAIMS as usize);
    assert_eq!(s.expired_slashed, MAX_EXPIRED_CLAIMS as u64 * COLLATERAL);
    assert!(env.audit().ok(), "{:?}", env.audit().violations);
    env.assert_vaults_balanced();
}

// ---- donations and the audit ---------------------------------------------------------------

#[test]
fn tokens_sent_to_a_vault_are_a_surplus_not_a_violation() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    env.provider_with_stake(1_000);
    env.post(&r, 1, REWARD, 1, 1);
    let m = env.market.state.clone();
    // anyone can transfer into the vaults
    env.donate(7, 9);
    let report = env.audit();
    assert!(report.ok(), "{:?}", report.violations);
    assert_eq!((report.escrow_surplus, report.stake_surplus), (7, 9));
    assert_eq!(report.open_escrow, REWARD);
    // a shortfall is still a violation (the vault's amount lowered behind the program's back)
    let mut vault = env.account(&m.stake_vault).unwrap();
    let amount = env.stake_vault_balance() - 10;
    vault.data[64..72].copy_from_slice(&amount.to_le_bytes());
    env.svm.set_account(m.stake_vault, vault).unwrap();
    let report = env.audit();
    assert!(!report.ok() && report.violations[0].contains("stake vault holds"));
}

// ---- expired-claim slashes are attributed --------------------------------------------------

#[test]
fn expired_claim_slashes_are_attributed_also_when_the_job_is_cancelled() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let (slow, fast, cranker) = (
        env.provider_with_stake(2_000),
        env.provider_with_stake(1_000),
        env.wallet(),
    );
    // settled after an expiry
    let settled = env.post(&r, 1, REWARD, 1, 1);
    env.claim(&slow, &settled).unwrap();
    env.warp(61);
    env.expire(&cranker, &settled, 0).unwrap();
    run_to_reveals(&mut env, &settled, &[&fast], &[[3; 32]]);
    env.finalize(&cranker, &settled).unwrap();
    let s = env.settlement(&settled).unwrap();
    assert_eq!(
        (s.expired.clone(), s.collateral),
        (vec![slow.pubkey()], COLLATERAL)
    );
    // cancelled after an expiry
    let cancelled = env.post(&r, 2, REWARD, 1, 1);
    env.claim(&slow, &cancelled).unwrap();
    env.warp(61);
    env.expire(&cranker, &cancelled, 0).unwrap();
    let market = env.market.clone();
    let to = env.payment_ata(&r.pubkey());
    env.send(
        &[ix::cancel_job(&r.pubkey(), &market, &cancelled, &to)],
        &[&r],
    )
    .unwrap();
    let c = env.settlement(&cancelled).unwrap();
    assert_eq!(c.outcome, Outcome::Cancelled);
    assert_eq!(c.expired, vec![slow.pubkey()]);
    // the audit's per-provider slashes are the account's
    let report = env.audit();
    assert!(report.ok(), "{:?}", report.violations);
    let t = &report.providers[&slow.pubkey().to_string()];
    assert_eq!(
        (t.slashed, t.account_slashed),
        (2 * COLLATERAL, 2 * COLLATERAL)
    );
    assert_eq!(report.cancelled, 1);
    env.assert_vaults_balanced();
}

// ---- the terms a requester accepted ----------------------------------------------------------

#[test]
fn a_post_fails_when_the_market_changed_after_the_requester_read_it() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let reviewed = env.post_args(1, REWARD, 1, 1);
    // the authority raises the fee before the post lands
    let admin = env.admin.insecure_clone();
    let market = env.market.clone();
    let mut config = market.state.config;
    config.fee_bps = 2_000;
    env.send(
        &[ix::update_market(
            &admin.pubkey(),
            &market,
            MarketUpdateArgs {
                config: Some(config),
                paused: None,
                treasury: None,
            },
        )],
        &[&admin],
    )
    .unwrap();
    assert_market_err(env.try_post(&r, reviewed), E::TermsChanged);
    assert_eq!(env.escrow_balance(), 0);
    // read again, reviewed again: the post goes through at the new fee
    env.market.state = env.market_state(&market.address);
    let job = env.post(&r, 1, REWARD, 1, 1);
    assert_eq!(env.job(&job).unwrap().fee_bps, 2_000);
}

// ---- the claim window's boundary -----------------------------------------------------------

#[test]
fn a_claim_is_accepted_only_if_its_whole_window_fits_before_the_commit_deadline() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let (early, late) = (
        env.provider_with_stake(1_000),
        env.provider_with_stake(1_000),
    );
    let timeout = config().claim_timeout;
    let job = env.post(&r, 1, REWARD, 2, 2);
    let deadline = env.job(&job).unwrap().commit_deadline;
    // now + timeout == deadline - 1: accepted, and the commit at the window's last second lands
    env.warp(deadline - 1 - timeout - env.now());
    env.claim(&early, &job).unwrap();
    // now + timeout == deadline: refused, the window's last second would be past the deadline
    env.warp(1);
    assert_market_err(env.claim(&late, &job), E::ClaimWindowClosed);
    env.warp(timeout - 1);
    assert_eq!(env.now(), deadline - 1);
    env.commit(&early, &job, [1; 32], salt(1)).unwrap();
    env.assert_vaults_balanced();
}
