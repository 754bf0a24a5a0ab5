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
    /// `sha256(TERMS_DOMAIN || borsh(self))`: what a requester passes to `post_job` to say which
    /// terms it accepted. The config's borsh bytes are also the raw bytes at
    /// `MARKET_CONFIG_OFFSET..+MARKET_CONFIG_LEN` of the market account, so a client can hash
    /// them without decoding.
    pub fn terms_hash(&self) -> [u8; 32] {
        let mut bytes = Vec::with_capacity(MARKET_CONFIG_LEN);
        // a Vec writer cannot fail and every field is fixed-size
        let _ = self.serialize(&mut bytes);
        solana_sha256_hasher::hashv(&[TERMS_DOMAIN, &bytes]).to_bytes()
    }

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

/// Byte offset of `Market::config` in the account (after the discriminator).
pub const MARKET_CONFIG_OFFSET: usize = 8 + 5 + 32 + 8 + 32 * 7;
/// Bytes of a borsh-serialized `MarketConfig`.
pub const MARKET_CONFIG_LEN: usize = MarketConfig::INIT_SPACE;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MarketConfig {
        MarketConfig {
            min_stake: 100,
            collateral_per_claim: 10,
            fee_bps: 100,
            slash_bounty_bps: 1_000,
            max_replicas: 5,
            claim_timeout: 60,
            default_commit_window: 600,
            max_commit_window: 3_600,
            reveal_window: 300,
            unstake_cooldown: 60,
        }
    }

    #[test]
    fn config_sits_where_the_offset_says() {
        let market = Market {
            version: 1,
            bump: 2,
            escrow_vault_bump: 3,
            stake_vault_bump: 4,
            paused: false,
            authority: Pubkey::new_unique(),
            market_id: 7,
            payment_mint: Pubkey::new_unique(),
            payment_token_program: Pubkey::new_unique(),
            stake_mint: Pubkey::new_unique(),
            stake_token_program: Pubkey::new_unique(),
            escrow_vault: Pubkey::new_unique(),
            stake_vault: Pubkey::new_unique(),
            treasury: Pubkey::new_unique(),
            config: config(),
            reserved: [0; 64],
        };
        let mut data = Vec::new();
        anchor_lang::AccountSerialize::try_serialize(&market, &mut data).unwrap();
        let raw = &data[MARKET_CONFIG_OFFSET..MARKET_CONFIG_OFFSET + MARKET_CONFIG_LEN];
        assert_eq!(
            solana_sha256_hasher::hashv(&[TERMS_DOMAIN, raw]).to_bytes(),
            market.config.terms_hash()
        );
    }

    #[test]
    fn terms_hash_covers_every_field() {
        let base = config().terms_hash();
        let changes: [fn(&mut MarketConfig); 10] = [
            |c| c.min_stake += 1,
            |c| c.collateral_per_claim += 1,
            |c| c.fee_bps += 1,
            |c| c.slash_bounty_bps += 1,
            |c| c.max_replicas += 1,
            |c| c.claim_timeout += 1,
            |c| c.default_commit_window += 1,
            |c| c.max_commit_window += 1,
            |c| c.reveal_window += 1,
            |c| c.unstake_cooldown += 1,
        ];
        for change in changes {
            let mut c = config();
            change(&mut c);
            assert_ne!(c.terms_hash(), base, "{c:?}");
        }
    }
}
