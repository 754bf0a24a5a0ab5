//! Whole job flows in the real runtime, checked to the token unit.

mod common;

use common::*;
use compute_market_client::{self as client, ix, pda, Outcome, Settlement, SlotState, Verdict};
use solana_sdk::signer::Signer;

const BOUNTY: u64 = 50; // 10% of one COLLATERAL

#[test]
fn single_replica_settles_in_three_transactions() {
    let mut env = Env::new();
    let requester = env.requester(1_000_000);
    let worker = env.provider_with_stake(2_000);
    let requester_ata = env.payment_ata(&requester.pubkey());
    // tx 1: post
    let job = env.post(&requester, 1, REWARD, 1, 1);
    assert_eq!(env.balance(&requester_ata), 1_000_000 - REWARD);
    assert_eq!(env.escrow_balance(), REWARD);
    let job_lamports = env.lamports(&job);
    let requester_after_post = env.lamports(&requester.pubkey());
    env.assert_vaults_balanced();

    // tx 2: claim
    env.claim(&worker, &job).unwrap();
    let p = env.provider(&worker.pubkey()).unwrap();
    assert_eq!((p.locked, p.active_claims), (COLLATERAL, 1));

    // tx 3: commit + reveal + finalize together (n = 1)
    let root = [42; 32];
    let state = env.job(&job).unwrap();
    let market = env.market.clone();
    let bounty_to = env.stake_ata(&worker.pubkey());
    let mut ixs = vec![
        env.commit_ix(&worker, &job, root, salt(1)),
        ix::reveal_result(&env.market, &worker.pubkey(), &job, root, salt(1)),
    ];
    let mut revealed = state.clone();
    revealed.slots[0].state = SlotState::Revealed;
    ixs.extend(compute_market_client::ix::finalize_job_prerequisites(
        &worker.pubkey(),
        &market,
        &revealed,
    ));
    ixs.push(ix::create_ata(
        &worker.pubkey(),
        &worker.pubkey(),
        &market.state.stake_mint,
        &market.state.stake_token_program,
    ));
    ixs.push(ix::finalize_job(
        &worker.pubkey(),
        &market,
        &job,
        &state,
        &bounty_to,
    ));
    env.send(&ixs, &[&worker]).unwrap();

    // the job is gone, its rent and settlement deposit back with the requester
    assert!(env.account(&job).is_none(), "job account closed");
    let s = env.settlement(&job).expect("settlement written");
    let settlement_rent = env.lamports(&pda::settlement(&client::PROGRAM_ID, &job));
    // the deposit is sized for the largest record the job could need (every expiry listed);
    // what this record did not use returns with the job's rent
    assert_eq!(
        state.settlement_deposit,
        env.svm
            .minimum_balance_for_rent_exemption(Settlement::space(
                1,
                compute_market_client::constants::MAX_EXPIRED_CLAIMS as usize
            ))
    );
    assert!(state.settlement_deposit > settlement_rent);
    assert_eq!(
        env.lamports(&requester.pubkey()),
        requester_after_post + job_lamports - settlement_rent,
        "the job's rent returns to the requester; the deposit paid for the settlement record \
         and its rest came back"
    );

    assert_eq!(s.outcome, Outcome::Verified);
    assert_eq!(s.result_root, root);
    assert_eq!(
        (s.escrow, s.total_paid, s.fee, s.refund),
        (REWARD, REWARD - FEE, FEE, 0)
    );
    assert_eq!((s.total_slashed, s.bounty, s.expired_slashed), (0, 0, 0));
    assert_eq!(s.verdicts.len(), 1);
    assert_eq!(s.verdicts[0].verdict, Verdict::Agreed);
    assert_eq!(s.verdicts[0].provider, worker.pubkey());
    assert_eq!(s.verdicts[0].paid, REWARD - FEE);
    assert_eq!(s.finalizer, worker.pubkey());
    assert_eq!(s.requester, requester.pubkey());
    assert!(s.balances());

    assert_eq!(
        env.balance(&env.payment_ata(&worker.pubkey())),
        REWARD - FEE
    );
    assert_eq!(env.balance(&env.payment_ata(&env.treasury)), FEE);
    assert_eq!(env.escrow_balance(), 0);
    let p = env.provider(&worker.pubkey()).unwrap();
    assert_eq!((p.stake, p.locked, p.active_claims), (2_000, 0, 0));
    assert_eq!((p.jobs_completed, p.total_earned), (1, REWARD - FEE));
    env.assert_vaults_balanced();
}

#[test]
fn two_of_three_agree_and_the_dissenter_is_slashed() {
    let mut env = Env::new();
    let requester = env.requester(100_000);
    let (a, b, c) = (
        env.provider_with_stake(2_000),
        env.provider_with_stake(2_000),
        env.provider_with_stake(2_000),
    );
    let cranker = env.wallet();
    let job = env.post(&requester, 9, REWARD, 3, 2);
    assert_eq!(env.escrow_balance(), 3 * REWARD);

    let good = [1; 32];
    run_to_reveals(&mut env, &job, &[&a, &b, &c], &[good, good, [66; 32]]);
    env.assert_vaults_balanced();
    env.finalize(&cranker, &job).unwrap();

    let s = env.settlement(&job).unwrap();
    assert_eq!(s.outcome, Outcome::Verified);
    assert_eq!(s.result_root, good);
    let verdicts: Vec<_> = s
        .verdicts
        .iter()
        .map(|v| (v.provider, v.verdict, v.paid, v.slashed))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            (a.pubkey(), Verdict::Agreed, REWARD - FEE, 0),
            (b.pubkey(), Verdict::Agreed, REWARD - FEE, 0),
            (c.pubkey(), Verdict::Dissented, 0, COLLATERAL),
        ]
    );
    assert_eq!(s.verdicts[2].result_root, [66; 32]);
    assert_eq!(
        (s.total_paid, s.fee, s.refund, s.total_slashed, s.bounty),
        (2 * (REWARD - FEE), 2 * FEE, REWARD, COLLATERAL, BOUNTY)
    );
    assert!(s.balances());

    assert_eq!(
        env.balance(&env.payment_ata(&requester.pubkey())),
        100_000 - 3 * REWARD + REWARD
    );
    assert_eq!(env.balance(&env.payment_ata(&a.pubkey())), REWARD - FEE);
    assert_eq!(env.balance(&env.payment_ata(&b.pubkey())), REWARD - FEE);
    assert_eq!(env.balance(&env.payment_ata(&c.pubkey())), 0);
    assert_eq!(env.balance(&env.payment_ata(&env.treasury)), 2 * FEE);
    assert_eq!(
        env.balance(&env.stake_ata(&env.treasury)),
        COLLATERAL - BOUNTY
    );
    assert_eq!(env.balance(&env.stake_ata(&cranker.pubkey())), BOUNTY);
    let pc = env.provider(&c.pubkey()).unwrap();
    assert_eq!(
        (pc.stake, pc.locked, pc.total_slashed, pc.jobs_failed),
        (1_500, 0, COLLATERAL, 1)
    );
    let pa = env.provider(&a.pubkey()).unwrap();
    assert_eq!((pa.stake, pa.locked, pa.jobs_completed), (2_000, 0, 1));
    assert_eq!(env.escrow_balance(), 0);
    env.assert_vaults_balanced();
}

#[test]
fn disagreement_without_quorum_refunds_everything() {
    let mut env = Env::new();
    let requester = env.requester(50_000);
    let (a, b) = (
        env.provider_with_stake(1_000),
        env.provider_with_stake(1_000),
    );
    let job = env.post(&requester, 1, REWARD, 2, 2);
    run_to_reveals(&mut env, &job, &[&a, &b], &[[1; 32], [2; 32]]);
    // every committed slot revealed: final at once, before any deadline
    env.finalize(&a, &job).unwrap();
    let s = env.settlement(&job).unwrap();
    assert_eq!(s.outcome, Outcome::NoQuorum);
    assert_eq!(s.result_root, [0; 32]);
    assert_eq!(
        (s.total_paid, s.fee, s.refund, s.total_slashed),
        (0, 0, 2 * REWARD, 0)
    );
    assert!(s.verdicts.iter().all(|v| v.verdict == Verdict::Unverified));
    assert_eq!(env.balance(&env.payment_ata(&requester.pubkey())), 50_000);
    for p in [&a, &b] {
        let st = env.provider(&p.pubkey()).unwrap();
        assert_eq!((st.stake, st.locked, st.active_claims), (1_000, 0, 0));
    }
    env.assert_vaults_balanced();
}

#[test]
fn deadline_settlement_slashes_absent_and_withholding_providers() {
    let mut env = Env::new();
    let requester = env.requester(50_000);
    let (a, b, c) = (
        env.provider_with_stake(1_000),
        env.provider_with_stake(1_000),
        env.provider_with_stake(1_000),
    );
    let job = env.post(&requester, 1, REWARD, 4, 3);
    for p in [&a, &b, &c] {
        env.claim(p, &job).unwrap();
    }
    env.commit(&a, &job, [1; 32], salt(1)).unwrap();
    env.commit(&b, &job, [1; 32], salt(2)).unwrap();
    // c never commits; the fourth slot is never claimed. Reveals open at the commit deadline.
    assert_market_err(
        env.reveal(&a, &job, [1; 32], salt(1)),
        compute_market::error::MarketError::RevealNotOpen,
    );
    env.warp(600);
    env.reveal(&a, &job, [1; 32], salt(1)).unwrap();
    // b still may reveal: too early to settle
    assert_market_err(
        env.finalize(&a, &job),
        compute_market::error::MarketError::FinalizeTooEarly,
    );
    env.warp(300);
    let cranker = env.wallet();
    env.finalize(&cranker, &job).unwrap();

    let s = env.settlement(&job).unwrap();
    assert_eq!(s.outcome, Outcome::NoQuorum, "one reveal is below k = 3");
    let v: Vec<_> = s.verdicts.iter().map(|v| (v.verdict, v.slashed)).collect();
    assert_eq!(
        v,
        vec![
            (Verdict::Unverified, 0),
            (Verdict::Withheld, COLLATERAL),
            (Verdict::Absent, COLLATERAL),
            (Verdict::Unclaimed, 0),
        ]
    );
    assert_eq!(
        (s.refund, s.total_slashed, s.bounty),
        (4 * REWARD, 2 * COLLATERAL, 2 * BOUNTY)
    );
    assert_eq!(env.balance(&env.payment_ata(&requester.pubkey())), 50_000);
    assert_eq!(env.balance(&env.stake_ata(&cranker.pubkey())), 2 * BOUNTY);
    assert_eq!(
        env.balance(&env.stake_ata(&env.treasury)),
        2 * (COLLATERAL - BOUNTY)
    );
    assert_eq!(env.provider(&b.pubkey()).unwrap().stake, 500);
    assert_eq!(env.provider(&c.pubkey()).unwrap().stake, 500);
    assert_eq!(env.provider(&a.pubkey()).unwrap().stake, 1_000);
    env.assert_vaults_balanced();
}

#[test]
fn an_expired_claim_is_slashed_and_the_slot_goes_to_another_provider() {
    let mut env = Env::new();
    let requester = env.requester(50_000);
    let (slow, fast, cranker) = (
        env.provider_with_stake(1_000),
        env.provider_with_stake(1_000),
        env.wallet(),
    );
    let job = env.post(&requester, 3, REWARD, 1, 1);
    env.claim(&slow, &job).unwrap();
    assert_market_err(
        env.claim(&fast, &job),
        compute_market::error::MarketError::JobFull,
    );
    assert_market_err(
        env.expire(&cranker, &job, 0),
        compute_market::error::MarketError::ClaimNotExpired,
    );
    env.warp(61);
    assert_market_err(
        env.commit(&slow, &job, [1; 32], salt(1)),
        compute_market::error::MarketError::ClaimExpired,
    );
    env.expire(&cranker, &job, 0).unwrap();

    let st = env.job(&job).unwrap();
    assert_eq!(st.status, compute_market_client::JobStatus::Open);
    assert_eq!(st.slots[0].state, SlotState::Free);
    assert_eq!(st.expired_slashed, COLLATERAL);
    let ps = env.provider(&slow.pubkey()).unwrap();
    assert_eq!(
        (ps.stake, ps.locked, ps.active_claims, ps.jobs_failed),
        (500, 0, 0, 1)
    );
    assert_eq!(env.balance(&env.stake_ata(&cranker.pubkey())), BOUNTY);
    assert_eq!(
        env.balance(&env.stake_ata(&env.treasury)),
        COLLATERAL - BOUNTY
    );
    env.assert_vaults_balanced();

    env.claim(&fast, &job).unwrap();
    run_commit_reveal(&mut env, &fast, &job, [5; 32]);
    env.finalize(&fast, &job).unwrap();
    let s = env.settlement(&job).unwrap();
    assert_eq!(s.outcome, Outcome::Verified);
    assert_eq!(s.verdicts[0].provider, fast.pubkey());
    assert_eq!(s.expired_slashed, COLLATERAL);
    assert_eq!(env.balance(&env.payment_ata(&fast.pubkey())), REWARD - FEE);
    env.assert_vaults_balanced();
}

fn run_commit_reveal(
    env: &mut Env,
    p: &solana_sdk::signature::Keypair,
    job: &solana_sdk::pubkey::Pubkey,
    root: [u8; 32],
) {
    env.commit(p, job, root, salt(9)).unwrap();
    env.reveal(p, job, root, salt(9)).unwrap();
}

#[test]
fn cancel_refunds_escrow_and_rent() {
    let mut env = Env::new();
    let requester = env.requester(50_000);
    let job = env.post(&requester, 5, REWARD, 2, 2);
    let job_lamports = env.lamports(&job);
    let before = env.lamports(&requester.pubkey());
    let market = env.market.clone();
    let refund_to = env.payment_ata(&requester.pubkey());
    env.send(
        &[ix::cancel_job(
            &requester.pubkey(),
            &market,
            &job,
            &refund_to,
        )],
        &[&requester],
    )
    .unwrap();
    assert!(env.account(&job).is_none());
    assert_eq!(env.balance(&refund_to), 50_000);
    assert_eq!(env.escrow_balance(), 0);
    // the cancellation is on record, like a settlement
    let s = env.settlement(&job).unwrap();
    assert_eq!(s.outcome, Outcome::Cancelled);
    assert_eq!(
        (s.refund, s.escrow, s.total_paid),
        (2 * REWARD, 2 * REWARD, 0)
    );
    assert!(s.expired.is_empty() && s.balances());
    assert_eq!(s.finalizer, requester.pubkey());
    // all of the job's lamports (rent + settlement deposit) came back, minus the record's rent
    // (which the deposit covered) and the 5000 tx fee
    let record_rent = env.lamports(&market.settlement(&job));
    assert!(record_rent > 0 && record_rent < job_lamports);
    assert_eq!(
        env.lamports(&requester.pubkey()),
        before + job_lamports - record_rent - 5_000
    );
    // the record keeps the address: the nonce cannot be reused
    assert_market_err(
        env.try_post(&requester, env.post_args(5, REWARD, 1, 1)),
        compute_market::error::MarketError::SettlementExists,
    );
    env.assert_vaults_balanced();
}

#[test]
fn unstake_waits_for_the_cooldown_and_an_idle_provider_closes() {
    let mut env = Env::new();
    let p = env.provider_with_stake(2_000);
    let market = env.market.clone();
    let to = env.stake_ata(&p.pubkey());
    let me = p.pubkey();
    env.send(&[ix::request_unstake(&me, &market, 1_500)], &[&p])
        .unwrap();
    let st = env.provider(&me).unwrap();
    assert_eq!(
        (st.pending_unstake, st.unstake_available_at),
        (1_500, env.now() + 3_600)
    );
    assert_market_err(
        env.send(&[ix::withdraw_stake(&me, &market, &to)], &[&p]),
        compute_market::error::MarketError::CooldownActive,
    );
    env.warp(3_599);
    assert_market_err(
        env.send(&[ix::withdraw_stake(&me, &market, &to)], &[&p]),
        compute_market::error::MarketError::CooldownActive,
    );
    env.warp(1);
    env.send(&[ix::withdraw_stake(&me, &market, &to)], &[&p])
        .unwrap();
    assert_eq!(env.balance(&to), 1_500);
    assert_eq!(env.provider(&me).unwrap().stake, 500);
    env.assert_vaults_balanced();

    assert_market_err(
        env.send(&[ix::close_provider(&me, &market)], &[&p]),
        compute_market::error::MarketError::ProviderBusy,
    );
    env.send(&[ix::request_unstake(&me, &market, 500)], &[&p])
        .unwrap();
    env.warp(3_600);
    env.send(&[ix::withdraw_stake(&me, &market, &to)], &[&p])
        .unwrap();
    let provider_address = market.provider(&me);
    let rent = env.lamports(&provider_address);
    let before = env.lamports(&me);
    env.send(&[ix::close_provider(&me, &market)], &[&p])
        .unwrap();
    assert!(env.account(&provider_address).is_none());
    assert_eq!(env.lamports(&me), before + rent - 5_000);
    assert_eq!(env.balance(&to), 2_000);
}

#[test]
fn token_2022_market_with_one_mint_settles_and_slashes() {
    let mut env = Env::with(Options {
        token_program: TOKEN_2022,
        same_mint: true,
        ..Options::default()
    });
    assert_eq!(env.market.state.payment_mint, env.market.state.stake_mint);
    assert_eq!(env.market.state.payment_token_program, TOKEN_2022);
    let requester = env.requester(100_000);
    let (a, b, c) = (
        env.provider_with_stake(1_000),
        env.provider_with_stake(1_000),
        env.provider_with_stake(1_000),
    );
    let job = env.post(&requester, 1, REWARD, 3, 2);
    run_to_reveals(&mut env, &job, &[&a, &b, &c], &[[3; 32], [4; 32], [3; 32]]);
    let cranker = env.wallet();
    env.finalize(&cranker, &job).unwrap();
    let s = env.settlement(&job).unwrap();
    assert_eq!(s.result_root, [3; 32]);
    assert_eq!(s.verdicts[1].verdict, Verdict::Dissented);
    // one mint: fees and slashes meet in the same treasury account
    assert_eq!(
        env.balance(&env.payment_ata(&env.treasury)),
        2 * FEE + COLLATERAL - BOUNTY
    );
    assert_eq!(env.balance(&env.payment_ata(&cranker.pubkey())), BOUNTY);
    assert_eq!(env.balance(&env.payment_ata(&a.pubkey())), REWARD - FEE);
    assert_eq!(
        env.balance(&env.payment_ata(&requester.pubkey())),
        100_000 - 2 * REWARD
    );
    env.assert_vaults_balanced();
}

#[test]
fn jobs_keep_the_fee_they_were_posted_with() {
    let mut env = Env::new();
    let requester = env.requester(100_000);
    let w = env.provider_with_stake(1_000);
    let old_job = env.post(&requester, 1, REWARD, 1, 1);
    let mut cfg = config();
    cfg.fee_bps = 1_000;
    let (admin, market) = (env.admin.insecure_clone(), env.market.clone());
    env.send(
        &[ix::update_market(
            &admin.pubkey(),
            &market,
            compute_market_client::MarketUpdateArgs {
                config: Some(cfg),
                ..Default::default()
            },
        )],
        &[&admin],
    )
    .unwrap();
    assert_eq!(env.market_state(&market.address).config.fee_bps, 1_000);
    // the requester reads the new terms before posting (a post names the terms it accepts)
    env.market.state = env.market_state(&market.address);
    let new_job = env.post(&requester, 2, REWARD, 1, 1);
    for (job, fee) in [(old_job, FEE), (new_job, 1_000)] {
        env.claim(&w, &job).unwrap();
        run_commit_reveal(&mut env, &w, &job, [8; 32]);
        env.finalize(&w, &job).unwrap();
        assert_eq!(env.settlement(&job).unwrap().fee, fee);
    }
    assert_eq!(env.balance(&env.payment_ata(&env.treasury)), FEE + 1_000);
}
