//! Verified results delivered to programs: `deliver_result` calls the consumer a job named,
//! signed by the delivery authority of that market, consumer and data prefix, with the result
//! opened against the settled root; the sample consumer (`programs/verified-value`) stores the
//! value, refuses forgeries and counts what it does not take. A failing consumer leaves the
//! settlement as it was and the delivery can be retried.

mod common;
#[path = "deliver/fixture.rs"]
mod fixture;

use anchor_lang::{Discriminator, InstructionData, ToAccountMetas};
use common::*;
use compute_market::error::MarketError as E;
use compute_market_client::{
    ix,
    merkle::{ExitStatus, ResultSummary},
    pda, Consumer, ConsumerAccount, DeliveredResult, Outcome,
};
use compute_market_harness::CONSUMER_ID;
use fixture::*;
use solana_sdk::{instruction::Instruction, pubkey::Pubkey, signature::Keypair, signer::Signer};
use verified_value::{
    client::{consumer, feed_address},
    FeedError,
};

#[test]
fn a_genuine_delivery_stores_the_verified_value_once() {
    let mut f = Fixture::new();
    let feed = f.feed;
    let (job, opening) = f.settle(1, consumer(&feed));
    let env = &mut f.env;
    let s = env.settlement(&job).unwrap();
    assert_eq!(s.delivery.as_ref().unwrap().delivered_slot, 0, "pending");

    let caller = env.wallet();
    env.deliver(&caller, &job, Some(opening.clone())).unwrap();
    let v = env.feed(&feed).unwrap();
    assert_eq!(v.value, OUTPUT);
    assert_eq!((v.last_job, v.last_root), (job, s.result_root));
    assert_eq!((v.deliveries, v.unverified, v.rejected), (1, 0, 0));
    let d = env.settlement(&job).unwrap().delivery.unwrap();
    assert!(d.delivered_slot > 0);
    assert_eq!(d.delivered_by, caller.pubkey());
    // delivered once: a second delivery is refused and the value stays
    assert_market_err(
        env.deliver(&caller, &job, Some(opening)),
        E::AlreadyDelivered,
    );
    assert_eq!(env.feed(&feed).unwrap().deliveries, 1);
    let report = env.audit();
    assert!(report.ok(), "{:?}", report.violations);
    env.assert_vaults_balanced();
}

#[test]
fn a_forged_delivery_is_refused_by_the_consumer() {
    let mut f = Fixture::new();
    let feed = f.feed;
    let (job, opening) = f.settle(2, consumer(&feed));
    let requester = f.requester.insecure_clone();
    let env = &mut f.env;
    let market = env.market.address;
    let s = env.settlement(&job).unwrap();
    let message = compute_market_client::DeliveryMessage {
        market,
        job,
        requester: s.requester,
        nonce: s.nonce,
        manifest_hash: MANIFEST,
        outcome: Outcome::Verified,
        replicas: 1,
        quorum: 1,
        agreeing: 1,
        result_root: s.result_root,
        result: Some(DeliveredResult {
            output: b"2.71828\n".to_vec(),
            ..opening.clone()
        }),
        settled_slot: s.settled_slot,
    };
    // called directly, signed by a wallet of the forger's: not the market's delivery authority
    let forger = env.wallet();
    let direct = Instruction {
        program_id: CONSUMER_ID,
        accounts: verified_value::accounts::Record {
            authority: forger.pubkey(),
            settlement: env.market.settlement(&job),
            feed,
        }
        .to_account_metas(None),
        data: verified_value::instruction::Record {
            message: message.clone(),
        }
        .data(),
    };
    assert_feed_err(env.send(&[direct], &[&forger]), FeedError::ForgedDelivery);

    // a market of the forger's own (same program, its own providers) delivers its "verified"
    // value of the feed's requester's job into the feed: signed by that market's authority
    let first = env.market.clone();
    env.market = second_market(env, &forger);
    let (forged_job, forged_opening) = env.settle_verified(&requester, 3, consumer(&feed));
    assert_feed_err(
        env.deliver(&forger, &forged_job, Some(forged_opening)),
        FeedError::ForgedDelivery,
    );
    env.market = first;
    assert!(env.feed(&feed).unwrap().value.is_empty(), "nothing stored");
    // the genuine one still goes through
    env.deliver(&forger, &job, Some(opening)).unwrap();
    assert_eq!(env.feed(&feed).unwrap().value, OUTPUT);
}

#[test]
fn a_consumer_cannot_pass_its_delivery_authority_on_to_another_consumer() {
    let mut f = Fixture::new();
    let forwarder = compute_market_harness::add_forwarder(&mut f.env.svm);
    let feed = f.feed;
    // a job whose consumer is the attacker's program, handed the feed and the sample consumer
    let relay = Consumer {
        program: forwarder,
        data_prefix: test_forwarder::instruction::Relay::DISCRIMINATOR.to_vec(),
        accounts: vec![
            ConsumerAccount {
                pubkey: CONSUMER_ID,
                writable: false,
            },
            ConsumerAccount {
                pubkey: feed,
                writable: true,
            },
        ],
    };
    let (job, opening) = f.settle(10, relay);
    let env = &mut f.env;
    let caller = env.wallet();
    // the signature it passes on is its own delivery authority's, not the feed's consumer's
    assert_feed_err(
        env.deliver(&caller, &job, Some(opening)),
        FeedError::ForgedDelivery,
    );
    let v = env.feed(&feed).unwrap();
    assert!(
        v.value.is_empty() && v.deliveries == 0,
        "nothing forged got in"
    );
    assert_ne!(v.value, test_forwarder::FORGED);
    assert_eq!(env.delivered_slot(&job), 0);
}

#[test]
fn a_prefix_that_shifts_the_message_is_not_the_consumers_authority() {
    let mut f = Fixture::new();
    let feed = f.feed;
    // the requester names the feed's `record` with 8 bytes of its own after the discriminator,
    // then cancels: the message of a cancelled job (zero root, no result) still parses 8 bytes
    // late, with fields taken from the requester's nonce and manifest hash
    let mut shifted = consumer(&feed);
    shifted.data_prefix.extend_from_slice(&[0; 8]);
    let r = f.requester.insecure_clone();
    let env = &mut f.env;
    let mut args = env.post_args(11, REWARD, 1, 1);
    args.consumer = Some(shifted);
    // read 8 bytes late, this byte of the manifest hash is the outcome: Verified
    args.manifest_hash[24] = 0;
    let job = env.try_post(&r, args).unwrap();
    let market = env.market.clone();
    let to = env.payment_ata(&r.pubkey());
    env.send(&[ix::cancel_job(&r.pubkey(), &market, &job, &to)], &[&r])
        .unwrap();
    let caller = env.wallet();
    // refused by the authority check itself: this prefix has an authority of its own (with one
    // authority per consumer the feed would have read the shifted message, and only its
    // market check, WrongMarket, would have stood in the way)
    assert_feed_err(env.deliver(&caller, &job, None), FeedError::ForgedDelivery);
    assert_eq!(env.feed(&feed).unwrap().deliveries, 0);
}

#[test]
fn the_sample_feed_takes_only_what_its_owner_pinned() {
    let mut f = Fixture::new();
    let owner = f.owner.insecure_clone();
    let market = f.env.market.address;
    // a feed must name the requester whose jobs it takes: anybody could post any module
    assert_feed_err(
        f.env
            .create_feed(&owner, 20, market, MANIFEST, Pubkey::default(), 1),
        FeedError::Unpinned,
    );
    let caller = f.env.wallet();
    // what it does not take is counted as rejected and the delivery is done: it could never
    // succeed, so it is not left to be retried
    let rejected = |f: &mut Fixture, id: u64, nonce: u64, by: Option<Keypair>, manifest, min| {
        let r = f.requester.pubkey();
        f.env
            .create_feed(&owner, id, market, manifest, r, min)
            .unwrap();
        let feed = feed_address(&owner.pubkey(), id);
        let (job, opening) = match by {
            Some(other) => f.env.settle_verified(&other, nonce, consumer(&feed)),
            None => f.settle(nonce, consumer(&feed)),
        };
        f.env.deliver(&caller, &job, Some(opening)).unwrap();
        let v = f.env.feed(&feed).unwrap();
        assert_eq!((v.deliveries, v.rejected), (1, 1), "feed {id}");
        assert!(v.value.is_empty(), "feed {id}");
        assert!(f.env.delivered_slot(&job) > 0);
    };
    // another requester's job, another computation, too few providers in agreement
    let stranger = f.env.requester(100_000);
    rejected(&mut f, 21, 21, Some(stranger), MANIFEST, 1);
    rejected(&mut f, 22, 22, None, [9; 32], 1);
    rejected(&mut f, 23, 23, None, MANIFEST, 2);
    // a job settled before the value cannot overwrite it, whatever the order of deliveries
    let feed = f.feed;
    let (older, older_opening) = f.settle(24, consumer(&feed));
    let (newer, newer_opening) = f.settle(25, consumer(&feed));
    f.env.deliver(&caller, &newer, Some(newer_opening)).unwrap();
    f.env.deliver(&caller, &older, Some(older_opening)).unwrap();
    let v = f.env.feed(&feed).unwrap();
    assert_eq!((v.last_job, v.deliveries, v.rejected), (newer, 2, 1));
    // a feed of any computation of its requester takes them all
    let r = f.requester.pubkey();
    f.env
        .create_feed(&owner, 26, market, [0; 32], r, 1)
        .unwrap();
    let any = feed_address(&owner.pubkey(), 26);
    let (job, opening) = f.settle(26, consumer(&any));
    f.env.deliver(&caller, &job, Some(opening)).unwrap();
    assert_eq!(f.env.feed(&any).unwrap().value, OUTPUT);
}

#[test]
fn a_failing_consumer_keeps_the_settlement_and_the_delivery_can_be_retried() {
    let mut f = Fixture::new();
    let owner = f.owner.insecure_clone();
    let market = f.env.market.address;
    // the job names a feed that does not exist yet
    let feed = feed_address(&owner.pubkey(), 4);
    let (job, opening) = f.settle(4, consumer(&feed));
    let env = &mut f.env;
    let before = env.settlement(&job).unwrap();
    let caller = env.wallet();
    let failed = env.deliver(&caller, &job, Some(opening.clone()));
    assert_eq!(
        custom_code(&failed.expect_err("the consumer fails")),
        Some(anchor_lang::error::ErrorCode::AccountNotInitialized as u32)
    );
    let after = env.settlement(&job).unwrap();
    assert_eq!(after.delivery.as_ref().unwrap().delivered_slot, 0);
    assert_eq!(
        (after.outcome, after.total_paid, after.refund),
        (before.outcome, before.total_paid, before.refund),
        "the settlement is untouched"
    );
    // the feed appears: the same delivery, retried, goes through
    let r = f.requester.pubkey();
    f.env
        .create_feed(&owner, 4, market, MANIFEST, r, 1)
        .unwrap();
    f.env.deliver(&caller, &job, Some(opening)).unwrap();
    assert_eq!(f.env.feed(&feed).unwrap().value, OUTPUT);
    assert!(f.env.delivered_slot(&job) > 0);
}

#[test]
fn deliveries_must_open_the_settled_root_with_the_accounts_the_job_named() {
    let mut f = Fixture::new();
    let feed = f.feed;
    let (job, opening) = f.settle(5, consumer(&feed));
    let env = &mut f.env;
    let caller = env.wallet();
    for bad in [
        DeliveredResult {
            output: b"2.71828\n".to_vec(),
            ..opening.clone()
        },
        DeliveredResult {
            output: vec![],
            ..opening.clone()
        },
        DeliveredResult {
            fuel_used: opening.fuel_used + 1,
            ..opening.clone()
        },
    ] {
        assert_market_err(env.deliver(&caller, &job, Some(bad)), E::ResultMismatch);
    }
    assert_market_err(env.deliver(&caller, &job, None), E::ResultMismatch);

    let good = env.deliver_ix(&caller, &job, Some(opening.clone()));
    // another program in the consumer's place: its authority is another PDA (seeds), and with
    // that authority too, it is not the consumer the job named
    let other = compute_market_client::PROGRAM_ID;
    let mut wrong = good.clone();
    wrong.accounts[3].pubkey = other;
    assert_anchor_err(
        env.send(&[wrong.clone()], &[&caller]),
        anchor_lang::error::ErrorCode::ConstraintSeeds,
    );
    wrong.accounts[2].pubkey = pda::delivery_authority(
        &other,
        &env.market.address,
        &other,
        verified_value::instruction::Record::DISCRIMINATOR,
    );
    assert_market_err(env.send(&[wrong], &[&caller]), E::ConsumerAccountMismatch);
    // the named account read-only, another account, or one too few
    let mut readonly = good.clone();
    readonly.accounts[4].is_writable = false;
    assert_market_err(
        env.send(&[readonly], &[&caller]),
        E::ConsumerAccountMismatch,
    );
    let mut other = good.clone();
    other.accounts[4].pubkey = Pubkey::new_unique();
    assert_market_err(env.send(&[other], &[&caller]), E::ConsumerAccountMismatch);
    let mut short = good.clone();
    short.accounts.pop();
    assert_market_err(env.send(&[short], &[&caller]), E::ConsumerAccountMismatch);
    // the delivery authority of another market, or of another prefix
    let mut signer = good.clone();
    signer.accounts[2].pubkey = pda::delivery_authority(
        &compute_market_client::PROGRAM_ID,
        &Pubkey::new_unique(),
        &CONSUMER_ID,
        verified_value::instruction::Record::DISCRIMINATOR,
    );
    assert_anchor_err(
        env.send(&[signer.clone()], &[&caller]),
        anchor_lang::error::ErrorCode::ConstraintSeeds,
    );
    signer.accounts[2].pubkey = pda::delivery_authority(
        &compute_market_client::PROGRAM_ID,
        &env.market.address,
        &CONSUMER_ID,
        &[],
    );
    assert_anchor_err(
        env.send(&[signer], &[&caller]),
        anchor_lang::error::ErrorCode::ConstraintSeeds,
    );
    assert!(env.feed(&feed).unwrap().value.is_empty());
    env.send(&[good], &[&caller]).unwrap();
    assert_eq!(env.feed(&feed).unwrap().value, OUTPUT);

    // a job without a consumer has nothing to deliver
    let r = env.requester(100_000);
    let plain = env.post(&r, 6, REWARD, 1, 1);
    let cancel = ix::cancel_job(
        &r.pubkey(),
        &env.market.clone(),
        &plain,
        &env.payment_ata(&r.pubkey()),
    );
    env.send(&[cancel], &[&r]).unwrap();
    let mut none = env.deliver_ix(&caller, &job, None);
    none.accounts[1].pubkey = env.market.settlement(&plain);
    none.accounts[2].pubkey = pda::delivery_authority(
        &compute_market_client::PROGRAM_ID,
        &env.market.address,
        &CONSUMER_ID,
        &[],
    );
    none.accounts.truncate(4);
    assert_market_err(env.send(&[none], &[&caller]), E::NoConsumer);
}

#[test]
fn a_cancelled_job_delivers_its_outcome_without_a_result() {
    let mut f = Fixture::new();
    let feed = f.feed;
    let r = f.requester.insecure_clone();
    let env = &mut f.env;
    let mut args = env.post_args(7, REWARD, 1, 1);
    args.consumer = Some(consumer(&feed));
    let job = env.try_post(&r, args).unwrap();
    let cancel = ix::cancel_job(
        &r.pubkey(),
        &env.market.clone(),
        &job,
        &env.payment_ata(&r.pubkey()),
    );
    env.send(&[cancel], &[&r]).unwrap();
    let s = env.settlement(&job).unwrap();
    assert_eq!(s.outcome, Outcome::Cancelled);
    assert_eq!(s.delivery.as_ref().unwrap().consumer, consumer(&feed));
    let caller = env.wallet();
    let opening = ResultSummary::new("wasi-p1v2", ExitStatus::Exited(0), 1, OUTPUT).opening(OUTPUT);
    assert_market_err(env.deliver(&caller, &job, Some(opening)), E::ResultMismatch);
    env.deliver(&caller, &job, None).unwrap();
    let v = env.feed(&feed).unwrap();
    assert_eq!((v.deliveries, v.unverified), (1, 1));
    assert!(v.value.is_empty());
}

#[test]
fn post_refuses_a_consumer_that_could_misuse_the_authority() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let feed = Pubkey::new_unique();
    let ok = consumer(&feed);
    let cases = [
        Consumer {
            program: compute_market_client::PROGRAM_ID,
            ..ok.clone()
        },
        Consumer {
            program: anchor_spl::token::ID,
            ..ok.clone()
        },
        Consumer {
            program: anchor_lang::system_program::ID,
            ..ok.clone()
        },
        Consumer {
            data_prefix: vec![0; compute_market::state::MAX_CONSUMER_PREFIX + 1],
            ..ok.clone()
        },
        Consumer {
            accounts: vec![ok.accounts[0]; compute_market::state::MAX_CONSUMER_ACCOUNTS + 1],
            ..ok.clone()
        },
    ];
    for (i, c) in cases.into_iter().enumerate() {
        let mut args = env.post_args(100 + i as u64, REWARD, 1, 1);
        args.consumer = Some(c);
        assert_market_err(env.try_post_now(&r, args), E::InvalidConsumer);
    }
    // its accounts may not name its own delivery authority or the job's settlement
    let market = env.market.clone();
    let job = market.job(&r.pubkey(), 150);
    for named in [
        ok.authority(&market.program, &market.address),
        market.settlement(&job),
    ] {
        let mut c = ok.clone();
        c.accounts[0].pubkey = named;
        let mut args = env.post_args(150, REWARD, 1, 1);
        args.consumer = Some(c);
        assert_market_err(env.try_post_now(&r, args), E::InvalidConsumer);
    }
    // the largest consumer a job may name: its job and settlement are sized for it, and the
    // requester's deposit covers the settlement's rent
    let largest = Consumer {
        data_prefix: vec![1; compute_market::state::MAX_CONSUMER_PREFIX],
        accounts: vec![ok.accounts[0]; compute_market::state::MAX_CONSUMER_ACCOUNTS],
        ..ok
    };
    let mut args = env.post_args(200, REWARD, 1, 1);
    args.consumer = Some(largest.clone());
    let job = env.try_post_now(&r, args).unwrap();
    assert_eq!(env.job(&job).unwrap().consumer, Some(largest));
    let cancel = ix::cancel_job(
        &r.pubkey(),
        &env.market.clone(),
        &job,
        &env.payment_ata(&r.pubkey()),
    );
    env.send(&[cancel], &[&r]).unwrap();
    let s = env.settlement(&job).unwrap();
    assert!(s.delivery.is_some());
    env.assert_vaults_balanced();

    // the largest delivery of it (the longest runtime id, the longest output carried, every
    // account) fits a packet as a legacy transaction
    use compute_market::state::{MAX_DELIVERED_OUTPUT, MAX_RUNTIME_LEN};
    let output = vec![7u8; MAX_DELIVERED_OUTPUT as usize];
    let runtime = "r".repeat(MAX_RUNTIME_LEN);
    let opening = ResultSummary::new(&runtime, ExitStatus::Exited(0), 1, &output).opening(&output);
    let caller = env.wallet();
    let ix = ix::deliver_result(
        &caller.pubkey(),
        &compute_market_client::PROGRAM_ID,
        &job,
        &s,
        Some(opening),
    )
    .unwrap();
    let size = compute_market_client::rpc::Chain::new("http://127.0.0.1:1")
        .transaction_size(&[ix], &caller.pubkey());
    println!("the largest delivery: {size} bytes");
    assert!(
        size <= compute_market_client::rpc::PACKET_DATA_SIZE,
        "{size}"
    );
}
