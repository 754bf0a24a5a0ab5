//! The program's books of each vault (`Ledger`) and the authority's sweep of what a vault holds
//! beyond them. Every other test's `assert_vaults_balanced` and audit also check that each
//! ledger equals the sum of the accounts it books.

mod common;

use common::*;
use compute_market::error::MarketError as E;
use compute_market_client::{ix, pda, MarketInitArgs, Pubkey, PROGRAM_ID};
use solana_sdk::{signature::Keypair, signer::Signer, transaction::TransactionError};

fn sweep(env: &mut Env, signer: &Keypair, stake: bool) -> Result<(), TransactionError> {
    let ix = ix::sweep_surplus(&signer.pubkey(), &env.market, stake);
    env.send(&[ix], &[signer])
}

#[test]
fn the_authority_sweeps_a_surplus_to_the_treasury_and_never_the_books() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let p = env.provider_with_stake(1_000);
    let job = env.post(&r, 1, REWARD, 1, 1);
    let admin = env.admin.insecure_clone();
    // nothing but books in the vaults: nothing to sweep
    assert_market_err(sweep(&mut env, &admin, false), E::NoSurplus);
    assert_market_err(sweep(&mut env, &admin, true), E::NoSurplus);

    env.donate(7, 9);
    let report = env.audit();
    assert!(report.ok(), "{:?}", report.violations);
    assert_eq!((report.escrow_surplus, report.stake_surplus), (7, 9));
    assert_eq!((report.escrow_books, report.stake_books), (REWARD, 1_000));

    // only the authority sweeps
    let stranger = env.wallet();
    assert_anchor_err(
        sweep(&mut env, &stranger, false),
        AnchorError::ConstraintHasOne,
    );

    let treasury = env.treasury;
    let (fees_before, slashes_before) = (
        env.balance(&env.payment_ata(&treasury)),
        env.balance(&env.stake_ata(&treasury)),
    );
    sweep(&mut env, &admin, false).unwrap();
    sweep(&mut env, &admin, true).unwrap();
    assert_eq!(env.balance(&env.payment_ata(&treasury)), fees_before + 7);
    assert_eq!(env.balance(&env.stake_ata(&treasury)), slashes_before + 9);
    assert_eq!(
        (env.escrow_balance(), env.stake_vault_balance()),
        (REWARD, 1_000)
    );
    let report = env.audit();
    assert!(report.ok(), "{:?}", report.violations);
    assert_eq!((report.escrow_surplus, report.stake_surplus), (0, 0));
    assert_eq!((report.escrow_swept, report.stake_swept), (7, 9));
    // the books stay where they were
    assert_market_err(sweep(&mut env, &admin, false), E::NoSurplus);

    // and the job they belong to settles in full
    env.claim(&p, &job).unwrap();
    env.commit(&p, &job, [1; 32], salt(1)).unwrap();
    env.reveal(&p, &job, [1; 32], salt(1)).unwrap();
    env.finalize(&p, &job).unwrap();
    assert_eq!(env.balance(&env.payment_ata(&p.pubkey())), REWARD - FEE);
    env.assert_vaults_balanced();
}

#[test]
fn a_sweep_moves_only_the_vault_its_ledger_books() {
    let mut env = Env::with(Options {
        stake_token_program: Some(TOKEN_2022),
        ..Options::default()
    });
    let admin = env.admin.insecure_clone();
    let m = env.market.state.clone();
    let escrow_sweep = ix::sweep_surplus(&admin.pubkey(), &env.market, false);
    // the stake vault under the escrow vault's ledger
    let mut ix = escrow_sweep.clone();
    ix.accounts[3].pubkey = m.stake_vault;
    assert_anchor_err(env.send(&[ix], &[&admin]), AnchorError::ConstraintHasOne);
    // the stake ledger and vault with the escrow mint's token program
    let mut ix = ix::sweep_surplus(&admin.pubkey(), &env.market, true);
    ix.accounts[6].pubkey = m.payment_token_program;
    assert_market_err(env.send(&[ix], &[&admin]), E::NotAMarketVault);
    // to an account of someone other than the treasury, even one of the vault's mint
    for (vault, mint, program) in [
        (m.escrow_vault, m.payment_mint, m.payment_token_program),
        (m.stake_vault, m.stake_mint, m.stake_token_program),
    ] {
        let mint_to =
            compute_market_client::token::mint_to(&program, &mint, &vault, &admin.pubkey(), 3);
        env.send(&[mint_to], &[&admin]).unwrap();
    }
    let stranger = env.wallet();
    let to = env.fund(
        &stranger.pubkey(),
        &m.payment_mint,
        &m.payment_token_program,
        0,
    );
    let mut ix = escrow_sweep.clone();
    ix.accounts[5].pubkey = to;
    assert_market_err(env.send(&[ix], &[&admin]), E::PayoutAccountMismatch);
    // into the other vault
    let mut ix = escrow_sweep.clone();
    ix.accounts[5].pubkey = m.stake_vault;
    assert_market_err(env.send(&[ix], &[&admin]), E::PayoutAccountMismatch);
    // an account that is no ledger at all
    let mut ix = escrow_sweep;
    ix.accounts[2].pubkey = Pubkey::new_unique();
    assert_anchor_err(
        env.send(&[ix], &[&admin]),
        AnchorError::AccountNotInitialized,
    );
    // the Token-2022 stake vault's surplus goes to the treasury's Token-2022 account
    let treasury = env.stake_ata(&env.treasury);
    let before = env.balance(&treasury);
    sweep(&mut env, &admin, true).unwrap();
    assert_eq!(env.balance(&treasury), before + 3);
    sweep(&mut env, &admin, false).unwrap();
    env.assert_vaults_balanced();
}

#[test]
fn instructions_take_only_the_ledger_of_their_vault() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let args = env.post_args(1, REWARD, 1, 1);
    let requester_token = env.payment_ata(&r.pubkey());
    let mut post = ix::post_job(&r.pubkey(), &env.market, &requester_token, args);
    let escrow_ledger = env.market.escrow_ledger();
    let stake_ledger = env.market.stake_ledger();
    let i = post
        .accounts
        .iter()
        .position(|a| a.pubkey == escrow_ledger)
        .unwrap();
    post.accounts[i].pubkey = stake_ledger;
    assert_market_err(env.send(&[post.clone()], &[&r]), E::WrongLedger);

    // another market's books of the same kind of vault, which it owns
    let admin = env.admin.insecure_clone();
    let m = env.market.state.clone();
    let args_b = MarketInitArgs {
        market_id: 8,
        treasury: env.treasury,
        config: config(),
    };
    env.send(
        &[ix::init_market(
            &PROGRAM_ID,
            &admin.pubkey(),
            &m.payment_mint,
            &m.payment_token_program,
            &m.stake_mint,
            &m.stake_token_program,
            args_b,
        )],
        &[&admin],
    )
    .unwrap();
    let other = pda::market(&PROGRAM_ID, &admin.pubkey(), 8);
    let other_escrow = pda::escrow_vault(&PROGRAM_ID, &other);
    post.accounts[i].pubkey = pda::ledger(&PROGRAM_ID, &other_escrow);
    assert_anchor_err(env.send(&[post], &[&r]), AnchorError::ConstraintHasOne);

    let owner = env.provider_with_stake(1_000);
    let mut stake = ix::stake(
        &owner.pubkey(),
        &env.market,
        &env.stake_ata(&owner.pubkey()),
        1,
    );
    let i = stake
        .accounts
        .iter()
        .position(|a| a.pubkey == stake_ledger)
        .unwrap();
    stake.accounts[i].pubkey = escrow_ledger;
    assert_market_err(env.send(&[stake], &[&owner]), E::WrongLedger);
    env.assert_vaults_balanced();
}

#[test]
fn donations_to_the_stake_vault_do_not_slow_eligibility() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    env.provider_with_stake(1_000);
    env.provider_with_stake(3_000);
    // a donation worth a thousand times the stake would stretch every job's windows a
    // thousandfold if the vault's balance scaled them
    env.donate(1, 4_000_000);
    let job = env.post(&r, 1, REWARD, 1, 1);
    assert_eq!(env.job(&job).unwrap().stake_scale, 4_000);
}
