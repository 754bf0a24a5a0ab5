//! Waiting for this provider's turn in a job: the program lets a provider claim only from the
//! slot its stake-weighted ticket names (`client::sortition`), so the worker computes that slot
//! itself and claims then, instead of racing the other providers.

use crate::policy::Skip;
use compute_market_client::{
    rpc::{Chain, ChainError},
    sortition::Turn,
    Pubkey,
};
use std::time::Duration;
use tokio::sync::watch;

/// Slot time the worker assumes when sleeping towards its turn (it re-reads the slot on waking).
const SLOT_TIME: Duration = Duration::from_millis(400);
/// Longest sleep between two looks at the job and the slot.
const MAX_NAP: Duration = Duration::from_secs(2);

/// How a wait for the turn ended without one.
#[derive(Debug)]
pub enum NoTurn {
    /// The job filled (or went away) before this provider's turn.
    Skip(Skip),
    /// The worker is stopping.
    Stopping,
    Chain(ChainError),
}

impl From<ChainError> for NoTurn {
    fn from(e: ChainError) -> Self {
        NoTurn::Chain(e)
    }
}

/// Waits until the chain's clock reaches `at`: when a rising offer reaches this worker's floor.
pub async fn wait_for_price(
    chain: &Chain,
    at: i64,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), NoTurn> {
    loop {
        let now = chain.unix_time().await?;
        if now >= at {
            return Ok(());
        }
        let nap = Duration::from_secs((at - now) as u64);
        tokio::select! {
            _ = tokio::time::sleep(nap.min(MAX_NAP)) => {}
            _ = shutdown.changed() => return Err(NoTurn::Stopping),
        }
        if *shutdown.borrow() {
            return Err(NoTurn::Stopping);
        }
    }
}

/// Waits until `me` may claim the job at `address` in `market`; returns the slots it waited
/// past the job's seed slot. Ends early when the job stops taking claims or `shutdown` says so.
/// The provider account is read on every look: a slash or an unstake changes the bonded stake,
/// and with it the turn.
pub async fn wait_for_turn(
    chain: &Chain,
    market: &Pubkey,
    address: &Pubkey,
    me: &Pubkey,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<u64, NoTurn> {
    loop {
        let nap = match chain.turn(market, address, me).await? {
            Turn::Gone => return Err(NoTurn::Skip(Skip::NotOpen)),
            Turn::Closed => return Err(NoTurn::Skip(Skip::FilledBeforeTurn)),
            Turn::Unregistered => return Err(NoTurn::Skip(Skip::BelowMinStake(0, 1))),
            Turn::At {
                from,
                now,
                seed_slot,
            } if now >= from => return Ok(from.saturating_sub(seed_slot)),
            Turn::At { from, now, .. } => SLOT_TIME * (from - now) as u32,
            // the seed slot is a few slots ahead
            Turn::SeedAhead => SLOT_TIME,
        };
        tokio::select! {
            _ = tokio::time::sleep(nap.min(MAX_NAP)) => {}
            _ = shutdown.changed() => return Err(NoTurn::Stopping),
        }
        if *shutdown.borrow() {
            return Err(NoTurn::Stopping);
        }
    }
}
