use crate::constants::*;
use crate::error::MarketError;
use crate::math;
use anchor_lang::prelude::*;

/// What a provider's worker accepts, as it publishes it (`publish_offer`): the largest limits a
/// manifest may ask for and its price floor for a job, `max(min_price, ⌈max_fuel ×
/// price_per_gfuel / 10^9⌉ + ⌈max_memory / MiB⌉ × price_per_mib)` (payment-mint base units).
/// Informational: the program enforces none of it; it lets a requester see who would take a job.
#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, Default, PartialEq, Eq, InitSpace,
)]
pub struct ProviderOffer {
    pub max_fuel: u64,
    pub max_memory: u64,
    pub max_output: u64,
    pub min_price: u64,
    pub price_per_gfuel: u64,
    pub price_per_mib: u64,
}

impl ProviderOffer {
    /// The floor for a manifest's limits (see the type), saturating.
    pub fn floor(&self, max_fuel: u64, max_memory: u64) -> u64 {
        let fuel = (max_fuel as u128 * self.price_per_gfuel as u128).div_ceil(1_000_000_000);
        let mib = (max_memory as u128).div_ceil(1 << 20);
        let by_units = fuel.saturating_add(mib.saturating_mul(self.price_per_mib as u128));
        u64::try_from(by_units)
            .unwrap_or(u64::MAX)
            .max(self.min_price)
    }
}

/// A compute provider in one market. PDA `["provider", market, owner]`.
///
/// `market` comes first so that clients can list a market's providers with one `memcmp`.
#[account]
#[derive(InitSpace, Debug)]
pub struct Provider {
    /// Market this provider serves.
    pub market: Pubkey,
    /// Wallet that controls the provider, signs claims and receives payouts.
    pub owner: Pubkey,
    /// Layout version (`ACCOUNT_VERSION`).
    pub version: u8,
    /// Bump of this PDA.
    pub bump: u8,
    /// Stake held in the market's stake vault, including locked and pending amounts.
    pub stake: u64,
    /// Part of `stake` locked as collateral for open claims.
    pub locked: u64,
    /// Part of `stake` requested for withdrawal; no longer usable as collateral.
    pub pending_unstake: u64,
    /// Unix time from which `pending_unstake` may be withdrawn.
    pub unstake_available_at: i64,
    /// Slots this provider currently holds.
    pub active_claims: u32,
    /// Capability bits the provider advertises (bit 0: runtime `wasi-p1`).
    pub capabilities: u64,
    /// Jobs in which this provider was paid.
    pub jobs_completed: u64,
    /// Claims this provider lost collateral on.
    pub jobs_failed: u64,
    /// Total collateral slashed from this provider.
    pub total_slashed: u64,
    /// Total payment-mint tokens earned, after fees.
    pub total_earned: u64,
    /// Unix time of registration.
    pub registered_at: i64,
    /// What the provider's worker accepts (all zero until it first publishes).
    pub offer: ProviderOffer,
    /// Unix time of the latest `publish_offer`: the worker republishes periodically, so an old
    /// value means it is not running (0: never published).
    pub last_seen: i64,
    /// Room for future fields.
    pub reserved: [u8; 8],
    /// URL where the provider serves result bytes (http or https).
    #[max_len(MAX_ENDPOINT_LEN)]
    pub endpoint: String,
}

impl Provider {
    /// Account size including the 8-byte discriminator (endpoint at its maximum length).
    pub const SIZE: usize = 8 + Self::INIT_SPACE;

    /// Stake that is neither locked nor pending withdrawal.
    pub fn free_stake(&self) -> Result<u64> {
        math::sub(math::sub(self.stake, self.locked)?, self.pending_unstake)
    }

    /// Stake that stays at stake: everything but what is pending withdrawal. Claims need this to
    /// reach the market minimum, and while claims are open it may not fall below it.
    pub fn bonded(&self) -> Result<u64> {
        math::sub(self.stake, self.pending_unstake)
    }

    /// `locked + pending_unstake <= stake` must hold after every change.
    pub fn invariant(&self) -> Result<()> {
        let committed = math::add(self.locked, self.pending_unstake)?;
        require!(committed <= self.stake, MarketError::InvariantViolated);
        Ok(())
    }

    /// Takes `amount` of locked collateral away from the provider: stake and lock shrink alike.
    pub fn slash(&mut self, amount: u64) -> Result<()> {
        self.stake = math::sub(self.stake, amount)?;
        self.locked = math::sub(self.locked, amount)?;
        // Statistics saturate: a lifetime counter must never block a settlement.
        self.total_slashed = self.total_slashed.saturating_add(amount);
        self.jobs_failed = self.jobs_failed.saturating_add(1);
        self.release_claim()
    }

    /// Releases `amount` of collateral back to free stake.
    pub fn unlock(&mut self, amount: u64) -> Result<()> {
        self.locked = math::sub(self.locked, amount)?;
        self.release_claim()
    }

    fn release_claim(&mut self) -> Result<()> {
        self.active_claims = self
            .active_claims
            .checked_sub(1)
            .ok_or_else(|| error!(MarketError::MathOverflow))?;
        Ok(())
    }
}

/// Checks a result endpoint: an http(s) URL with a host, within `MAX_ENDPOINT_LEN` bytes.
pub fn validate_endpoint(endpoint: &str) -> Result<()> {
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .unwrap_or_default();
    require!(
        endpoint.len() <= MAX_ENDPOINT_LEN
            && !rest.is_empty()
            && !rest.starts_with('/')
            && !endpoint
                .chars()
                .any(|c| c.is_whitespace() || c.is_control()),
        MarketError::InvalidEndpoint
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_floor_counts_fuel_and_memory_rounded_up() {
        let o = ProviderOffer {
            price_per_gfuel: 10,
            price_per_mib: 2,
            ..Default::default()
        };
        // 2.5 × 10^9 fuel is 25; 64 MiB and a byte are 65 MiB, 130
        assert_eq!(o.floor(2_500_000_000, (64 << 20) + 1), 155);
        assert_eq!(o.floor(1, 0), 1, "any fuel costs at least a unit");
        let o = ProviderOffer {
            min_price: 1_000,
            ..o
        };
        assert_eq!(o.floor(2_500_000_000, 1 << 20), 1_000);
        let o = ProviderOffer {
            price_per_gfuel: u64::MAX,
            price_per_mib: u64::MAX,
            ..Default::default()
        };
        assert_eq!(o.floor(u64::MAX, u64::MAX), u64::MAX, "saturates");
    }

    #[test]
    fn endpoints() {
        assert!(validate_endpoint("http://127.0.0.1:7070").is_ok());
        assert!(validate_endpoint("https://worker.example.org/results").is_ok());
        for bad in [
            "",
            "http://",
            "https:///x",
            "ftp://h",
            "http://a b",
            "worker:80",
        ] {
            assert!(validate_endpoint(bad).is_err(), "{bad}");
        }
        let long = format!("https://{}", "a".repeat(MAX_ENDPOINT_LEN));
        assert!(validate_endpoint(&long).is_err());
    }
}
