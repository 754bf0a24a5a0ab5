//! Every failure path of the program has a named error here.
//!
//! Codes are positional: append new variants at the end, never reorder or remove.

use anchor_lang::prelude::*;

#[error_code]
pub enum MarketError {
    #[msg("Arithmetic overflow or underflow")]
    MathOverflow,
    #[msg("The market is paused: no new jobs, claims or providers")]
    MarketPaused,
    #[msg("Protocol fee is above the maximum of 2000 bps")]
    FeeTooHigh,
    #[msg("Slash bounty must be at most MAX_SLASH_BOUNTY_BPS (5000 bps)")]
    BountyTooHigh,
    #[msg("Market max_replicas must be between 1 and MAX_REPLICAS")]
    InvalidReplicaLimit,
    #[msg("A timeout or window is outside the allowed range")]
    InvalidTimeout,
    #[msg("Collateral per claim must be positive and at most the minimum stake")]
    InvalidCollateral,
    #[msg("The mint has a Token-2022 extension that would break escrow accounting")]
    UnsupportedMintExtension,
    #[msg("Replicas must be between 1 and the market's max_replicas")]
    InvalidReplicas,
    #[msg("Quorum must be a strict majority of the replicas (n / 2 < k <= n)")]
    InvalidQuorum,
    #[msg("Reward per replica must be positive")]
    ZeroReward,
    #[msg("The manifest hash must not be all zeroes")]
    InvalidManifestHash,
    #[msg("The manifest URI is empty or longer than MAX_MANIFEST_URI_LEN")]
    InvalidManifestUri,
    #[msg("A settlement already exists for this job address: use a fresh nonce")]
    SettlementExists,
    #[msg("A slot of the job is held: it cannot be cancelled while a provider works on it")]
    JobAlreadyClaimed,
    #[msg("Every slot of the job is taken")]
    JobFull,
    #[msg("This provider already holds a slot of this job")]
    DuplicateProvider,
    #[msg("The provider's stake, less pending withdrawals, is below the market minimum")]
    InsufficientStake,
    #[msg("The provider's free stake cannot cover the collateral")]
    InsufficientFreeStake,
    #[msg("The commit phase of this job is over")]
    CommitPhaseOver,
    #[msg("Slot index out of range")]
    InvalidSlot,
    #[msg("The slot is not in the claimed state")]
    SlotNotClaimed,
    #[msg("The claim has not expired yet")]
    ClaimNotExpired,
    #[msg("A provider cannot expire its own claim")]
    SelfExpiry,
    #[msg("The signer holds no slot of this job")]
    NotAssigned,
    #[msg("The claim expired before the commitment arrived")]
    ClaimExpired,
    #[msg("The commitment must not be all zeroes")]
    ZeroCommitment,
    #[msg("Reveals open only after every slot committed or the commit deadline passed")]
    RevealNotOpen,
    #[msg("The reveal deadline has passed")]
    RevealDeadlinePassed,
    #[msg("The slot has no commitment to reveal")]
    NotCommitted,
    #[msg("Result root and salt do not match the commitment")]
    CommitmentMismatch,
    #[msg("The job cannot be finalized yet")]
    FinalizeTooEarly,
    #[msg("Provider accounts passed do not match the job's slots")]
    ProviderAccountMismatch,
    #[msg("A payout account is a vault, or not a token account of the recipient")]
    PayoutAccountMismatch,
    #[msg("Amount must be positive")]
    ZeroAmount,
    #[msg("Nothing is pending withdrawal")]
    NothingToWithdraw,
    #[msg("The unstake cooldown has not elapsed")]
    CooldownActive,
    /// Defensive: `Provider::invariant` already keeps `locked + pending_unstake <= stake`.
    #[msg("Withdrawal would take stake below locked collateral")]
    StakeLocked,
    #[msg("The provider still has stake, collateral or claims")]
    ProviderBusy,
    #[msg("The endpoint must be an http(s) URL of at most MAX_ENDPOINT_LEN bytes")]
    InvalidEndpoint,
    #[msg("An account invariant does not hold")]
    InvariantViolated,
    #[msg("The commit window must be between the claim timeout and the market maximum")]
    InvalidCommitWindow,
    #[msg("Too late to claim: the claim timeout would end after the commit deadline")]
    ClaimWindowClosed,
    #[msg("The market's terms changed after the requester reviewed them: fetch the market and post again")]
    TermsChanged,
    #[msg("This provider's claim on the job expired before: it may not claim the job again")]
    ClaimExpiredBefore,
    #[msg("The job recorded MAX_EXPIRED_CLAIMS expired claims: it takes no more claims")]
    TooManyExpiredClaims,
    #[msg(
        "Stake minus pending withdrawals would fall below the market minimum while claims are open"
    )]
    StakeBelowMinimum,
    #[msg("The job's seed slot has not been reached yet: claims open a few slots after the post")]
    SeedNotReady,
    #[msg(
        "Not this provider's turn yet: its eligibility window for the job opens at a later slot"
    )]
    NotEligibleYet,
    #[msg("The vault holds no more than the program's books: there is no surplus to sweep")]
    NoSurplus,
    #[msg("The account is not one of the market's vaults, or not under its mint's token program")]
    NotAMarketVault,
    #[msg("The ledger passed is not the books of this market's vault")]
    WrongLedger,
    #[msg("A rising offer needs min ≤ max, a ramp length above 0, and a ramp that ends more than a claim timeout before the commit deadline")]
    InvalidRamp,
    #[msg("Nothing to extend: add seconds to the deadlines or give a new price curve")]
    NothingToExtend,
    #[msg("The maximum reward of a job can only rise")]
    RewardLowered,
    #[msg("A slot of the job holds a locked price: the price curve can change only while no slot is held")]
    PriceLocked,
    #[msg("A consumer may name at most MAX_CONSUMER_PREFIX bytes of prefix and MAX_CONSUMER_ACCOUNTS accounts, and not this program, the system program or a token program")]
    InvalidConsumer,
    #[msg("The job named no consumer: there is nothing to deliver")]
    NoConsumer,
    #[msg("The result was delivered already")]
    AlreadyDelivered,
    #[msg("The consumer program or accounts passed are not the ones the job named")]
    ConsumerAccountMismatch,
    #[msg(
        "The result opened does not match the settled root, or a short output is not carried whole"
    )]
    ResultMismatch,
}
