//! Attacks on posting, claiming and expiry (see `attacks.rs`).

use super::*;

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
