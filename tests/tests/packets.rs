//! Jobs at the largest n against the packet limit: with the compute-budget instructions a
//! finalize fits a legacy transaction up to seven held slots with one token program; with eight
//! it needs a v0 transaction with the market's lookup table, with one or two token programs.

mod common;

use common::*;
use compute_market_client::{ix, Instruction, Pubkey, Verdict};
use solana_sdk::{signature::Keypair, signer::Signer};

/// An n = 8 job on a market built from `opts` (max 8 replicas), six slots revealing one root and
/// two another, with the payout accounts of the finalize created; returns the finalize
/// instruction a cranker sends, and the cranker.
fn eight_replicas_revealed(opts: Options) -> (Env, Pubkey, Keypair, Instruction) {
    let mut cfg = config();
    cfg.max_replicas = 8;
    let mut env = Env::with(Options {
        config: cfg,
        ..opts
    });
    let requester = env.requester(1_000_000);
    let providers: Vec<_> = (0..8).map(|_| env.provider_with_stake(1_000)).collect();
    let job = env.post(&requester, 1, REWARD, 8, 5);
    let refs: Vec<_> = providers.iter().collect();
    let roots: Vec<[u8; 32]> = (0..8)
        .map(|i| if i < 6 { [1; 32] } else { [2; 32] })
        .collect();
    run_to_reveals(&mut env, &job, &refs, &roots);

    let cranker = env.wallet();
    let state = env.job(&job).unwrap();
    let market = env.market.clone();
    let bounty_to = env.fund(
        &cranker.pubkey(),
        &market.state.stake_mint,
        &market.state.stake_token_program,
        0,
    );
    let prereq =
        compute_market_client::ix::finalize_job_prerequisites(&cranker.pubkey(), &market, &state);
    env.send(&prereq, &[&cranker]).unwrap();
    let finalize = ix::finalize_job(&cranker.pubkey(), &market, &job, &state, &bounty_to);
    (env, job, cranker, finalize)
}

/// The settlement of [`eight_replicas_revealed`]'s job: six paid, two slashed.
fn assert_six_paid_two_slashed(env: &Env, job: &Pubkey) {
    let s = env.settlement(job).unwrap();
    assert_eq!(
        s.verdicts
            .iter()
            .filter(|v| v.verdict == Verdict::Agreed)
            .count(),
        6
    );
    assert_eq!(
        s.verdicts
            .iter()
            .filter(|v| v.verdict == Verdict::Dissented)
            .count(),
        2
    );
    assert_eq!(
        (s.total_paid, s.fee, s.refund, s.total_slashed),
        (6 * (REWARD - FEE), 6 * FEE, 2 * REWARD, 2 * COLLATERAL)
    );
    env.assert_vaults_balanced();
}

/// What a client sends for `finalize`: behind a compute-unit limit and a priority fee, as a v0
/// transaction loading the market's accounts from a lookup table (created by `cranker`). Returns
/// the legacy and the v0 sizes.
fn settle_with_lookup_table(
    env: &mut Env,
    cranker: &Keypair,
    finalize: Instruction,
) -> (usize, usize) {
    use compute_market_client::{lookup, rpc};
    use solana_sdk::{
        message::{v0, VersionedMessage},
        transaction::VersionedTransaction,
    };
    let market = env.market.clone();
    let mut chain = rpc::Chain::new("http://127.0.0.1:1");
    chain.priority_fee = 1_000;
    let all = chain.with_budget(std::slice::from_ref(&finalize));
    let legacy = rpc::transaction_size(&all, &cranker.pubkey());
    assert!(
        legacy > rpc::PACKET_DATA_SIZE,
        "this finalize was expected not to fit a legacy transaction ({legacy} bytes)"
    );
    assert!(!lookup::largest_finalize_fits(
        &chain,
        &market,
        &cranker.pubkey()
    ));

    // the market's accounts in a lookup table, usable from the next slot
    let recent = env.svm.get_sysvar::<solana_sdk::clock::Clock>().slot;
    let (create, table) =
        lookup::alt_ix::create_lookup_table(cranker.pubkey(), cranker.pubkey(), recent);
    let addresses = lookup::market_addresses(&market);
    let extend = lookup::alt_ix::extend_lookup_table(
        table,
        cranker.pubkey(),
        Some(cranker.pubkey()),
        addresses.clone(),
    );
    env.send(&[create, extend], &[cranker]).unwrap();
    env.svm.warp_to_slot(recent + 2);
    let tables = [lookup::AddressLookupTableAccount {
        key: table,
        addresses,
    }];
    let size = rpc::v0_transaction_size(&all, &cranker.pubkey(), &tables);
    assert!(size <= rpc::PACKET_DATA_SIZE, "v0: {size} bytes");
    let message =
        v0::Message::try_compile(&cranker.pubkey(), &all, &tables, env.svm.latest_blockhash())
            .unwrap();
    let tx = VersionedTransaction::try_new(VersionedMessage::V0(message), &[cranker]).unwrap();
    env.svm
        .send_transaction(tx)
        .map_err(|f| f.meta.logs.join("\n"))
        .unwrap();
    (legacy, size)
}

#[test]
fn a_finalize_fits_a_legacy_transaction_up_to_seven_replicas_with_one_token_program() {
    use compute_market_client::{lookup, rpc};
    let mut chain = rpc::Chain::new("http://127.0.0.1:1");
    chain.priority_fee = 1_000;
    let env = Env::new();
    let payer = Pubkey::new_unique();
    let mut market = env.market.clone();
    market.state.config.max_replicas = 7;
    assert!(lookup::largest_finalize_fits(&chain, &market, &payer));
    market.state.config.max_replicas = 8;
    assert!(!lookup::largest_finalize_fits(&chain, &market, &payer));
}

#[test]
fn eight_replicas_with_one_token_program_settle_in_a_v0_transaction_with_a_lookup_table() {
    let (mut env, job, cranker, finalize) = eight_replicas_revealed(Options::default());
    let (legacy, v0) = settle_with_lookup_table(&mut env, &cranker, finalize);
    println!(
        "finalize n = 8, SPL Token, with compute budget: legacy {legacy} bytes, v0 {v0} bytes"
    );
    assert_six_paid_two_slashed(&env, &job);
}

#[test]
fn eight_replicas_with_two_token_programs_settle_in_a_v0_transaction_with_a_lookup_table() {
    // payment in Token-2022, stake in SPL Token: the most accounts a finalize names
    let (mut env, job, cranker, finalize) = eight_replicas_revealed(Options {
        token_program: TOKEN_2022,
        stake_token_program: Some(SPL_TOKEN),
        ..Options::default()
    });
    let (legacy, v0) = settle_with_lookup_table(&mut env, &cranker, finalize);
    println!("finalize n = 8, Token-2022 + SPL Token, with compute budget: legacy {legacy} bytes, v0 {v0} bytes");
    assert_six_paid_two_slashed(&env, &job);
}
