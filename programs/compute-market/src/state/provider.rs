use crate::constants::*;
use crate::error::MarketError;
use crate::math;
use anchor_lang::prelude::*;

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
    /// Room for future fields.
    pub reserved: [u8; 64],
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
