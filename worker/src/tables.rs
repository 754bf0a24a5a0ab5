//! The market's address lookup table, for finalizes too large for a legacy transaction (see
//! `compute_market_client::lookup`). Set up at start-up, only for markets whose largest finalize
//! does not fit a packet; its address is kept in `<data_dir>/lookup-table.json` so that a restart
//! reuses it instead of paying for another.

use anyhow::{Context, Result};
use compute_market_client::{
    lookup::{self, AddressLookupTableAccount},
    rpc::Chain,
    MarketRef, Pubkey,
};
use solana_sdk::{signature::Keypair, signer::Signer};
use std::path::Path;

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    market: String,
    table: String,
}

/// The lookup table the worker's transactions for `market` use, or `None` when they all fit
/// without one.
pub async fn market_table(
    chain: &Chain,
    me: &Keypair,
    market: &MarketRef,
    data_dir: &Path,
) -> Result<Option<AddressLookupTableAccount>> {
    if lookup::largest_finalize_fits(chain, market, &me.pubkey()) {
        return Ok(None);
    }
    let path = data_dir.join("lookup-table.json");
    let known: Option<Pubkey> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<Saved>(&t).ok())
        .filter(|s| s.market == market.address.to_string())
        .and_then(|s| s.table.parse().ok());
    let table = chain
        .market_lookup_table(me, market, known.as_ref())
        .await
        .context("setting up the market's address lookup table")?;
    if known != Some(table.key) {
        tracing::info!(table = %table.key, "created an address lookup table for large finalizes");
        let saved = Saved {
            market: market.address.to_string(),
            table: table.key.to_string(),
        };
        std::fs::write(&path, serde_json::to_string_pretty(&saved)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(Some(table))
}
