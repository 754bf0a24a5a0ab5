//! The deliveries' fixture: a market with a feed of the sample consumer, jobs settled for a
//! consumer, and deliveries sent.

use super::common::*;
use compute_market_client::{
    ix,
    merkle::{ExitStatus, ResultSummary},
    pda, Consumer, DeliveredResult, Outcome,
};
use solana_sdk::{
    instruction::Instruction, pubkey::Pubkey, signature::Keypair, signer::Signer,
    transaction::TransactionError,
};
use verified_value::{client::feed_address, FeedError};

pub const OUTPUT: &[u8] = b"3.14159\n";
pub const MANIFEST: [u8; 32] = [7; 32];

pub fn feed_error(e: FeedError) -> u32 {
    anchor_lang::error::ERROR_CODE_OFFSET + e as u32
}

#[track_caller]
pub fn assert_feed_err<T: std::fmt::Debug>(r: Result<T, TransactionError>, e: FeedError) {
    let err = r.expect_err("expected the consumer to refuse");
    assert_eq!(custom_code(&err), Some(feed_error(e)), "got {err:?}");
}

/// A market with a requester, the owner of its feeds, and a feed of that requester's jobs of
/// `MANIFEST`.
pub struct Fixture {
    pub env: Env,
    pub requester: Keypair,
    pub owner: Keypair,
    pub feed: Pubkey,
}

impl Fixture {
    pub fn new() -> Self {
        let mut env = Env::new();
        let requester = env.requester(1_000_000);
        let owner = env.wallet();
        let r = requester.pubkey();
        let market = env.market.address;
        env.create_feed(&owner, 1, market, MANIFEST, r, 1).unwrap();
        let feed = feed_address(&owner.pubkey(), 1);
        Fixture {
            env,
            requester,
            owner,
            feed,
        }
    }

    /// `settle_verified` of the fixture's requester.
    pub fn settle(&mut self, nonce: u64, consumer: Consumer) -> (Pubkey, DeliveredResult) {
        let r = self.requester.insecure_clone();
        self.env.settle_verified(&r, nonce, consumer)
    }
}

impl Env {
    /// A feed of `owner` taking values of `manifest` (zero: any) from jobs of `requester` that
    /// at least `min_agreeing` providers agreed on.
    pub fn create_feed(
        &mut self,
        owner: &Keypair,
        id: u64,
        market: Pubkey,
        manifest: [u8; 32],
        requester: Pubkey,
        min_agreeing: u8,
    ) -> Result<(), TransactionError> {
        let args = verified_value::CreateFeedArgs {
            feed_id: id,
            market_program: compute_market_client::PROGRAM_ID,
            market,
            manifest_hash: manifest,
            requester,
            min_agreeing,
        };
        let create = verified_value::client::create_feed(&owner.pubkey(), args);
        self.send(&[create], &[owner])
    }

    /// The chain slot of the job's recorded delivery (0: not delivered yet).
    pub fn delivered_slot(&self, job: &Pubkey) -> u64 {
        let s = self.settlement(job).expect("settled");
        s.delivery.expect("the job named a consumer").delivered_slot
    }

    pub fn feed(&self, address: &Pubkey) -> Option<verified_value::Feed> {
        let acc = self.account(address)?;
        anchor_lang::AccountDeserialize::try_deserialize(&mut acc.data.as_slice()).ok()
    }

    /// Posts an n = 1 job of `MANIFEST` by `requester` for `consumer`, runs it to a verified
    /// settlement of `OUTPUT` and returns it with its opening.
    pub fn settle_verified(
        &mut self,
        requester: &Keypair,
        nonce: u64,
        consumer: Consumer,
    ) -> (Pubkey, DeliveredResult) {
        let p = self.provider_with_stake(5_000);
        let mut args = self.post_args(nonce, REWARD, 1, 1);
        args.consumer = Some(consumer);
        let job = self.try_post(requester, args).unwrap();
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

    pub fn deliver_ix(
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

    pub fn deliver(
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
pub fn second_market(env: &mut Env, authority: &Keypair) -> compute_market_client::MarketRef {
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
