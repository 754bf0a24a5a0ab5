use crate::constants::ACCOUNT_VERSION;
use crate::state::{Consumer, Delivery, Job};
use anchor_lang::prelude::*;

/// How a job ended.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum Outcome {
    /// At least `quorum` reveals agreed on one root; agreeing providers were paid.
    Verified,
    /// No root reached the quorum by the deadline (or reveals disagreed): full refund.
    NoQuorum,
    /// The requester cancelled the job while no slot was held: full refund.
    Cancelled,
}

/// What happened to one slot at settlement.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum Verdict {
    /// Nobody held the slot at the end.
    Unclaimed,
    /// Revealed the winning root: paid, collateral returned.
    Agreed,
    /// Revealed another root than the winning one, or than the root a majority of the slots
    /// revealed when that majority fell short of the quorum: slashed.
    Dissented,
    /// Revealed, but no root reached the quorum: collateral returned, not paid.
    Unverified,
    /// Committed but never revealed: slashed.
    Withheld,
    /// Claimed but never committed: slashed.
    Absent,
}

/// The settlement of one slot.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct SlotVerdict {
    /// Owner wallet of the provider that held the slot (default key if unclaimed).
    pub provider: Pubkey,
    /// What happened.
    pub verdict: Verdict,
    /// Root the provider revealed (zero if none).
    pub result_root: [u8; 32],
    /// Payment-mint tokens paid to the provider (`price` minus the fee, when it agreed).
    pub paid: u64,
    /// Stake-mint tokens slashed from the provider.
    pub slashed: u64,
    /// Chain slot of the provider's claim (`Slot::claimed_slot`; 0 if unclaimed).
    pub claimed_slot: u64,
    /// The provider's stake less pending withdrawals at the claim (`Slot::bonded`): with the
    /// record's `seed` and `stake_scale` it gives the slot from which the provider was eligible.
    pub bonded: u64,
    /// Unix time of the claim (`Slot::claimed_at`; 0 if unclaimed).
    pub claimed_at: i64,
    /// The price the claim locked (`Slot::price`): the job's ramp at `claimed_at`.
    pub price: u64,
}

impl SlotVerdict {
    /// The verdict of a slot nobody held at the end.
    pub const UNCLAIMED: SlotVerdict = SlotVerdict {
        provider: Pubkey::new_from_array([0; 32]),
        verdict: Verdict::Unclaimed,
        result_root: [0; 32],
        paid: 0,
        slashed: 0,
        claimed_slot: 0,
        bonded: 0,
        claimed_at: 0,
        price: 0,
    };
}

/// The durable audit record of a settled job. PDA `["settlement", job]`.
///
/// Money is conserved when `escrow == total_paid + fee + refund`,
/// `total_slashed == sum(verdicts.slashed) == to_treasury + bounty` and
/// `expired_slashed == collateral × expired.len()`. Cancelled jobs leave one too.
#[account]
#[derive(Debug)]
pub struct Settlement {
    /// Market of the job (first, for `memcmp` filters).
    pub market: Pubkey,
    /// How the job ended.
    pub outcome: Outcome,
    /// Layout version (`ACCOUNT_VERSION`).
    pub version: u8,
    /// Bump of this PDA.
    pub bump: u8,
    /// Replicas n of the job.
    pub replicas: u8,
    /// Quorum k of the job.
    pub quorum: u8,
    /// Address of the (now closed) job account.
    pub job: Pubkey,
    /// Requester of the job.
    pub requester: Pubkey,
    /// Nonce of the job.
    pub nonce: u64,
    /// sha256 of the job's manifest.
    pub manifest_hash: [u8; 32],
    /// The verified result root (zero unless `Verified`).
    pub result_root: [u8; 32],
    /// Most the requester offered per replica (the end of the ramp; escrowed per replica).
    pub reward_per_replica: u64,
    /// Fee rate applied, in bps.
    pub fee_bps: u16,
    /// Payment-mint tokens that were in escrow.
    pub escrow: u64,
    /// Paid to agreeing providers.
    pub total_paid: u64,
    /// Paid to the treasury as protocol fee.
    pub fee: u64,
    /// Returned to the requester.
    pub refund: u64,
    /// Stake-mint tokens slashed at settlement.
    pub total_slashed: u64,
    /// Part of `total_slashed` paid to the finalizer as bounty (the rest went to the treasury).
    pub bounty: u64,
    /// Stake-mint tokens slashed earlier from claims that expired (`expire_claim`):
    /// `collateral × expired.len()`.
    pub expired_slashed: u64,
    /// Collateral per claim of the job.
    pub collateral: u64,
    /// Who finalized.
    pub finalizer: Pubkey,
    /// Slot at which the job settled.
    pub settled_slot: u64,
    /// Unix time at which the job settled.
    pub settled_at: i64,
    /// The job's eligibility seed (zero if nobody ever claimed).
    pub seed: [u8; 32],
    /// The job's seed slot: claims were eligible from `seed_slot + delay`.
    pub seed_slot: u64,
    /// Stake that scaled the job's eligibility windows.
    pub stake_scale: u64,
    /// The job's starting price (`Job::min_reward_per_replica`).
    pub min_reward_per_replica: u64,
    /// Unix time the job's price started to rise.
    pub ramp_start: i64,
    /// Seconds the price took to reach `reward_per_replica` (0: a fixed offer).
    pub ramp_seconds: i64,
    /// Room for future fields.
    pub reserved: [u8; 8],
    /// One verdict per replica slot.
    pub verdicts: Vec<SlotVerdict>,
    /// Owners of the providers whose claims expired before settlement; each lost `collateral`.
    pub expired: Vec<Pubkey>,
    /// The job's consumer and whether `deliver_result` served it (the only field that changes
    /// after the record is written).
    pub delivery: Option<Delivery>,
}

/// Byte offset of `Settlement::market`.
pub const SETTLEMENT_MARKET_OFFSET: usize = 8;

impl Settlement {
    /// Bytes of every field before `verdicts`, discriminator included.
    pub const FIXED_SIZE: usize = 8 // discriminator
        + 32 // market
        + 1 // outcome
        + 1 // version
        + 1 // bump
        + 1 // replicas
        + 1 // quorum
        + 32 // job
        + 32 // requester
        + 8 // nonce
        + 32 // manifest_hash
        + 32 // result_root
        + 8 // reward_per_replica
        + 2 // fee_bps
        + 8 // escrow
        + 8 // total_paid
        + 8 // fee
        + 8 // refund
        + 8 // total_slashed
        + 8 // bounty
        + 8 // expired_slashed
        + 8 // collateral
        + 32 // finalizer
        + 8 // settled_slot
        + 8 // settled_at
        + 32 // seed
        + 8 // seed_slot
        + 8 // stake_scale
        + 8 // min_reward_per_replica
        + 8 // ramp_start
        + 8 // ramp_seconds
        + 8; // reserved

    /// Exact account size for `replicas` verdicts, `expired` expired claims and no consumer.
    pub fn space(replicas: u8, expired: usize) -> usize {
        Self::space_for(replicas, expired, None)
    }

    /// [`Settlement::space`] with the delivery record of `consumer`.
    pub fn space_for(replicas: u8, expired: usize, consumer: Option<&Consumer>) -> usize {
        Self::FIXED_SIZE
            + 4
            + replicas as usize * SlotVerdict::INIT_SPACE
            + 4
            + expired * 32
            + 1
            + consumer.map_or(0, Delivery::size)
    }

    /// The record of `job` (at `job_key`) with nothing paid, refunded or slashed yet and every
    /// slot unclaimed: the settling instruction fills in what happened.
    pub fn of_job(job: &Job, job_key: Pubkey, bump: u8, finalizer: Pubkey, clock: &Clock) -> Self {
        Settlement {
            market: job.market,
            outcome: Outcome::NoQuorum,
            version: ACCOUNT_VERSION,
            bump,
            replicas: job.replicas,
            quorum: job.quorum,
            job: job_key,
            requester: job.requester,
            nonce: job.nonce,
            manifest_hash: job.manifest_hash,
            result_root: [0; 32],
            reward_per_replica: job.reward_per_replica,
            fee_bps: job.fee_bps,
            escrow: job.escrow,
            total_paid: 0,
            fee: 0,
            refund: 0,
            total_slashed: 0,
            bounty: 0,
            expired_slashed: job.expired_slashed,
            collateral: job.collateral,
            finalizer,
            settled_slot: clock.slot,
            settled_at: clock.unix_timestamp,
            seed: job.seed,
            seed_slot: job.seed_slot,
            stake_scale: job.stake_scale,
            min_reward_per_replica: job.min_reward_per_replica,
            ramp_start: job.ramp_start,
            ramp_seconds: job.ramp_seconds,
            reserved: [0; 8],
            verdicts: vec![SlotVerdict::UNCLAIMED; job.replicas as usize],
            expired: job.expired.clone(),
            delivery: job.consumer.clone().map(Delivery::pending),
        }
    }

    /// The data prefix of the job's consumer (empty without one): a seed of its delivery
    /// authority.
    pub fn delivery_prefix(&self) -> &[u8] {
        self.delivery
            .as_ref()
            .map_or(&[], |d| d.consumer.data_prefix.as_slice())
    }

    /// The conservation rules an auditor checks; also enforced before the account is written.
    pub fn balances(&self) -> bool {
        let paid: Option<u64> = self
            .verdicts
            .iter()
            .try_fold(0u64, |a, v| a.checked_add(v.paid));
        let slashed: Option<u64> = self
            .verdicts
            .iter()
            .try_fold(0u64, |a, v| a.checked_add(v.slashed));
        let out = self
            .total_paid
            .checked_add(self.fee)
            .and_then(|x| x.checked_add(self.refund));
        paid == Some(self.total_paid)
            && slashed == Some(self.total_slashed)
            && out == Some(self.escrow)
            && self.bounty <= self.total_slashed
            && self.verdicts.len() == self.replicas as usize
            && (self.expired.len() as u64).checked_mul(self.collateral)
                == Some(self.expired_slashed)
    }
}
