use crate::constants::*;
use crate::error::MarketError;
use crate::math;
use anchor_lang::prelude::*;

/// The program's books of one market vault: how many of the vault's tokens belong to someone.
/// PDA `["ledger", vault]`; a market has one for its escrow vault (the escrow of every open job)
/// and one for its stake vault (every provider's stake).
///
/// A ledger is written only by instructions that already write its vault (post, cancel and
/// finalize for escrow; stake, withdraw, expire and finalize for stake), so it adds no write
/// lock that a transaction did not already take; claims, commits and reveals never touch it.
/// Tokens sent to a vault by anyone else (a donation, a vault passed as someone's payout account
/// elsewhere) are a surplus over the books, which only the authority can sweep, and only to the
/// treasury (`sweep_surplus`): the books themselves can never be swept.
///
/// Only `init_market` creates ledgers, one per vault at its PDA, so an instruction takes a
/// ledger as genuine when the program owns it (Anchor's owner and discriminator checks) and its
/// `market` and `vault` are the market's: no address derivation needed.
#[account]
#[derive(InitSpace, Debug)]
pub struct Ledger {
    /// Market the vault belongs to (first, for `memcmp` filters).
    pub market: Pubkey,
    /// Layout version (`ACCOUNT_VERSION`).
    pub version: u8,
    /// Bump of this PDA.
    pub bump: u8,
    /// The vault these are the books of.
    pub vault: Pubkey,
    /// Tokens of the vault that the program owes: `vault.amount >= books` always.
    pub books: u64,
    /// Surplus swept to the treasury so far.
    pub swept: u64,
    /// Room for future fields.
    pub reserved: [u8; 32],
}

impl Ledger {
    /// Account size including the 8-byte discriminator.
    pub const SIZE: usize = 8 + Self::INIT_SPACE;

    /// A new, empty ledger of `vault`.
    pub fn new(market: Pubkey, vault: Pubkey, bump: u8) -> Self {
        Ledger {
            market,
            version: ACCOUNT_VERSION,
            bump,
            vault,
            books: 0,
            swept: 0,
            reserved: [0; 32],
        }
    }

    /// Tokens moved into the vault for the program's books.
    pub fn credit(&mut self, amount: u64) -> Result<()> {
        self.books = math::add(self.books, amount)?;
        Ok(())
    }

    /// Tokens paid out of the vault from the books.
    pub fn debit(&mut self, amount: u64) -> Result<()> {
        self.books = self
            .books
            .checked_sub(amount)
            .ok_or_else(|| error!(MarketError::InvariantViolated))?;
        Ok(())
    }

    /// What a vault holding `balance` has over the books (a shortfall is an invariant
    /// violation: the program never pays out more than it booked).
    pub fn surplus(&self, balance: u64) -> Result<u64> {
        balance
            .checked_sub(self.books)
            .ok_or_else(|| error!(MarketError::InvariantViolated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn books_move_with_checked_math_and_surplus_is_what_exceeds_them() {
        let mut l = Ledger::new(Pubkey::new_unique(), Pubkey::new_unique(), 1);
        l.credit(100).unwrap();
        l.debit(30).unwrap();
        assert_eq!(l.books, 70);
        assert!(l.debit(71).is_err());
        assert!(l.credit(u64::MAX).is_err());
        assert_eq!(l.surplus(75).unwrap(), 5);
        assert_eq!(l.surplus(70).unwrap(), 0);
        assert!(l.surplus(69).is_err());
    }
}
