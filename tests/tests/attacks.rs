//! One attack per check: every forged account, wrong signer and out-of-order step must fail
//! with its named error and leave the books balanced.

mod common;

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

// ---- posting ------------------------------------------------------------------------------

#[test]
fn job_parameters_are_validated() {
    let mut env = Env::new();
    let r = env.requester(u64::MAX / 2);
    type Case = (fn(&mut compute_market_client::JobPostArgs), E);
    let cases: Vec<Case> = vec![
        (|a| a.replicas = 0, E::InvalidReplicas),
        (|a| a.replicas = 6, E::InvalidReplicas), // market max is 5
        (|a| a.quorum = 0, E::InvalidQuorum),
        (
            |a| {
                a.replicas = 2;
                a.quorum = 3
            },
            E::InvalidQuorum,
        ),
        // below a strict majority: a 1–1 split would void the job with nobody at fault
        (
            |a| {
                a.replicas = 2;
                a.quorum = 1
            },
            E::InvalidQuorum,
        ),
        (
            |a| {
                a.replicas = 4;
                a.quorum = 2
            },
            E::InvalidQuorum,
        ),
        (|a| a.terms_hash = [0; 32], E::TermsChanged),
        (|a| a.reward_per_replica = 0, E::ZeroReward),
        (
            |a| {
                a.reward_per_replica = u64::MAX;
                a.min_reward_per_replica = u64::MAX;
                a.replicas = 2;
                a.quorum = 2
            },
            E::MathOverflow,
        ),
        (|a| a.manifest_hash = [0; 32], E::InvalidManifestHash),
        (|a| a.manifest_uri = String::new(), E::InvalidManifestUri),
        (|a| a.manifest_uri = "x".repeat(201), E::InvalidManifestUri),
        (|a| a.commit_window = 59, E::InvalidCommitWindow),
        (|a| a.commit_window = 3_601, E::InvalidCommitWindow),
        (|a| a.commit_window = -1, E::InvalidCommitWindow),
    ];
    for (nonce, (mutate, err)) in cases.into_iter().enumerate() {
        let mut args = env.post_args(nonce as u64, REWARD, 1, 1);
        mutate(&mut args);
        assert_market_err(env.try_post(&r, args), err);
    }
    // more than the requester holds: the token program refuses, nothing is escrowed
    let poor = env.requester(REWARD - 1);
    assert!(env.try_post(&poor, env.post_args(1, REWARD, 1, 1)).is_err());
    assert_eq!(env.escrow_balance(), 0);
    env.assert_vaults_balanced();
}

#[test]
fn forged_vault_mint_and_market_are_refused() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let market = env.market.clone();
    let from = env.payment_ata(&r.pubkey());
    let args = {
        let a = env.post_args(1, REWARD, 1, 1);
        move || a.clone()
    };

    // escrow into the requester's own account instead of the vault
    let own = env.fund(&r.pubkey(), &market.state.stake_mint, &SPL_TOKEN, 0);
    let ix = swap(
        ix::post_job(&r.pubkey(), &market, &from, args()),
        market.state.escrow_vault,
        own,
    );
    assert_anchor_err(env.send(&[ix], &[&r]), AnchorError::ConstraintAddress);

    // pay with a worthless mint of the attacker's
    let junk = env.create_mint(&SPL_TOKEN, &[]);
    let junk_from = env.fund(&r.pubkey(), &junk, &SPL_TOKEN, 100_000);
    let ix = swap(
        swap(
            ix::post_job(&r.pubkey(), &market, &from, args()),
            market.state.payment_mint,
            junk,
        ),
        from,
        junk_from,
    );
    assert_anchor_err(env.send(&[ix], &[&r]), AnchorError::ConstraintAddress);

    // a job of this market used with another market's accounts
    let job = env.post(&r, 2, REWARD, 1, 1);
    let other = second_market(&mut env);
    let p = env.provider_with_stake(1_000);
    let ix = swap(
        ix::claim_job(&p.pubkey(), &market, &job),
        market.address,
        other.address,
    );
    assert!(env.send(&[ix], &[&p]).is_err());

    // a provider of the other market claims here
    let outsider = env.wallet();
    env.send(
        &[ix::register_provider(
            &outsider.pubkey(),
            &other,
            "http://o",
            1,
        )],
        &[&outsider],
    )
    .unwrap();
    let ix = swap(
        ix::claim_job(&outsider.pubkey(), &market, &job),
        market.provider(&outsider.pubkey()),
        other.provider(&outsider.pubkey()),
    );
    assert_anchor_err(env.send(&[ix], &[&outsider]), AnchorError::ConstraintSeeds);

    // a counterfeit market account (right bytes, not owned by the program)
    let fake = Pubkey::new_unique();
    let mut acc = env.svm.get_account(&market.address).unwrap();
    acc.owner = anchor_lang::system_program::ID;
    env.svm.set_account(fake, acc).unwrap();
    let ix = swap(
        ix::claim_job(&p.pubkey(), &market, &job),
        market.address,
        fake,
    );
    assert_anchor_err(
        env.send(&[ix], &[&p]),
        AnchorError::AccountOwnedByWrongProgram,
    );
    env.assert_vaults_balanced();
}

#[test]
fn paused_market_refuses_new_business_but_lets_work_finish() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let p = env.provider_with_stake(1_000);
    let job = env.post(&r, 1, REWARD, 1, 1);
    let open = env.post(&r, 2, REWARD, 1, 1);
    env.claim(&p, &job).unwrap();
    let (admin, market) = (env.admin.insecure_clone(), env.market.clone());
    let pause = |on| compute_market_client::MarketUpdateArgs {
        paused: Some(on),
        ..Default::default()
    };
    env.send(
        &[ix::update_market(&admin.pubkey(), &market, pause(true))],
        &[&admin],
    )
    .unwrap();

    assert_market_err(
        env.try_post(&r, env.post_args(3, REWARD, 1, 1)),
        E::MarketPaused,
    );
    assert_market_err(env.claim(&p, &open), E::MarketPaused);
    let newcomer = env.wallet();
    assert_market_err(
        env.send(
            &[ix::register_provider(
                &newcomer.pubkey(),
                &market,
                "http://n",
                1,
            )],
            &[&newcomer],
        ),
        E::MarketPaused,
    );
    // work in flight completes, and the requester can still withdraw an open job
    env.commit(&p, &job, [1; 32], salt(1)).unwrap();
    env.reveal(&p, &job, [1; 32], salt(1)).unwrap();
    env.finalize(&p, &job).unwrap();
    let refund_to = env.payment_ata(&r.pubkey());
    env.send(
        &[ix::cancel_job(&r.pubkey(), &market, &open, &refund_to)],
        &[&r],
    )
    .unwrap();

    env.send(
        &[ix::update_market(&admin.pubkey(), &market, pause(false))],
        &[&admin],
    )
    .unwrap();
    env.try_post(&r, env.post_args(3, REWARD, 1, 1)).unwrap();
    env.assert_vaults_balanced();
}

// ---- claiming -----------------------------------------------------------------------------

#[test]
fn claims_need_free_stake_and_one_slot_per_provider() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let p = env.provider_with_stake(1_000);
    let job = env.post(&r, 1, REWARD, 3, 2);
    env.claim(&p, &job).unwrap();
    assert_market_err(env.claim(&p, &job), E::DuplicateProvider);
    let j2 = env.post(&r, 2, REWARD, 1, 1);
    env.claim(&p, &j2).unwrap(); // 1000 locked now
    let j3 = env.post(&r, 3, REWARD, 1, 1);
    assert_market_err(env.claim(&p, &j3), E::InsufficientFreeStake);
    let small = env.provider_with_stake(999);
    assert_market_err(env.claim(&small, &j3), E::InsufficientStake);
    let unregistered = env.wallet();
    assert_anchor_err(
        env.claim(&unregistered, &j3),
        AnchorError::AccountNotInitialized,
    );
    // a claim must leave its full timeout before the commit deadline, and none comes after it
    let late = env.provider_with_stake(1_000);
    env.warp(600 - 59);
    assert_market_err(env.claim(&late, &j3), E::ClaimWindowClosed);
    env.warp(59);
    assert_market_err(env.claim(&late, &j3), E::CommitPhaseOver);
    env.assert_vaults_balanced();
}

#[test]
fn cancel_only_by_the_requester_and_only_while_unclaimed() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let p = env.provider_with_stake(1_000);
    let market = env.market.clone();
    let job = env.post(&r, 1, REWARD, 2, 2);
    let thief = env.wallet();
    let thief_to = env.fund(&thief.pubkey(), &market.state.payment_mint, &SPL_TOKEN, 0);
    // the thief as "requester"
    let ix = swap(
        ix::cancel_job(&r.pubkey(), &market, &job, &thief_to),
        r.pubkey(),
        thief.pubkey(),
    );
    assert!(env.send(&[ix], &[&thief]).is_err());
    // the requester's key without its signature
    let mut ix = ix::cancel_job(&r.pubkey(), &market, &job, &thief_to);
    ix.accounts[0].is_signer = false;
    assert_anchor_err(env.send(&[ix], &[&thief]), AnchorError::AccountNotSigner);
    env.claim(&p, &job).unwrap();
    let to = env.payment_ata(&r.pubkey());
    assert_market_err(
        env.send(&[ix::cancel_job(&r.pubkey(), &market, &job, &to)], &[&r]),
        E::JobAlreadyClaimed,
    );
    assert_eq!(env.balance(&thief_to), 0);
    env.assert_vaults_balanced();
}

// ---- expiry -------------------------------------------------------------------------------

#[test]
fn expiry_rules() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let (p, q, cranker) = (
        env.provider_with_stake(1_000),
        env.provider_with_stake(1_000),
        env.wallet(),
    );
    let job = env.post(&r, 1, REWARD, 3, 2);
    env.claim(&p, &job).unwrap();
    env.claim(&q, &job).unwrap();
    env.commit(&p, &job, [1; 32], salt(1)).unwrap();
    env.warp(61);
    // p committed in time: nothing to expire; slot 2 was never claimed
    assert_market_err(env.expire(&cranker, &job, 0), E::SlotNotClaimed);
    let market = env.market.clone();
    let bounty_to = env.stake_ata(&cranker.pubkey());
    let free_slot = ix::expire_claim(&cranker.pubkey(), &market, &job, 2, &q.pubkey(), &bounty_to);
    assert_market_err(env.send(&[free_slot], &[&cranker]), E::SlotNotClaimed);
    let bad_slot = ix::expire_claim(&cranker.pubkey(), &market, &job, 9, &q.pubkey(), &bounty_to);
    assert_market_err(env.send(&[bad_slot], &[&cranker]), E::InvalidSlot);
    // slot 1 with p's provider account
    let wrong = ix::expire_claim(&cranker.pubkey(), &market, &job, 1, &p.pubkey(), &bounty_to);
    assert_market_err(env.send(&[wrong], &[&cranker]), E::ProviderAccountMismatch);
    // a provider cannot farm the bounty on its own slash
    assert_market_err(env.expire(&q, &job, 1), E::SelfExpiry);
    // the bounty may not go into a vault, the slash only into the treasury's account
    let into_vault = ix::expire_claim(
        &cranker.pubkey(),
        &market,
        &job,
        1,
        &q.pubkey(),
        &market.state.stake_vault,
    );
    assert_market_err(
        env.send(&[into_vault], &[&cranker]),
        E::PayoutAccountMismatch,
    );
    let treasury_ata = env.stake_ata(&env.treasury);
    let elsewhere = swap(
        ix::expire_claim(&cranker.pubkey(), &market, &job, 1, &q.pubkey(), &bounty_to),
        treasury_ata,
        bounty_to,
    );
    assert!(env.send(&[elsewhere], &[&cranker]).is_err());
    env.expire(&cranker, &job, 1).unwrap();
    // after the commit deadline, slots are settled by finalize, not expired
    let late = env.provider_with_stake(1_000);
    env.claim(&late, &job).unwrap();
    env.warp(600);
    assert_market_err(env.expire(&cranker, &job, 1), E::CommitPhaseOver);
    env.assert_vaults_balanced();
}

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
