//! Attacks on commit and reveal, finalize and closed jobs (see `attacks.rs`).

use super::*;

// ---- commit and reveal --------------------------------------------------------------------

#[test]
fn commitments_cannot_be_copied_or_opened_early() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let (a, b, c) = (
        env.provider_with_stake(1_000),
        env.provider_with_stake(1_000),
        env.provider_with_stake(1_000),
    );
    let job = env.post(&r, 1, REWARD, 2, 2);
    let solo = env.post(&r, 2, REWARD, 1, 1);
    env.claim(&a, &job).unwrap();
    env.claim(&b, &job).unwrap();
    env.claim(&b, &solo).unwrap();
    assert_market_err(env.commit(&c, &job, [1; 32], salt(3)), E::NotAssigned);
    assert_market_err(
        env.send(
            &[ix::commit_result(&env.market, &a.pubkey(), &job, [0; 32])],
            &[&a],
        ),
        E::ZeroCommitment,
    );
    let root = [1; 32];
    // b copies a's commitment bytes (seen in flight) and lands first: a's commit still lands,
    // because only a can ever open them
    let a_commitment = client::commitment_hash(&job, &a.pubkey(), &root, &salt(1));
    env.send(
        &[ix::commit_result(
            &env.market,
            &b.pubkey(),
            &job,
            a_commitment,
        )],
        &[&b],
    )
    .unwrap();
    // reveal before every slot committed and before the commit deadline
    assert_market_err(env.reveal(&b, &job, root, salt(1)), E::RevealNotOpen);
    env.commit(&a, &job, root, salt(1)).unwrap();
    assert_eq!(env.job(&job).unwrap().slots[0].commitment, a_commitment);
    assert_market_err(env.commit(&a, &job, root, salt(1)), E::SlotNotClaimed);
    // b reuses a's commitment in another job, hoping to open it with a's reveal later
    env.send(
        &[ix::commit_result(
            &env.market,
            &b.pubkey(),
            &solo,
            a_commitment,
        )],
        &[&b],
    )
    .unwrap();
    // wrong salt, wrong root, and a reveal without a commitment
    assert_market_err(env.reveal(&a, &job, root, salt(9)), E::CommitmentMismatch);
    assert_market_err(
        env.reveal(&a, &job, [9; 32], salt(1)),
        E::CommitmentMismatch,
    );
    env.reveal(&a, &job, root, salt(1)).unwrap();
    assert_market_err(env.reveal(&a, &job, root, salt(1)), E::NotCommitted);
    // a's root and salt are public now, but the commitment binds the provider's key: b can open
    // neither copy
    assert_market_err(env.reveal(&b, &job, root, salt(1)), E::CommitmentMismatch);
    assert_market_err(env.reveal(&b, &solo, root, salt(1)), E::CommitmentMismatch);
    // reveals close at the reveal deadline
    env.warp(600 + 300);
    assert_market_err(env.reveal(&b, &job, root, salt(1)), E::RevealDeadlinePassed);
    // the copier pays for its copy as a withheld reveal
    env.finalize(&c, &job).unwrap();
    let s = env.settlement(&job).unwrap();
    assert_eq!(s.verdicts[1].provider, b.pubkey());
    assert_eq!(s.verdicts[1].verdict, Verdict::Withheld);
    assert!(s.verdicts[1].slashed > 0);
    assert_eq!(s.verdicts[0].verdict, Verdict::Unverified, "1 of k = 2");
    env.assert_vaults_balanced();
}

// ---- finalize -----------------------------------------------------------------------------

#[test]
fn finalize_checks_timing_accounts_and_runs_once() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let (a, b, c) = (
        env.provider_with_stake(1_000),
        env.provider_with_stake(1_000),
        env.provider_with_stake(1_000),
    );
    let cranker = env.wallet();
    let job = env.post(&r, 1, REWARD, 3, 2);
    assert_market_err(env.finalize(&cranker, &job), E::FinalizeTooEarly);
    for p in [&a, &b, &c] {
        env.claim(p, &job).unwrap();
    }
    env.commit(&a, &job, [1; 32], salt(1)).unwrap();
    env.commit(&b, &job, [1; 32], salt(2)).unwrap();
    // c never commits: at the deadline a and b reveal, c is absent
    env.warp(600);
    env.reveal(&a, &job, [1; 32], salt(1)).unwrap();
    assert_market_err(env.finalize(&cranker, &job), E::FinalizeTooEarly);
    env.reveal(&b, &job, [1; 32], salt(2)).unwrap();

    let state = env.job(&job).unwrap();
    let market = env.market.clone();
    let bounty_to = env.fund(&cranker.pubkey(), &market.state.stake_mint, &SPL_TOKEN, 0);
    let prereq =
        compute_market_client::ix::finalize_job_prerequisites(&cranker.pubkey(), &market, &state);
    env.send(&prereq, &[&cranker]).unwrap();
    let good = ix::finalize_job(&cranker.pubkey(), &market, &job, &state, &bounty_to);
    let n = good.accounts.len(); // the last 6 are (provider, payout) of a, b, c

    // provider accounts missing, swapped, or one too many
    let mut missing = good.clone();
    missing.accounts.truncate(n - 2);
    assert_market_err(
        env.send(&[missing], &[&cranker]),
        E::ProviderAccountMismatch,
    );
    let mut swapped = good.clone();
    swapped.accounts.swap(n - 6, n - 4);
    swapped.accounts.swap(n - 5, n - 3);
    assert_market_err(
        env.send(&[swapped], &[&cranker]),
        E::ProviderAccountMismatch,
    );
    let mut extra = good.clone();
    extra.accounts.push(extra.accounts[n - 2].clone());
    extra.accounts.push(extra.accounts[n - 1].clone());
    assert_market_err(env.send(&[extra], &[&cranker]), E::ProviderAccountMismatch);
    let mut readonly = good.clone();
    readonly.accounts[n - 6].is_writable = false;
    assert_market_err(
        env.send(&[readonly], &[&cranker]),
        E::ProviderAccountMismatch,
    );
    // a's payout redirected to the cranker
    let cranker_pay = env.fund(&cranker.pubkey(), &market.state.payment_mint, &SPL_TOKEN, 0);
    let mut redirected = good.clone();
    redirected.accounts[n - 5].pubkey = cranker_pay;
    assert_market_err(
        env.send(&[redirected], &[&cranker]),
        E::PayoutAccountMismatch,
    );
    // refund, fee, slash and bounty destinations
    let refund_ata = env.payment_ata(&r.pubkey());
    assert_market_err(
        env.send(&[swap(good.clone(), refund_ata, cranker_pay)], &[&cranker]),
        E::PayoutAccountMismatch,
    );
    let fee_ata = env.payment_ata(&env.treasury);
    assert_market_err(
        env.send(&[swap(good.clone(), fee_ata, cranker_pay)], &[&cranker]),
        E::PayoutAccountMismatch,
    );
    let slash_ata = env.stake_ata(&env.treasury);
    assert_market_err(
        env.send(&[swap(good.clone(), slash_ata, bounty_to)], &[&cranker]),
        E::PayoutAccountMismatch,
    );
    assert_market_err(
        env.send(
            &[swap(good.clone(), refund_ata, market.state.stake_vault)],
            &[&cranker],
        ),
        E::PayoutAccountMismatch,
    );
    assert_market_err(
        env.send(
            &[swap(good.clone(), bounty_to, market.state.escrow_vault)],
            &[&cranker],
        ),
        E::PayoutAccountMismatch,
    );
    // a vault swapped for another
    let stake_vault_as_escrow = {
        let mut ix = good.clone();
        let i = ix
            .accounts
            .iter()
            .position(|m| m.pubkey == market.state.escrow_vault)
            .unwrap();
        ix.accounts[i].pubkey = market.state.stake_vault;
        ix
    };
    assert!(env.send(&[stake_vault_as_escrow], &[&cranker]).is_err());

    env.send(std::slice::from_ref(&good), &[&cranker]).unwrap();
    // the second finalize finds no job
    assert_anchor_err(
        env.send(&[good], &[&cranker]),
        AnchorError::AccountNotInitialized,
    );
    let s = env.settlement(&job).unwrap();
    assert_eq!(
        (s.total_paid, s.refund, s.total_slashed),
        (2 * (REWARD - 250), REWARD, 500)
    );
    env.assert_vaults_balanced();
}

#[test]
fn a_recipient_cannot_block_settlement_by_refusing_transfers() {
    use anchor_spl::token_interface::spl_token_2022::{
        extension::{memo_transfer::instruction::enable_required_transfer_memos, ExtensionType},
        instruction::{initialize_account3, reallocate},
    };
    let mut env = Env::with(Options {
        token_program: TOKEN_2022,
        ..Options::default()
    });
    let r = env.requester(100_000);
    let p = env.provider_with_stake(1_000);
    // one reveal of k = 2: no quorum, a full refund is due
    let job = env.post(&r, 1, REWARD, 2, 2);
    env.claim(&p, &job).unwrap();
    env.commit(&p, &job, [1; 32], salt(1)).unwrap();
    env.warp(600);
    env.reveal(&p, &job, [1; 32], salt(1)).unwrap();
    // the requester makes its associated account refuse transfers that come without a memo
    let ata = env.payment_ata(&r.pubkey());
    env.send(
        &[
            reallocate(
                &TOKEN_2022,
                &ata,
                &r.pubkey(),
                &r.pubkey(),
                &[],
                &[ExtensionType::MemoTransfer],
            )
            .unwrap(),
            enable_required_transfer_memos(&TOKEN_2022, &ata, &r.pubkey(), &[]).unwrap(),
        ],
        &[&r],
    )
    .unwrap();
    let cranker = env.wallet();
    assert!(
        env.finalize(&cranker, &job).is_err(),
        "the refund into the memo-only account fails"
    );
    // any crank can open a fresh account for the requester and settle into it
    let fresh = solana_sdk::signature::Keypair::new();
    let mint = env.market.state.payment_mint;
    let space = 165; // a plain token account
    let rent = env.svm.minimum_balance_for_rent_exemption(space);
    env.send(
        &[
            anchor_lang::solana_program::system_instruction::create_account(
                &cranker.pubkey(),
                &fresh.pubkey(),
                rent,
                space as u64,
                &TOKEN_2022,
            ),
            initialize_account3(&TOKEN_2022, &fresh.pubkey(), &mint, &r.pubkey()).unwrap(),
        ],
        &[&cranker, &fresh],
    )
    .unwrap();
    let mut ixs = env.finalize_ixs(&cranker, &job);
    let last = ixs.len() - 1;
    ixs[last] = swap(ixs[last].clone(), ata, fresh.pubkey());
    env.send(&ixs, &[&cranker]).unwrap();
    assert_eq!(
        env.balance(&fresh.pubkey()),
        2 * REWARD,
        "no quorum: the whole escrow is refunded"
    );
    env.assert_vaults_balanced();
}

#[test]
fn closed_jobs_stay_closed() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let p = env.provider_with_stake(1_000);
    let job = env.post(&r, 1, REWARD, 1, 1);
    env.claim(&p, &job).unwrap();
    env.commit(&p, &job, [1; 32], salt(1)).unwrap();
    env.reveal(&p, &job, [1; 32], salt(1)).unwrap();
    // revive the job in the same transaction as its finalize: refund the rent to its address
    // and try to use it again
    let mut ixs = env.finalize_ixs(&p, &job);
    ixs.push(anchor_lang::solana_program::system_instruction::transfer(
        &p.pubkey(),
        &job,
        10_000_000,
    ));
    let mut revive = ixs.clone();
    revive.push(env.commit_ix(&p, &job, [2; 32], salt(2)));
    assert!(
        env.send(&revive, &[&p]).is_err(),
        "a revived job must not accept commits"
    );
    env.send(&ixs, &[&p]).unwrap();
    let acc = env
        .account(&job)
        .expect("the address holds the lamports sent to it");
    assert_eq!(acc.owner, anchor_lang::system_program::ID);
    assert!(acc.data.is_empty());
    assert_anchor_err(
        env.commit(&p, &job, [2; 32], salt(2)),
        AnchorError::AccountOwnedByWrongProgram,
    );
    // the address of a settled job cannot be posted again: its settlement must stay unique
    assert_market_err(
        env.try_post(&r, env.post_args(1, REWARD, 1, 1)),
        E::SettlementExists,
    );
    env.assert_vaults_balanced();
}
