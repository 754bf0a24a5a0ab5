//! Verified results delivered to programs: `deliver_result` calls the consumer a job named,
//! signed by the market's delivery authority, with the result opened against the settled root;
//! the sample consumer (`programs/verified-value`) stores the value and refuses forgeries. A
//! failing consumer leaves the settlement as it was and the delivery can be retried.

mod common;

use anchor_lang::{Discriminator, InstructionData, ToAccountMetas};
use common::*;
use compute_market::error::MarketError as E;
use compute_market_client::{
    ix,
    merkle::{ExitStatus, ResultSummary},
    pda, Consumer, ConsumerAccount, DeliveredResult, Outcome,
};
use compute_market_harness::CONSUMER_ID;
use solana_sdk::{
    instruction::Instruction, pubkey::Pubkey, signature::Keypair, signer::Signer,
    transaction::TransactionError,
};
use verified_value::FeedError;

const OUTPUT: &[u8] = b"3.14159\n";
const MANIFEST: [u8; 32] = [7; 32];

fn feed_address(owner: &Pubkey, id: u64) -> Pubkey {
    Pubkey::find_program_address(
        &[verified_value::SEED_FEED, owner.as_ref(), &id.to_le_bytes()],
        &CONSUMER_ID,
    )
    .0
}

/// The consumer part of a post: `record` on the feed.
fn consumer(feed: &Pubkey) -> Consumer {
    Consumer {
        program: CONSUMER_ID,
        data_prefix: verified_value::instruction::Record::DISCRIMINATOR.to_vec(),
        accounts: vec![ConsumerAccount {
            pubkey: *feed,
            writable: true,
        }],
    }
}

fn feed_error(e: FeedError) -> u32 {
    anchor_lang::error::ERROR_CODE_OFFSET + e as u32
}

#[track_caller]
fn assert_feed_err<T: std::fmt::Debug>(r: Result<T, TransactionError>, e: FeedError) {
    let err = r.expect_err("expected the consumer to refuse");
    assert_eq!(custom_code(&err), Some(feed_error(e)), "got {err:?}");
}

impl Env {
    fn create_feed(&mut self, owner: &Keypair, id: u64, market: Pubkey, manifest: [u8; 32]) {
        self.create_feed_with(owner, id, market, manifest, Pubkey::default(), 1)
            .expect("create_feed");
    }

    /// A feed taking values of `manifest` (zero: any) from jobs of `requester` (default: any)
    /// that at least `min_agreeing` providers agreed on.
    fn create_feed_with(
        &mut self,
        owner: &Keypair,
        id: u64,
        market: Pubkey,
        manifest: [u8; 32],
        requester: Pubkey,
        min_agreeing: u8,
    ) -> Result<(), TransactionError> {
        let create = Instruction {
            program_id: CONSUMER_ID,
            accounts: verified_value::accounts::CreateFeed {
                owner: owner.pubkey(),
                feed: feed_address(&owner.pubkey(), id),
                system_program: anchor_lang::system_program::ID,
            }
            .to_account_metas(None),
            data: verified_value::instruction::CreateFeed {
                args: verified_value::CreateFeedArgs {
                    feed_id: id,
                    market_program: compute_market_client::PROGRAM_ID,
                    market,
                    manifest_hash: manifest,
                    requester,
                    min_agreeing,
                },
            }
            .data(),
        };
        self.send(&[create], &[owner])
    }

    fn feed(&self, address: &Pubkey) -> Option<verified_value::Feed> {
        let acc = self.account(address)?;
        anchor_lang::AccountDeserialize::try_deserialize(&mut acc.data.as_slice()).ok()
    }

    /// Posts an n = 1 job for `consumer`, runs it to a verified settlement of `OUTPUT` and
    /// returns it with its opening.
    fn settle_verified(&mut self, nonce: u64, consumer: Consumer) -> (Pubkey, DeliveredResult) {
        let r = self.requester(100_000);
        let p = self.provider_with_stake(5_000);
        let mut args = self.post_args(nonce, REWARD, 1, 1);
        args.consumer = Some(consumer);
        let job = self.try_post(&r, args).unwrap();
        let summary = ResultSummary::new("wasi-p1v2", ExitStatus::Exited(0), 1_000, OUTPUT);
        let root = summary.root(&job);
        self.claim(&p, &job).unwrap();
        self.commit(&p, &job, root, salt(1)).unwrap();
        self.reveal(&p, &job, root, salt(1)).unwrap();
        let caller = self.wallet();
        self.finalize(&caller, &job).unwrap();
        assert_eq!(self.settlement(&job).unwrap().outcome, Outcome::Verified);
        (job, summary.opening(OUTPUT))
    }

    fn deliver_ix(
        &self,
        caller: &Keypair,
        job: &Pubkey,
        result: Option<DeliveredResult>,
    ) -> Instruction {
        let s = self.settlement(job).expect("settled");
        ix::deliver_result(
            &caller.pubkey(),
            &compute_market_client::PROGRAM_ID,
            job,
            &s,
            result,
        )
        .expect("the job named a consumer")
    }

    fn deliver(
        &mut self,
        caller: &Keypair,
        job: &Pubkey,
        result: Option<DeliveredResult>,
    ) -> Result<(), TransactionError> {
        let ix = self.deliver_ix(caller, job, result);
        self.send(&[ix], &[caller])
    }
}

/// A market of `authority` over the same mints and rules (its own vaults, ledgers and
/// providers), as anyone may create one.
fn second_market(env: &mut Env, authority: &Keypair) -> compute_market_client::MarketRef {
    let m = env.market.state.clone();
    let args = compute_market_client::MarketInitArgs {
        market_id: 1,
        treasury: env.treasury,
        config: m.config,
    };
    let init = ix::init_market(
        &compute_market_client::PROGRAM_ID,
        &authority.pubkey(),
        &m.payment_mint,
        &m.payment_token_program,
        &m.stake_mint,
        &m.stake_token_program,
        args,
    );
    env.send(&[init], &[authority]).expect("init_market");
    let address = pda::market(&compute_market_client::PROGRAM_ID, &authority.pubkey(), 1);
    compute_market_client::MarketRef {
        program: compute_market_client::PROGRAM_ID,
        address,
        state: env.market_state(&address),
    }
}

#[test]
fn a_genuine_delivery_stores_the_verified_value_once() {
    let mut env = Env::new();
    let owner = env.wallet();
    let market = env.market.address;
    env.create_feed(&owner, 1, market, MANIFEST);
    let feed = feed_address(&owner.pubkey(), 1);
    let (job, opening) = env.settle_verified(1, consumer(&feed));
    let s = env.settlement(&job).unwrap();
    assert_eq!(s.delivery.as_ref().unwrap().delivered_slot, 0, "pending");

    let caller = env.wallet();
    env.deliver(&caller, &job, Some(opening.clone())).unwrap();
    let f = env.feed(&feed).unwrap();
    assert_eq!(f.value, OUTPUT);
    assert_eq!((f.last_job, f.last_root), (job, s.result_root));
    assert_eq!((f.deliveries, f.unverified), (1, 0));
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
    let mut env = Env::new();
    let owner = env.wallet();
    let market = env.market.address;
    env.create_feed(&owner, 2, market, MANIFEST);
    let feed = feed_address(&owner.pubkey(), 2);
    let (job, opening) = env.settle_verified(2, consumer(&feed));
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
    // value into the feed: signed by that market's authority, not by the feed's market's
    let first = env.market.clone();
    env.market = second_market(&mut env, &forger);
    let (forged_job, forged_opening) = env.settle_verified(3, consumer(&feed));
    assert_feed_err(
        env.deliver(&forger, &forged_job, Some(forged_opening)),
        FeedError::ForgedDelivery,
    );
    env.market = first;
    assert!(env.feed(&feed).unwrap().value.is_empty(), "nothing stored");
    // the genuine one still goes through
    env.deliver(&forger, &job, Some(opening)).unwrap();
    assert_eq!(env.feed(&feed).unwrap().value, OUTPUT);

    // a genuine delivery of another computation than the feed takes
    env.create_feed(&owner, 9, market, [9; 32]);
    let picky = feed_address(&owner.pubkey(), 9);
    let (job, opening) = env.settle_verified(9, consumer(&picky));
    assert_feed_err(
        env.deliver(&forger, &job, Some(opening)),
        FeedError::WrongComputation,
    );
    assert_eq!(env.feed(&picky).unwrap().deliveries, 0);
}

#[test]
fn a_consumer_cannot_pass_its_delivery_authority_on_to_another_consumer() {
    let mut env = Env::new();
    let forwarder = compute_market_harness::add_forwarder(&mut env.svm);
    let owner = env.wallet();
    let market = env.market.address;
    env.create_feed(&owner, 10, market, MANIFEST);
    let feed = feed_address(&owner.pubkey(), 10);
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
    let (job, opening) = env.settle_verified(10, relay);
    let caller = env.wallet();
    // the signature it passes on is its own delivery authority's, not the feed's consumer's
    assert_feed_err(
        env.deliver(&caller, &job, Some(opening)),
        FeedError::ForgedDelivery,
    );
    let f = env.feed(&feed).unwrap();
    assert!(
        f.value.is_empty() && f.deliveries == 0,
        "nothing forged got in"
    );
    assert_ne!(f.value, test_forwarder::FORGED);
    assert_eq!(
        env.settlement(&job)
            .unwrap()
            .delivery
            .unwrap()
            .delivered_slot,
        0
    );
}

#[test]
fn the_sample_feed_takes_only_what_its_owner_pinned() {
    let mut env = Env::new();
    let owner = env.wallet();
    let market = env.market.address;
    // pinning neither the computation nor the requester would take anybody's output
    assert_feed_err(
        env.create_feed_with(&owner, 20, market, [0; 32], Pubkey::default(), 1),
        FeedError::Unpinned,
    );
    // pinned to one requester: another requester's verified job is refused
    let mine = env.wallet();
    env.create_feed_with(&owner, 21, market, [0; 32], mine.pubkey(), 1)
        .unwrap();
    let (job, opening) = env.settle_verified(21, consumer(&feed_address(&owner.pubkey(), 21)));
    let caller = env.wallet();
    assert_feed_err(
        env.deliver(&caller, &job, Some(opening)),
        FeedError::WrongRequester,
    );
    // two providers must agree: a single-replica result is refused
    env.create_feed_with(&owner, 22, market, MANIFEST, Pubkey::default(), 2)
        .unwrap();
    let (job, opening) = env.settle_verified(22, consumer(&feed_address(&owner.pubkey(), 22)));
    assert_feed_err(
        env.deliver(&caller, &job, Some(opening)),
        FeedError::NotEnoughAgreement,
    );
    // a job settled before the value cannot overwrite it, whatever the order of deliveries
    env.create_feed(&owner, 23, market, MANIFEST);
    let feed = feed_address(&owner.pubkey(), 23);
    let (older, older_opening) = env.settle_verified(23, consumer(&feed));
    let (newer, newer_opening) = env.settle_verified(24, consumer(&feed));
    env.deliver(&caller, &newer, Some(newer_opening)).unwrap();
    assert_feed_err(
        env.deliver(&caller, &older, Some(older_opening)),
        FeedError::Stale,
    );
    assert_eq!(env.feed(&feed).unwrap().last_job, newer);
}

#[test]
fn a_failing_consumer_keeps_the_settlement_and_the_delivery_can_be_retried() {
    let mut env = Env::new();
    let owner = env.wallet();
    let market = env.market.address;
    // the job names a feed that does not exist yet
    let feed = feed_address(&owner.pubkey(), 4);
    let (job, opening) = env.settle_verified(4, consumer(&feed));
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
    env.create_feed(&owner, 4, market, MANIFEST);
    env.deliver(&caller, &job, Some(opening)).unwrap();
    assert_eq!(env.feed(&feed).unwrap().value, OUTPUT);
    assert!(
        env.settlement(&job)
            .unwrap()
            .delivery
            .unwrap()
            .delivered_slot
            > 0
    );
}

#[test]
fn deliveries_must_open_the_settled_root_with_the_accounts_the_job_named() {
    let mut env = Env::new();
    let owner = env.wallet();
    let market = env.market.address;
    env.create_feed(&owner, 5, market, MANIFEST);
    let feed = feed_address(&owner.pubkey(), 5);
    let (job, opening) = env.settle_verified(5, consumer(&feed));
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
    wrong.accounts[2].pubkey = pda::delivery_authority(&other, &env.market.address, &other);
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
    // a delivery authority of another market
    let mut signer = good.clone();
    signer.accounts[2].pubkey = pda::delivery_authority(
        &compute_market_client::PROGRAM_ID,
        &env.market.address,
        &compute_market_client::PROGRAM_ID,
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
    none.accounts.truncate(4);
    assert_market_err(env.send(&[none], &[&caller]), E::NoConsumer);
}

#[test]
fn a_cancelled_job_delivers_its_outcome_without_a_result() {
    let mut env = Env::new();
    let owner = env.wallet();
    let market = env.market.address;
    env.create_feed(&owner, 7, market, MANIFEST);
    let feed = feed_address(&owner.pubkey(), 7);
    let r = env.requester(100_000);
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
    let f = env.feed(&feed).unwrap();
    assert_eq!((f.deliveries, f.unverified), (1, 1));
    assert!(f.value.is_empty());
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
