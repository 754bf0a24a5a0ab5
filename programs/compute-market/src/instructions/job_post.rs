use crate::constants::*;
use crate::error::MarketError;
use crate::events::JobPosted;
use crate::math;
use crate::state::{
    is_strict_majority, Consumer, Job, JobStatus, Ledger, Market, Settlement, Slot,
};
use crate::token::transfer_in;
use anchor_lang::prelude::*;
use anchor_lang::system_program::{self, Transfer};
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct JobPostArgs {
    /// Requester-chosen number that makes the job address unique (PDA seed).
    pub nonce: u64,
    /// sha256 of the canonical manifest.
    pub manifest_hash: [u8; 32],
    /// Where the manifest can be fetched.
    pub manifest_uri: String,
    /// The most paid to each agreeing provider (before the fee): the end of the ramp, escrowed
    /// for every replica. A fixed offer pays exactly this.
    pub reward_per_replica: u64,
    /// The starting price of a rising offer; equal to `reward_per_replica` for a fixed offer.
    pub min_reward_per_replica: u64,
    /// Seconds from now until the price starts to rise.
    pub ramp_delay: i64,
    /// Seconds the price takes to rise to `reward_per_replica`; 0 for a fixed offer. The ramp
    /// must end more than a claim timeout before the commit deadline, so a claim can still lock
    /// the maximum.
    pub ramp_seconds: i64,
    /// Number of providers that run the job, n.
    pub replicas: u8,
    /// Agreeing results needed, k: a strict majority of n (n / 2 < k ≤ n).
    pub quorum: u8,
    /// Seconds from now to the commit deadline; 0 uses the market default.
    pub commit_window: i64,
    /// `MarketConfig::terms_hash` of the market config the requester reviewed (fee, collateral,
    /// windows, ...): the post fails with `TermsChanged` if the market changed since.
    pub terms_hash: [u8; 32],
    /// A program to call with the result once the job settled (`deliver_result`), if any.
    pub consumer: Option<Consumer>,
}

/// The deserialized accounts are boxed to keep `try_accounts` within an sBPF stack frame.
#[derive(Accounts)]
#[instruction(args: JobPostArgs)]
pub struct JobPost<'info> {
    /// Funds the escrow and the accounts; gets everything back that is not earned.
    #[account(mut)]
    pub requester: Signer<'info>,

    #[account(constraint = !market.paused @ MarketError::MarketPaused)]
    pub market: Box<Account<'info, Market>>,

    #[account(
        init,
        payer = requester,
        space = Job::space_for(
            args.replicas.min(MAX_REPLICAS),
            args.manifest_uri.len().min(MAX_MANIFEST_URI_LEN),
            args.consumer.as_ref(),
        ),
        seeds = [
            SEED_JOB,
            market.key().as_ref(),
            requester.key().as_ref(),
            &args.nonce.to_le_bytes(),
        ],
        bump,
    )]
    pub job: Box<Account<'info, Job>>,

    /// CHECK: the job's settlement address (seeds constraint); `validate` requires it to be
    /// empty, so a settled job's address cannot be reused and its record never clashes.
    #[account(seeds = [SEED_SETTLEMENT, job.key().as_ref()], bump)]
    pub settlement: UncheckedAccount<'info>,

    /// Source of the escrow; the token program checks that the requester may spend it.
    #[account(mut, token::mint = payment_mint, token::token_program = token_program)]
    pub requester_token: Box<InterfaceAccount<'info, TokenAccount>>,

    #[account(mut, address = market.escrow_vault)]
    pub escrow_vault: Box<InterfaceAccount<'info, TokenAccount>>,

    /// The books of the escrow vault.
    #[account(
        mut,
        has_one = market,
        constraint = escrow_ledger.vault == market.escrow_vault @ MarketError::WrongLedger,
    )]
    pub escrow_ledger: Box<Account<'info, Ledger>>,

    #[account(address = market.payment_mint)]
    pub payment_mint: Box<InterfaceAccount<'info, Mint>>,

    /// Read only: the stake it books scales the job's eligibility windows
    /// (`Job::stake_scale`); tokens donated to the stake vault do not count.
    #[account(
        has_one = market,
        constraint = stake_ledger.vault == market.stake_vault @ MarketError::WrongLedger,
    )]
    pub stake_ledger: Box<Account<'info, Ledger>>,

    #[account(address = market.payment_token_program)]
    pub token_program: Interface<'info, TokenInterface>,

    pub system_program: Program<'info, System>,
}

impl JobPost<'_> {
    pub fn validate(&self, args: &JobPostArgs) -> Result<()> {
        let cfg = &self.market.config;
        require!(
            args.replicas >= 1 && args.replicas <= cfg.max_replicas,
            MarketError::InvalidReplicas
        );
        require!(
            args.terms_hash == cfg.terms_hash(),
            MarketError::TermsChanged
        );
        require!(
            is_strict_majority(args.quorum, args.replicas),
            MarketError::InvalidQuorum
        );
        require!(args.reward_per_replica > 0, MarketError::ZeroReward);
        require!(
            args.min_reward_per_replica <= args.reward_per_replica
                && args.ramp_delay >= 0
                && args.ramp_seconds >= 0
                && (args.ramp_seconds > 0
                    || args.min_reward_per_replica == args.reward_per_replica),
            MarketError::InvalidRamp
        );
        math::mul(args.reward_per_replica, args.replicas as u64)?;
        require!(
            args.manifest_hash != [0; 32],
            MarketError::InvalidManifestHash
        );
        require!(
            !args.manifest_uri.is_empty() && args.manifest_uri.len() <= MAX_MANIFEST_URI_LEN,
            MarketError::InvalidManifestUri
        );
        require!(
            args.commit_window == 0
                || (cfg.claim_timeout..=cfg.max_commit_window).contains(&args.commit_window),
            MarketError::InvalidCommitWindow
        );
        if let Some(c) = &args.consumer {
            c.validate(&crate::ID, &self.market.key(), &self.settlement.key())?;
        }
        // Only a written record counts: lamports sent to the address must not block the nonce.
        require!(
            self.settlement.data_is_empty(),
            MarketError::SettlementExists
        );
        Ok(())
    }

    pub fn handler(ctx: Context<Self>, args: JobPostArgs) -> Result<()> {
        let clock = Clock::get()?;
        let now = clock.unix_timestamp;
        let a = ctx.accounts;
        let cfg = a.market.config;
        let window = if args.commit_window == 0 {
            cfg.default_commit_window
        } else {
            args.commit_window
        };
        let commit_deadline = math::add_i64(now, window)?;
        let ramp_start = math::add_i64(now, args.ramp_delay)?;
        // a claim needs `now + claim_timeout < commit_deadline`: the maximum must come earlier
        require!(
            args.ramp_seconds == 0
                || math::add_i64(
                    math::add_i64(ramp_start, args.ramp_seconds)?,
                    cfg.claim_timeout
                )? < commit_deadline,
            MarketError::InvalidRamp
        );
        let escrow = math::mul(args.reward_per_replica, args.replicas as u64)?;
        // The requester prepays the settlement record's rent, sized for the most expired claims
        // it can list; whoever creates the record is reimbursed from this deposit and the rest
        // returns with the job's rent.
        let settlement_deposit = Rent::get()?.minimum_balance(Settlement::space_for(
            args.replicas,
            MAX_EXPIRED_CLAIMS as usize,
            args.consumer.as_ref(),
        ));

        a.job.set_inner(Job {
            market: a.market.key(),
            status: JobStatus::Open,
            version: ACCOUNT_VERSION,
            bump: ctx.bumps.job,
            replicas: args.replicas,
            quorum: args.quorum,
            requester: a.requester.key(),
            nonce: args.nonce,
            manifest_hash: args.manifest_hash,
            reward_per_replica: args.reward_per_replica,
            escrow,
            fee_bps: cfg.fee_bps,
            collateral: cfg.collateral_per_claim,
            claim_timeout: cfg.claim_timeout,
            created_at: now,
            commit_deadline,
            reveal_deadline: math::add_i64(commit_deadline, cfg.reveal_window)?,
            expired_slashed: 0,
            slash_bounty_bps: cfg.slash_bounty_bps,
            settlement_deposit,
            seed_slot: math::add(clock.slot, SEED_DELAY_SLOTS)?,
            seed: [0; 32],
            stake_scale: a.stake_ledger.books.max(1),
            min_reward_per_replica: args.min_reward_per_replica,
            ramp_start,
            ramp_seconds: args.ramp_seconds,
            latest_commit_deadline: math::add_i64(now, cfg.max_commit_window)?,
            reserved: [0; 8],
            manifest_uri: args.manifest_uri,
            slots: vec![Slot::FREE; args.replicas as usize],
            expired: Vec::new(),
            consumer: args.consumer,
        });
        a.job.invariant()?;
        a.escrow_ledger.credit(escrow)?;

        transfer_in(
            &a.token_program,
            &a.requester_token,
            &a.escrow_vault,
            &a.payment_mint,
            &a.requester,
            escrow,
        )?;
        system_program::transfer(
            CpiContext::new(
                a.system_program.key(),
                Transfer {
                    from: a.requester.to_account_info(),
                    to: a.job.to_account_info(),
                },
            ),
            settlement_deposit,
        )?;

        emit!(JobPosted {
            market: a.market.key(),
            job: a.job.key(),
            requester: a.requester.key(),
            nonce: args.nonce,
            manifest_hash: args.manifest_hash,
            reward_per_replica: args.reward_per_replica,
            min_reward_per_replica: args.min_reward_per_replica,
            ramp_start,
            ramp_seconds: args.ramp_seconds,
            replicas: args.replicas,
            quorum: args.quorum,
            escrow,
            commit_deadline,
            reveal_deadline: a.job.reveal_deadline,
            consumer: a.job.consumer.as_ref().map(|c| c.program),
        });
        Ok(())
    }
}
