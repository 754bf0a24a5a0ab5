//! One attack per check: every forged account, wrong signer and out-of-order step must fail
//! with its named error and leave the books balanced.

mod common;
#[path = "attacks/posting.rs"]
mod posting;
#[path = "attacks/settlement.rs"]
mod settlement;

use common::*;
use compute_market::error::MarketError as E;
use compute_market_client::{
    self as client, ix, pda, Instruction, MarketConfig, MarketInitArgs, MarketRef, Pubkey, Verdict,
};
use solana_sdk::signer::Signer;

/// Replaces every occurrence of `from` among the instruction's accounts by `to`.
fn swap(mut ix: Instruction, from: Pubkey, to: Pubkey) -> Instruction {
    let mut hit = false;
    for m in ix.accounts.iter_mut().filter(|m| m.pubkey == from) {
        m.pubkey = to;
        hit = true;
    }
    assert!(hit, "{from} is not an account of the instruction");
    ix
}

/// A second market of the same admin (id 8), with its own mints and vaults.
fn second_market(env: &mut Env) -> MarketRef {
    let pm = env.create_mint(&SPL_TOKEN, &[]);
    let sm = env.create_mint(&SPL_TOKEN, &[]);
    let admin = env.admin.insecure_clone();
    let args = MarketInitArgs {
        market_id: 8,
        treasury: admin.pubkey(),
        config: config(),
    };
    env.send(
        &[ix::init_market(
            &client::PROGRAM_ID,
            &admin.pubkey(),
            &pm,
            &SPL_TOKEN,
            &sm,
            &SPL_TOKEN,
            args,
        )],
        &[&admin],
    )
    .unwrap();
    let address = pda::market(&client::PROGRAM_ID, &admin.pubkey(), 8);
    MarketRef {
        program: client::PROGRAM_ID,
        address,
        state: env.market_state(&address),
    }
}

fn init_with(
    env: &mut Env,
    id: u64,
    config: MarketConfig,
) -> Result<(), solana_sdk::transaction::TransactionError> {
    let m = env.market.state.clone();
    let admin = env.admin.insecure_clone();
    let args = MarketInitArgs {
        market_id: id,
        treasury: admin.pubkey(),
        config,
    };
    env.send(
        &[ix::init_market(
            &client::PROGRAM_ID,
            &admin.pubkey(),
            &m.payment_mint,
            &SPL_TOKEN,
            &m.stake_mint,
            &SPL_TOKEN,
            args,
        )],
        &[&admin],
    )
}

// ---- market configuration -----------------------------------------------------------------

#[test]
fn market_rules_are_validated() {
    let mut env = Env::new();
    type Case = (fn(&mut MarketConfig), E);
    let cases: Vec<Case> = vec![
        (|c| c.fee_bps = 2_001, E::FeeTooHigh),
        (|c| c.slash_bounty_bps = 5_001, E::BountyTooHigh),
        (|c| c.max_replicas = 0, E::InvalidReplicaLimit),
        (|c| c.max_replicas = 9, E::InvalidReplicaLimit),
        (|c| c.collateral_per_claim = 0, E::InvalidCollateral),
        (
            |c| c.collateral_per_claim = c.min_stake + 1,
            E::InvalidCollateral,
        ),
        (|c| c.claim_timeout = 0, E::InvalidTimeout),
        (|c| c.reveal_window = -5, E::InvalidTimeout),
        (|c| c.unstake_cooldown = 31 * 24 * 3600, E::InvalidTimeout),
        (
            |c| c.default_commit_window = c.claim_timeout - 1,
            E::InvalidTimeout,
        ),
        (
            |c| c.max_commit_window = c.default_commit_window - 1,
            E::InvalidTimeout,
        ),
    ];
    for (i, (mutate, err)) in cases.into_iter().enumerate() {
        let mut cfg = config();
        mutate(&mut cfg);
        assert_market_err(init_with(&mut env, 100 + i as u64, cfg), err);
        // update_market applies the same rules
        let (admin, market) = (env.admin.insecure_clone(), env.market.clone());
        let args = compute_market_client::MarketUpdateArgs {
            config: Some(cfg),
            ..Default::default()
        };
        assert_market_err(
            env.send(
                &[ix::update_market(&admin.pubkey(), &market, args)],
                &[&admin],
            ),
            err,
        );
    }
    // the same market id twice: the account exists already
    assert!(init_with(&mut env, 7, config()).is_err());
}

#[test]
fn only_the_authority_updates_the_market() {
    let mut env = Env::new();
    let intruder = env.wallet();
    let market = env.market.clone();
    let args = compute_market_client::MarketUpdateArgs {
        paused: Some(true),
        ..Default::default()
    };
    assert_anchor_err(
        env.send(
            &[ix::update_market(&intruder.pubkey(), &market, args.clone())],
            &[&intruder],
        ),
        AnchorError::ConstraintHasOne,
    );
    // the authority's key without its signature
    let mut unsigned = ix::update_market(&env.admin.pubkey(), &market, args);
    unsigned.accounts[0].is_signer = false;
    assert_anchor_err(
        env.send(&[unsigned], &[&intruder]),
        AnchorError::AccountNotSigner,
    );
    assert!(!env.market_state(&market.address).paused);
}

#[test]
fn mints_with_accounting_breaking_extensions_are_refused() {
    use anchor_spl::token_interface::spl_token_2022::extension::{
        transfer_fee::instruction::initialize_transfer_fee_config, ExtensionType,
    };
    let mut env = Env::new();
    let admin = env.admin.insecure_clone();
    let fee_mint = env.create_mint_with(&TOKEN_2022, &[ExtensionType::TransferFeeConfig], |mint| {
        vec![initialize_transfer_fee_config(
            &TOKEN_2022,
            mint,
            Some(&admin.pubkey()),
            None,
            100,
            1_000,
        )
        .unwrap()]
    });
    let plain = env.create_mint(&TOKEN_2022, &[]);
    let args = |id| MarketInitArgs {
        market_id: id,
        treasury: admin.pubkey(),
        config: config(),
    };
    assert_market_err(
        env.send(
            &[ix::init_market(
                &client::PROGRAM_ID,
                &admin.pubkey(),
                &fee_mint,
                &TOKEN_2022,
                &plain,
                &TOKEN_2022,
                args(20),
            )],
            &[&admin],
        ),
        E::UnsupportedMintExtension,
    );
    assert_market_err(
        env.send(
            &[ix::init_market(
                &client::PROGRAM_ID,
                &admin.pubkey(),
                &plain,
                &TOKEN_2022,
                &fee_mint,
                &TOKEN_2022,
                args(21),
            )],
            &[&admin],
        ),
        E::UnsupportedMintExtension,
    );
    // a mint under the wrong token program
    assert!(env
        .send(
            &[ix::init_market(
                &client::PROGRAM_ID,
                &admin.pubkey(),
                &plain,
                &SPL_TOKEN,
                &plain,
                &TOKEN_2022,
                args(22)
            )],
            &[&admin]
        )
        .is_err());
    env.send(
        &[ix::init_market(
            &client::PROGRAM_ID,
            &admin.pubkey(),
            &plain,
            &TOKEN_2022,
            &plain,
            &TOKEN_2022,
            args(23),
        )],
        &[&admin],
    )
    .unwrap();
}

// ---- providers ----------------------------------------------------------------------------

#[test]
fn provider_inputs_are_validated() {
    let mut env = Env::new();
    let owner = env.wallet();
    let market = env.market.clone();
    for bad in [
        "",
        "ftp://x",
        "http://",
        "http://a b",
        &format!("https://{}", "h".repeat(130)),
    ] {
        assert_market_err(
            env.send(
                &[ix::register_provider(&owner.pubkey(), &market, bad, 1)],
                &[&owner],
            ),
            E::InvalidEndpoint,
        );
    }
    let p = env.provider_with_stake(1_000);
    let to = env.stake_ata(&p.pubkey());
    assert_market_err(
        env.send(&[ix::stake(&p.pubkey(), &market, &to, 0)], &[&p]),
        E::ZeroAmount,
    );
    assert_market_err(
        env.send(&[ix::request_unstake(&p.pubkey(), &market, 0)], &[&p]),
        E::ZeroAmount,
    );
    assert_market_err(
        env.send(&[ix::withdraw_stake(&p.pubkey(), &market, &to)], &[&p]),
        E::NothingToWithdraw,
    );
    let args = compute_market_client::ProviderUpdateArgs {
        endpoint: Some("gopher://x".into()),
        capabilities: None,
    };
    assert_market_err(
        env.send(&[ix::update_provider(&p.pubkey(), &market, args)], &[&p]),
        E::InvalidEndpoint,
    );
    let args = compute_market_client::ProviderUpdateArgs {
        endpoint: Some("https://w.example".into()),
        capabilities: Some(3),
    };
    env.send(&[ix::update_provider(&p.pubkey(), &market, args)], &[&p])
        .unwrap();
    let st = env.provider(&p.pubkey()).unwrap();
    assert_eq!(
        (st.endpoint.as_str(), st.capabilities),
        ("https://w.example", 3)
    );
    // registering twice fails: the account exists
    assert!(env
        .send(
            &[ix::register_provider(&p.pubkey(), &market, "http://h", 1)],
            &[&p]
        )
        .is_err());
}

#[test]
fn locked_stake_cannot_be_withdrawn() {
    let mut env = Env::new();
    let requester = env.requester(100_000);
    let p = env.provider_with_stake(1_200);
    let market = env.market.clone();
    let job = env.post(&requester, 1, REWARD, 1, 1);
    env.claim(&p, &job).unwrap(); // locks 500 of 1200
    assert_market_err(
        env.send(&[ix::request_unstake(&p.pubkey(), &market, 701)], &[&p]),
        E::InsufficientFreeStake,
    );
    // with a claim open, the stake less pending withdrawals must stay at the minimum (1000)
    assert_market_err(
        env.send(&[ix::request_unstake(&p.pubkey(), &market, 700)], &[&p]),
        E::StakeBelowMinimum,
    );
    env.send(&[ix::request_unstake(&p.pubkey(), &market, 200)], &[&p])
        .unwrap();
    // locked and pending stake no longer back claims: 500 are free for one more
    let job2 = env.post(&requester, 2, REWARD, 1, 1);
    env.claim(&p, &job2).unwrap();
    let job3 = env.post(&requester, 3, REWARD, 1, 1);
    assert_market_err(env.claim(&p, &job3), E::InsufficientFreeStake);
    assert_market_err(
        env.send(&[ix::close_provider(&p.pubkey(), &market)], &[&p]),
        E::ProviderBusy,
    );
    env.warp(3_600);
    let to = env.stake_ata(&p.pubkey());
    env.send(&[ix::withdraw_stake(&p.pubkey(), &market, &to)], &[&p])
        .unwrap();
    let st = env.provider(&p.pubkey()).unwrap();
    assert_eq!((st.stake, st.locked), (1_000, 1_000));
    env.assert_vaults_balanced();
}

#[test]
fn another_owners_provider_cannot_be_used() {
    let mut env = Env::new();
    let victim = env.provider_with_stake(1_000);
    let thief = env.provider_with_stake(1_000);
    let market = env.market.clone();
    let to = env.stake_ata(&thief.pubkey());
    // unstake from the victim's provider account, signed by the thief
    let ix = swap(
        ix::request_unstake(&thief.pubkey(), &market, 100),
        market.provider(&thief.pubkey()),
        market.provider(&victim.pubkey()),
    );
    assert_anchor_err(env.send(&[ix], &[&thief]), AnchorError::ConstraintSeeds);
    let ix = swap(
        ix::withdraw_stake(&thief.pubkey(), &market, &to),
        market.provider(&thief.pubkey()),
        market.provider(&victim.pubkey()),
    );
    assert_anchor_err(env.send(&[ix], &[&thief]), AnchorError::ConstraintSeeds);
    assert_eq!(env.provider(&victim.pubkey()).unwrap().pending_unstake, 0);
}
