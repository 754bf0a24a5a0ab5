use crate::constants::*;
use crate::error::MarketError;
use crate::math;
use crate::state::Consumer;
use anchor_lang::prelude::*;

/// Where a job stands. Jobs that are settled or cancelled no longer exist (their account is
/// closed); a settled job leaves a `Settlement`.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum JobStatus {
    /// At least one slot is free: providers may claim.
    Open,
    /// Every slot is claimed; waiting for commitments.
    Full,
    /// Every slot committed: reveals are open.
    Revealing,
}

/// Progress of one replica slot.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum SlotState {
    /// Nobody holds the slot.
    Free,
    /// A provider holds the slot and must commit by `claimed_at + claim_timeout` (which a claim
    /// never lets run past the commit deadline).
    Claimed,
    /// The provider committed to a result.
    Committed,
    /// The provider revealed its result root.
    Revealed,
}

/// One replica of a job.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct Slot {
    /// Owner wallet of the provider holding the slot (default key when free).
    pub provider: Pubkey,
    /// Progress of the slot.
    pub state: SlotState,
    /// Unix time of the claim.
    pub claimed_at: i64,
    /// `sha256(COMMIT_DOMAIN || job || provider || result_root || salt)`.
    pub commitment: [u8; 32],
    /// Revealed result root.
    pub result_root: [u8; 32],
    /// Chain slot of the claim, at or after the provider's eligibility slot.
    pub claimed_slot: u64,
    /// The provider's stake less pending withdrawals at the claim, which set its eligibility
    /// slot: with the job's seed and `stake_scale`, anyone can recompute that slot.
    pub bonded: u64,
    /// Payment-mint tokens the slot earns if it agrees (before the fee): the job's price at the
    /// claim (`Job::price_at(claimed_at)`), locked for the slot.
    pub price: u64,
}

impl Slot {
    /// A free slot.
    pub const FREE: Slot = Slot {
        provider: Pubkey::new_from_array([0; 32]),
        state: SlotState::Free,
        claimed_at: 0,
        commitment: [0; 32],
        result_root: [0; 32],
        claimed_slot: 0,
        bonded: 0,
        price: 0,
    };
}

/// A posted job with its escrow. PDA `["job", market, requester, nonce (u64 LE)]`.
///
/// `market` and `status` come first so workers can find open jobs with `memcmp` filters
/// (offsets `JOB_MARKET_OFFSET`, `JOB_STATUS_OFFSET`).
#[account]
#[derive(Debug)]
pub struct Job {
    /// Market the job is posted in.
    pub market: Pubkey,
    /// Where the job stands.
    pub status: JobStatus,
    /// Layout version (`ACCOUNT_VERSION`).
    pub version: u8,
    /// Bump of this PDA.
    pub bump: u8,
    /// Number of replicas n.
    pub replicas: u8,
    /// Agreeing reveals needed to verify a result, k.
    pub quorum: u8,
    /// Wallet that posted and funds the job; receives refunds and the account's rent.
    pub requester: Pubkey,
    /// Requester-chosen number that makes the address unique.
    pub nonce: u64,
    /// sha256 of the canonical manifest.
    pub manifest_hash: [u8; 32],
    /// The most a slot can earn (before the fee): the price at the end of the ramp, escrowed for
    /// every replica.
    pub reward_per_replica: u64,
    /// Payment-mint tokens held in the escrow vault for this job (`reward_per_replica × replicas`).
    pub escrow: u64,
    /// Protocol fee in bps, fixed when the job was posted.
    pub fee_bps: u16,
    /// Collateral per claim, fixed when the job was posted.
    pub collateral: u64,
    /// Seconds a claimer has to commit, fixed when the job was posted.
    pub claim_timeout: i64,
    /// Unix time of posting.
    pub created_at: i64,
    /// After this time no claims or commits are accepted and reveals open.
    pub commit_deadline: i64,
    /// After this time no reveals are accepted and anyone may finalize.
    pub reveal_deadline: i64,
    /// Collateral slashed from expired claims of this job, carried into the settlement.
    pub expired_slashed: u64,
    /// Share of slashes paid as bounty, fixed when the job was posted.
    pub slash_bounty_bps: u16,
    /// Lamports the requester prepaid for the settlement record's rent, held on this account.
    pub settlement_deposit: u64,
    /// The seed comes from the first slot at or after this one (`state::sortition`).
    pub seed_slot: u64,
    /// Eligibility seed, fixed by the first claim (zero until then).
    pub seed: [u8; 32],
    /// Stake that scales the eligibility windows: what the stake vault's ledger booked at
    /// posting (every provider's stake).
    pub stake_scale: u64,
    /// The price until `ramp_start`: a rising offer starts here (equal to `reward_per_replica`
    /// for a fixed offer).
    pub min_reward_per_replica: u64,
    /// Unix time at which the price starts to rise.
    pub ramp_start: i64,
    /// Seconds the price takes to rise from the minimum to `reward_per_replica` (0: fixed offer).
    pub ramp_seconds: i64,
    /// The latest commit deadline an extension may set: the post plus the market's
    /// `max_commit_window` at posting (a later change of the market's rules does not move it).
    pub latest_commit_deadline: i64,
    /// Room for future fields.
    pub reserved: [u8; 8],
    /// Where the manifest can be fetched (https, http, file or data URI).
    pub manifest_uri: String,
    /// One entry per replica.
    pub slots: Vec<Slot>,
    /// Owners of the providers whose claims on this job expired, in order; each lost
    /// `collateral` (so `expired_slashed == collateral × expired.len()`) and may not claim the job
    /// again. Space for `MAX_EXPIRED_CLAIMS` entries is reserved when the job is posted.
    pub expired: Vec<Pubkey>,
    /// The program to call with the job's result once it settled (`deliver_result`), if any;
    /// copied into the settlement record.
    pub consumer: Option<Consumer>,
}

/// Byte offset of `Job::market` (after the discriminator).
pub const JOB_MARKET_OFFSET: usize = 8;
/// Byte offset of `Job::status`.
pub const JOB_STATUS_OFFSET: usize = 8 + 32;

impl Job {
    /// Bytes of every field before `manifest_uri`, discriminator included.
    pub const FIXED_SIZE: usize = 8 // discriminator
        + 32 // market
        + 1 // status
        + 1 // version
        + 1 // bump
        + 1 // replicas
        + 1 // quorum
        + 32 // requester
        + 8 // nonce
        + 32 // manifest_hash
        + 8 // reward_per_replica
        + 8 // escrow
        + 2 // fee_bps
        + 8 // collateral
        + 8 // claim_timeout
        + 8 // created_at
        + 8 // commit_deadline
        + 8 // reveal_deadline
        + 8 // expired_slashed
        + 2 // slash_bounty_bps
        + 8 // settlement_deposit
        + 8 // seed_slot
        + 32 // seed
        + 8 // stake_scale
        + 8 // min_reward_per_replica
        + 8 // ramp_start
        + 8 // ramp_seconds
        + 8 // latest_commit_deadline
        + 8; // reserved

    /// Account size for `replicas` slots, a manifest URI of `uri_len` bytes, room for
    /// `MAX_EXPIRED_CLAIMS` expired claims, and no consumer.
    pub fn space(replicas: u8, uri_len: usize) -> usize {
        Self::space_for(replicas, uri_len, None)
    }

    /// [`Job::space`] with `consumer`.
    pub fn space_for(replicas: u8, uri_len: usize, consumer: Option<&Consumer>) -> usize {
        Self::FIXED_SIZE
            + 4
            + uri_len
            + 4
            + replicas as usize * Slot::INIT_SPACE
            + 4
            + MAX_EXPIRED_CLAIMS as usize * 32
            + 1
            + consumer.map_or(0, Consumer::size)
    }

    /// What a claim at unix time `now` locks for its slot (`math::ramp_price`).
    pub fn price_at(&self, now: i64) -> u64 {
        math::ramp_price(
            self.min_reward_per_replica,
            self.reward_per_replica,
            self.ramp_start,
            self.ramp_seconds,
            now,
        )
    }

    /// Index of the slot held by `provider`, if any.
    pub fn slot_of(&self, provider: &Pubkey) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.state != SlotState::Free && s.provider == *provider)
    }

    /// Slots in `state`.
    pub fn count(&self, state: SlotState) -> usize {
        self.slots.iter().filter(|s| s.state == state).count()
    }

    /// Claims and commits are accepted only before the commit deadline and before every slot
    /// has committed.
    pub fn commit_phase_open(&self, now: i64) -> bool {
        now < self.commit_deadline && self.status != JobStatus::Revealing
    }

    /// Reveals open once every slot committed or the commit deadline passed, and close at the
    /// reveal deadline.
    pub fn reveal_phase_open(&self, now: i64) -> bool {
        (self.status == JobStatus::Revealing || now >= self.commit_deadline)
            && now < self.reveal_deadline
    }

    /// A job can be finalized after its reveal deadline, or earlier once the reveal phase is
    /// open and no slot can change any more (nothing committed is left unrevealed).
    pub fn can_finalize(&self, now: i64) -> bool {
        now >= self.reveal_deadline
            || (self.reveal_phase_open(now) && self.count(SlotState::Committed) == 0)
    }

    /// Recomputes `status` from the slots.
    pub fn refresh_status(&mut self) {
        self.status = if self.count(SlotState::Free) > 0 {
            JobStatus::Open
        } else if self.count(SlotState::Claimed) > 0 {
            JobStatus::Full
        } else {
            JobStatus::Revealing
        };
    }

    fn votes(&self, root: &[u8; 32]) -> usize {
        self.slots
            .iter()
            .filter(|s| s.state == SlotState::Revealed && s.result_root == *root)
            .count()
    }

    /// The root revealed by more than half of the job's `replicas` slots, if any (at most one
    /// root can be). Reveals of any other root are slashed at settlement even when the majority
    /// falls short of the quorum: a minority cannot void a job for free.
    pub fn majority_root(&self) -> Option<[u8; 32]> {
        self.slots
            .iter()
            .filter(|s| s.state == SlotState::Revealed)
            .map(|s| s.result_root)
            .find(|r| 2 * self.votes(r) > self.replicas as usize)
    }

    /// The root revealed by at least `quorum` slots. `post_job` requires `quorum` to be a strict
    /// majority of `replicas`, so such a root is also the majority root and unique.
    pub fn winning_root(&self) -> Option<[u8; 32]> {
        self.majority_root()
            .filter(|r| self.votes(r) >= self.quorum as usize)
    }

    /// Structural rules that must hold after every change.
    pub fn invariant(&self) -> Result<()> {
        require!(
            self.slots.len() == self.replicas as usize
                && is_strict_majority(self.quorum, self.replicas)
                && self.escrow == math::mul(self.reward_per_replica, self.replicas as u64)?
                && self.min_reward_per_replica <= self.reward_per_replica
                && self.commit_deadline <= self.latest_commit_deadline
                && self.expired_slashed == math::mul(self.collateral, self.expired.len() as u64)?
                && self.expired.len() + self.count(SlotState::Claimed)
                    <= MAX_EXPIRED_CLAIMS as usize,
            MarketError::InvariantViolated
        );
        for (i, s) in self.slots.iter().enumerate() {
            let free = s.state == SlotState::Free;
            require!(
                free == (s.provider == Pubkey::default())
                    && if free {
                        s.price == 0
                    } else {
                        (self.min_reward_per_replica..=self.reward_per_replica).contains(&s.price)
                    },
                MarketError::InvariantViolated
            );
            require!(
                free || self.slots[i + 1..]
                    .iter()
                    .all(|o| o.state == SlotState::Free || o.provider != s.provider),
                MarketError::InvariantViolated
            );
        }
        Ok(())
    }
}

/// Whether `quorum` is a strict majority of `replicas` (`replicas / 2 < quorum <= replicas`).
/// Below a majority, two roots could each reach the quorum, and a 1–1 split of `n = 2, k = 1`
/// would void a job with nobody at fault.
pub fn is_strict_majority(quorum: u8, replicas: u8) -> bool {
    quorum <= replicas && 2 * quorum as usize > replicas as usize
}

/// `sha256(COMMIT_DOMAIN || job || provider || result_root || salt)`: what a provider commits to.
/// Binding the job and the provider means a commitment can neither be replayed in another job
/// nor copied by another provider.
pub fn commitment_hash(
    job: &Pubkey,
    provider: &Pubkey,
    result_root: &[u8; 32],
    salt: &[u8; 32],
) -> [u8; 32] {
    solana_sha256_hasher::hashv(&[
        COMMIT_DOMAIN,
        job.as_ref(),
        provider.as_ref(),
        result_root,
        salt,
    ])
    .to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(n: u8, k: u8) -> Job {
        Job {
            market: Pubkey::new_unique(),
            status: JobStatus::Open,
            version: ACCOUNT_VERSION,
            bump: 255,
            replicas: n,
            quorum: k,
            requester: Pubkey::new_unique(),
            nonce: 0,
            manifest_hash: [1; 32],
            reward_per_replica: 10,
            escrow: 10 * n as u64,
            fee_bps: 0,
            collateral: 5,
            claim_timeout: 10,
            created_at: 0,
            commit_deadline: 100,
            reveal_deadline: 200,
            expired_slashed: 0,
            slash_bounty_bps: 0,
            settlement_deposit: 0,
            seed_slot: 0,
            seed: [0; 32],
            stake_scale: 0,
            min_reward_per_replica: 10,
            ramp_start: 0,
            ramp_seconds: 0,
            latest_commit_deadline: 3_600,
            reserved: [0; 8],
            manifest_uri: "data:,x".into(),
            slots: vec![Slot::FREE; n as usize],
            expired: Vec::new(),
            consumer: None,
        }
    }

    fn reveal(j: &mut Job, i: usize, root: u8) {
        j.slots[i] = Slot {
            provider: Pubkey::new_unique(),
            state: SlotState::Revealed,
            claimed_at: 1,
            commitment: [9; 32],
            result_root: [root; 32],
            price: 10,
            ..Slot::FREE
        };
    }

    #[test]
    fn space_holds_the_fullest_job() {
        let mut j = job(3, 2);
        reveal(&mut j, 0, 1);
        j.expired = vec![Pubkey::new_unique(); MAX_EXPIRED_CLAIMS as usize];
        let mut buf = Vec::new();
        anchor_lang::AccountSerialize::try_serialize(&j, &mut buf).unwrap();
        assert_eq!(buf.len(), Job::space(3, j.manifest_uri.len()));
        j.consumer = Some(Consumer {
            program: Pubkey::new_unique(),
            data_prefix: vec![1; 8],
            accounts: vec![crate::state::ConsumerAccount {
                pubkey: Pubkey::new_unique(),
                writable: true,
            }],
        });
        let mut buf = Vec::new();
        anchor_lang::AccountSerialize::try_serialize(&j, &mut buf).unwrap();
        assert_eq!(
            buf.len(),
            Job::space_for(3, j.manifest_uri.len(), j.consumer.as_ref())
        );
    }

    #[test]
    fn quorum_needs_k_votes_of_a_majority_root() {
        let mut j = job(3, 2);
        reveal(&mut j, 0, 1);
        assert_eq!(j.winning_root(), None);
        reveal(&mut j, 1, 2);
        assert_eq!(j.winning_root(), None, "1-1 split");
        assert_eq!(j.majority_root(), None);
        reveal(&mut j, 2, 1);
        assert_eq!(j.winning_root(), Some([1; 32]));

        // n = 3, k = 3 with X, X, Y: no quorum, but X is the majority and Y pays
        let mut j = job(3, 3);
        reveal(&mut j, 0, 1);
        reveal(&mut j, 1, 1);
        reveal(&mut j, 2, 2);
        assert_eq!(j.winning_root(), None);
        assert_eq!(j.majority_root(), Some([1; 32]));

        // a majority of the n slots, not of the reveals: 2 of 5 is none
        let mut j = job(5, 3);
        reveal(&mut j, 0, 1);
        reveal(&mut j, 1, 1);
        reveal(&mut j, 2, 2);
        assert_eq!(j.majority_root(), None);
    }

    #[test]
    fn quorum_must_be_a_strict_majority() {
        for (k, n, ok) in [
            (1, 1, true),
            (1, 2, false),
            (2, 2, true),
            (1, 3, false),
            (2, 3, true),
            (3, 3, true),
            (2, 4, false),
            (3, 4, true),
            (3, 5, true),
            (6, 5, false),
            (0, 1, false),
        ] {
            assert_eq!(is_strict_majority(k, n), ok, "k = {k}, n = {n}");
        }
    }

    #[test]
    fn phases_follow_slots_and_deadlines() {
        let mut j = job(2, 2);
        assert!(j.commit_phase_open(0));
        assert!(!j.reveal_phase_open(0));
        assert!(!j.can_finalize(0));
        assert!(j.reveal_phase_open(100));
        assert!(
            j.can_finalize(100),
            "nothing committed: final at the commit deadline"
        );
        j.slots[0].state = SlotState::Committed;
        j.slots[0].provider = Pubkey::new_unique();
        assert!(!j.can_finalize(150), "a committed slot may still reveal");
        assert!(j.can_finalize(200));
        j.slots[1].state = SlotState::Committed;
        j.slots[1].provider = Pubkey::new_unique();
        j.refresh_status();
        assert_eq!(j.status, JobStatus::Revealing);
        assert!(!j.commit_phase_open(5));
        assert!(j.reveal_phase_open(5));
    }

    #[test]
    fn invariant_rejects_duplicate_providers() {
        let mut j = job(2, 2);
        j.invariant().unwrap();
        let p = Pubkey::new_unique();
        for s in j.slots.iter_mut() {
            s.provider = p;
            s.state = SlotState::Claimed;
            s.price = 10;
        }
        assert!(j.invariant().is_err());
        j.slots[1].provider = Pubkey::new_unique();
        j.invariant().unwrap();
    }

    #[test]
    fn invariant_keeps_locked_prices_on_the_ramp() {
        let mut j = job(2, 2);
        j.min_reward_per_replica = 4;
        j.ramp_seconds = 50;
        j.invariant().unwrap();
        j.slots[0].state = SlotState::Claimed;
        j.slots[0].provider = Pubkey::new_unique();
        for (price, ok) in [(3, false), (4, true), (10, true), (11, false)] {
            j.slots[0].price = price;
            assert_eq!(j.invariant().is_ok(), ok, "price {price}");
        }
        j.slots[1].price = 1;
        assert!(j.invariant().is_err(), "a free slot holds no price");
        j.slots[1].price = 0;
        j.min_reward_per_replica = 11;
        assert!(j.invariant().is_err(), "minimum above the maximum");
        // the price at the claim: min until the ramp starts, max from its end
        j.min_reward_per_replica = 4;
        j.ramp_start = 20;
        assert_eq!(
            [0, 20, 45, 69, 70, 99].map(|t| j.price_at(t)),
            [4, 4, 7, 9, 10, 10]
        );
    }

    #[test]
    fn invariant_bounds_expiries_and_their_slashes() {
        let mut j = job(2, 2);
        j.expired = vec![Pubkey::new_unique(); MAX_EXPIRED_CLAIMS as usize - 1];
        j.expired_slashed = j.collateral * j.expired.len() as u64;
        j.invariant().unwrap();
        j.expired_slashed -= 1;
        assert!(j.invariant().is_err(), "slashes not attributed");
        j.expired_slashed += 1;
        j.slots[0].state = SlotState::Claimed;
        j.slots[0].provider = Pubkey::new_unique();
        j.slots[0].price = 10;
        j.invariant().unwrap();
        j.slots[1].state = SlotState::Claimed;
        j.slots[1].provider = Pubkey::new_unique();
        j.slots[1].price = 10;
        assert!(
            j.invariant().is_err(),
            "a claim that could expire without room"
        );
    }

    #[test]
    fn commitment_binds_every_input() {
        let (a, b) = (Pubkey::new_unique(), Pubkey::new_unique());
        let c = commitment_hash(&a, &b, &[1; 32], &[2; 32]);
        assert_ne!(c, commitment_hash(&b, &a, &[1; 32], &[2; 32]));
        assert_ne!(c, commitment_hash(&a, &b, &[3; 32], &[2; 32]));
        assert_ne!(c, commitment_hash(&a, &b, &[1; 32], &[3; 32]));
        assert_eq!(c, commitment_hash(&a, &b, &[1; 32], &[2; 32]));
    }
}
