//! Idempotent set-up of a fresh local chain: a token mint, a market with sane defaults, and
//! funded demo keypairs. Running it again against the same ledger changes nothing.

use anyhow::{Context, Result};
use compute_market_client::{
    ata, ix, pda, rpc::Chain, token, Instruction, MarketConfig, MarketInitArgs, MarketRef, Pubkey,
};
use serde::{Deserialize, Serialize};
use solana_sdk::{signature::Keypair, signer::Signer};
use std::path::{Path, PathBuf};

use crate::load_or_create_keypair;

/// Lamports each demo wallet is topped up to.
pub const DEMO_LAMPORTS: u64 = 100 * 1_000_000_000;
/// Tokens (base units, 6 decimals) each demo wallet is topped up to.
pub const DEMO_TOKENS: u64 = 1_000_000 * 1_000_000;
/// Decimals of the local token.
pub const DECIMALS: u8 = 6;
/// Market id of the default local market.
pub const MARKET_ID: u64 = 0;
/// Demo wallets created next to the ledger.
pub const DEMO_WALLETS: &[&str] = &["requester", "provider-1", "provider-2", "provider-3"];

/// Rules of the default local market: short windows so a demo settles in seconds.
pub fn default_config() -> MarketConfig {
    MarketConfig {
        min_stake: 1_000 * 1_000_000,
        collateral_per_claim: 100 * 1_000_000,
        fee_bps: 250,
        slash_bounty_bps: 1_000,
        max_replicas: 8,
        claim_timeout: 60,
        default_commit_window: 300,
        max_commit_window: 86_400,
        reveal_window: 120,
        unstake_cooldown: 60,
    }
}

/// The default local market of `authority` on `mint` (SPL Token, for payment and stake), with the
/// authority as treasury and its token account: `market_id` [`MARKET_ID`], [`default_config`],
/// on the deployment of the program at `market_program`.
pub fn init_market(market_program: &Pubkey, authority: &Pubkey, mint: &Pubkey) -> [Instruction; 2] {
    let program = token::TOKEN_PROGRAM;
    let args = MarketInitArgs {
        market_id: MARKET_ID,
        treasury: *authority,
        config: default_config(),
    };
    [
        ix::init_market(
            market_program,
            authority,
            mint,
            &program,
            mint,
            &program,
            args,
        ),
        ix::create_ata(authority, authority, mint, &program),
    ]
}

/// What a local chain offers, written to `<keys>/localnet.json` for the other tools.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LocalnetInfo {
    pub rpc_url: String,
    pub ws_url: String,
    pub blob_url: Option<String>,
    pub program_id: String,
    pub market: String,
    pub mint: String,
    pub authority_keypair: PathBuf,
    pub wallets: Vec<(String, PathBuf)>,
    /// Every port the chain listens on (absent in files of older versions).
    #[serde(default)]
    pub ports: crate::Ports,
}

/// Mint, market and demo wallets; `admin` is the genesis mint keypair of the local chain.
pub async fn bootstrap(chain: &Chain, admin: &Keypair, keys: &Path) -> Result<(MarketRef, Pubkey)> {
    std::fs::create_dir_all(keys).with_context(|| format!("creating {}", keys.display()))?;
    let mint_kp = load_or_create_keypair(&keys.join("mint.json"))?;
    let mint = mint_kp.pubkey();
    let program = token::TOKEN_PROGRAM;

    if chain.account(&mint).await?.is_none() {
        let rent = chain
            .rpc
            .get_minimum_balance_for_rent_exemption(token::MINT_LEN)
            .await
            .context("RPC getMinimumBalanceForRentExemption")?;
        let ixs = token::create_mint(
            &admin.pubkey(),
            &mint,
            &admin.pubkey(),
            DECIMALS,
            &program,
            rent,
        );
        chain
            .send(&ixs, admin, &[&mint_kp])
            .await
            .context("creating the token mint")?;
    }

    let market_address = pda::market(&chain.program, &admin.pubkey(), MARKET_ID);
    if chain.account(&market_address).await?.is_none() {
        chain
            .send(
                &init_market(&chain.program, &admin.pubkey(), &mint),
                admin,
                &[],
            )
            .await
            .context("creating the market")?;
    }
    let market = chain.market(&market_address).await?;

    for name in DEMO_WALLETS {
        let wallet = load_or_create_keypair(&keys.join(format!("{name}.json")))?;
        fund(chain, admin, &wallet.pubkey(), &mint, &program).await?;
    }
    Ok((market, mint))
}

/// Tops `wallet` up to `DEMO_LAMPORTS` and `DEMO_TOKENS`.
pub async fn fund(
    chain: &Chain,
    admin: &Keypair,
    wallet: &Pubkey,
    mint: &Pubkey,
    program: &Pubkey,
) -> Result<()> {
    let lamports = chain
        .rpc
        .get_balance(wallet)
        .await
        .context("RPC getBalance")?;
    let token_account = ata(wallet, mint, program);
    let tokens = chain.token_balance(&token_account).await?;
    let mut ixs = vec![ix::create_ata(&admin.pubkey(), wallet, mint, program)];
    if lamports < DEMO_LAMPORTS {
        ixs.push(anchor_lang::solana_program::system_instruction::transfer(
            &admin.pubkey(),
            wallet,
            DEMO_LAMPORTS - lamports,
        ));
    }
    if tokens < DEMO_TOKENS {
        ixs.push(token::mint_to(
            program,
            mint,
            &token_account,
            &admin.pubkey(),
            DEMO_TOKENS - tokens,
        ));
    }
    chain
        .send(&ixs, admin, &[])
        .await
        .with_context(|| format!("funding {wallet}"))?;
    Ok(())
}
