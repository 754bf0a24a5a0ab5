use crate::constants::*;
use crate::error::MarketError;
use anchor_lang::prelude::*;

/// Rules of a market, set at `init_market` and changed by `update_market`.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct MarketConfig {
    /// Stake (stake-mint units) a provider must hold to claim.
    pub min_stake: u64,
    /// Collateral (stake-mint units) locked from the provider's stake per claimed slot.
    pub collateral_per_claim: u64,
    /// Protocol fee taken from each paid reward, in basis points.
    pub fee_bps: u16,
    /// Share of every slash paid to whoever triggers it (`expire_claim`, `finalize_job`), in bps
    /// (at most `MAX_SLASH_BOUNTY_BPS`); the rest goes to the treasury.
    pub slash_bounty_bps: u16,
    /// Most replicas a job may ask for (1..=MAX_REPLICAS).
    pub max_replicas: u8,
    /// Seconds a provider has to commit after claiming a slot.
    pub claim_timeout: i64,
    /// Commit window used when a job asks for 0: seconds from posting to the commit deadline.
    pub default_commit_window: i64,
    /// Longest commit window a job may ask for.
    pub max_commit_window: i64,
    /// Seconds after the commit deadline during which reveals are accepted.
    pub reveal_window: i64,
    /// Seconds between `request_unstake` and `withdraw_stake`.
    pub unstake_cooldown: i64,
}

impl MarketConfig {
    /// Checks every field against the program's limits.
    pub fn validate(&self) -> Result<()> {
        require!(self.fee_bps <= MAX_FEE_BPS, MarketError::FeeTooHigh);
        require!(
            self.slash_bounty_bps <= MAX_SLASH_BOUNTY_BPS,
            MarketError::BountyTooHigh
        );
        require!(
            (1..=MAX_REPLICAS).contains(&self.max_replicas),
            MarketError::InvalidReplicaLimit
        );
        require!(
            self.collateral_per_claim > 0 && self.collateral_per_claim <= self.min_stake,
            MarketError::InvalidCollateral
        );
        let window = MIN_WINDOW_SECS..=MAX_WINDOW_SECS;
        for t in [
            self.claim_timeout,
            self.default_commit_window,
            self.max_commit_window,
            self.reveal_window,
            self.unstake_cooldown,
        ] {
            require!(window.contains(&t), MarketError::InvalidTimeout);
        }
        require!(
            self.claim_timeout <= self.default_commit_window
                && self.default_commit_window <= self.max_commit_window,
            MarketError::InvalidTimeout
        );
        Ok(())
    }
}

/// A marketplace: its mints, vaults, treasury and rules.
/// PDA `["market", authority, market_id (u64 LE)]`.
#[account]
#[derive(InitSpace, Debug)]
pub struct Market {
    /// Layout version (`ACCOUNT_VERSION`).
    pub version: u8,
    /// Bump of this PDA.
    pub bump: u8,
    /// Bump of the escrow vault PDA.
    pub escrow_vault_bump: u8,
    /// Bump of the stake vault PDA.
    pub stake_vault_bump: u8,
    /// Whether new jobs, claims and provider registrations are refused.
    pub paused: bool,
    /// Who may change the rules.
    pub authority: Pubkey,
    /// Distinguishes several markets of one authority.
    pub market_id: u64,
    /// Mint in which requesters pay.
    pub payment_mint: Pubkey,
    /// Token program owning the payment mint (Token or Token-2022).
    pub payment_token_program: Pubkey,
    /// Mint in which providers stake (may equal the payment mint).
    pub stake_mint: Pubkey,
    /// Token program owning the stake mint.
    pub stake_token_program: Pubkey,
    /// Market-owned token account holding every open job's escrow.
    pub escrow_vault: Pubkey,
    /// Market-owned token account holding every provider's stake.
    pub stake_vault: Pubkey,
    /// Wallet whose associated token accounts receive fees (payment mint) and slashes (stake mint).
    pub treasury: Pubkey,
    /// The rules.
    pub config: MarketConfig,
    /// Room for future fields.
    pub reserved: [u8; 64],
}

impl Market {
    /// Account size including the 8-byte discriminator.
    pub const SIZE: usize = 8 + Self::INIT_SPACE;

    /// Signer seeds of the market PDA, which owns both vaults.
    pub fn signer_seeds<'a>(&'a self, id_bytes: &'a [u8; 8], bump: &'a [u8; 1]) -> [&'a [u8]; 4] {
        [SEED_MARKET, self.authority.as_ref(), id_bytes, bump]
    }
}
