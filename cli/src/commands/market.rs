//! `cmkt market init|show|update|sweep`.

use super::{mint_decimals, mint_info};
use crate::{out, settings::*, Ctx};
use anyhow::Result;
use compute_market_client::{ix, pda, MarketConfig, MarketInitArgs, MarketUpdateArgs};
use compute_market_localnet::bootstrap::default_config;
use serde_json::json;
use solana_sdk::signer::Signer;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Create a market signed by --keypair (the authority).
    Init {
        /// Mint requesters pay in.
        #[arg(long)]
        payment_mint: String,
        /// Mint providers stake (default: the payment mint).
        #[arg(long)]
        stake_mint: Option<String>,
        /// Market id (several markets per authority).
        #[arg(long, default_value_t = 0)]
        id: u64,
        /// Treasury wallet (default: the authority).
        #[arg(long)]
        treasury: Option<String>,
        #[command(flatten)]
        rules: Rules,
    },
    /// Show a market (default: --market).
    Show { address: Option<String> },
    /// Change rules, pause or resume (authority only).
    Update {
        #[command(flatten)]
        rules: Rules,
        #[arg(long, conflicts_with = "resume")]
        pause: bool,
        #[arg(long)]
        resume: bool,
        #[arg(long)]
        treasury: Option<String>,
    },
    /// Send what a vault holds beyond the program's books (tokens sent to it from outside) to
    /// the treasury (authority only; `cmkt audit` shows the surplus). The books never move.
    Sweep {
        /// Which vault.
        #[arg(long, value_enum)]
        vault: Vault,
    },
}

/// One of a market's two vaults.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Vault {
    /// The payment-mint vault holding open jobs' escrow.
    Escrow,
    /// The stake-mint vault holding providers' stake.
    Stake,
}

/// Rule overrides, in base units and seconds.
#[derive(clap::Args)]
pub struct Rules {
    #[arg(long)]
    min_stake: Option<u64>,
    #[arg(long)]
    collateral: Option<u64>,
    #[arg(long)]
    fee_bps: Option<u16>,
    #[arg(long)]
    slash_bounty_bps: Option<u16>,
    #[arg(long)]
    max_replicas: Option<u8>,
    #[arg(long)]
    claim_timeout: Option<i64>,
    #[arg(long)]
    default_commit_window: Option<i64>,
    #[arg(long)]
    max_commit_window: Option<i64>,
    #[arg(long)]
    reveal_window: Option<i64>,
    #[arg(long)]
    unstake_cooldown: Option<i64>,
}

impl Rules {
    fn apply(&self, mut c: MarketConfig) -> MarketConfig {
        c.min_stake = self.min_stake.unwrap_or(c.min_stake);
        c.collateral_per_claim = self.collateral.unwrap_or(c.collateral_per_claim);
        c.fee_bps = self.fee_bps.unwrap_or(c.fee_bps);
        c.slash_bounty_bps = self.slash_bounty_bps.unwrap_or(c.slash_bounty_bps);
        c.max_replicas = self.max_replicas.unwrap_or(c.max_replicas);
        c.claim_timeout = self.claim_timeout.unwrap_or(c.claim_timeout);
        c.default_commit_window = self
            .default_commit_window
            .unwrap_or(c.default_commit_window);
        c.max_commit_window = self.max_commit_window.unwrap_or(c.max_commit_window);
        c.reveal_window = self.reveal_window.unwrap_or(c.reveal_window);
        c.unstake_cooldown = self.unstake_cooldown.unwrap_or(c.unstake_cooldown);
        c
    }

    fn any(&self) -> bool {
        [self.min_stake, self.collateral]
            .iter()
            .any(Option::is_some)
            || self.fee_bps.is_some()
            || self.slash_bounty_bps.is_some()
            || self.max_replicas.is_some()
            || [
                self.claim_timeout,
                self.default_commit_window,
                self.max_commit_window,
                self.reveal_window,
                self.unstake_cooldown,
            ]
            .iter()
            .any(Option::is_some)
    }
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    let chain = ctx.chain().await?;
    match cmd {
        Cmd::Init {
            payment_mint,
            stake_mint,
            id,
            treasury,
            rules,
        } => {
            let authority = ctx.settings.keypair()?;
            let payment_mint = parse_pubkey("payment mint", &payment_mint)?;
            let stake_mint = match stake_mint {
                Some(s) => parse_pubkey("stake mint", &s)?,
                None => payment_mint,
            };
            let pay_prog = mint_info(&chain, &payment_mint).await?.0;
            let stake_prog = mint_info(&chain, &stake_mint).await?.0;
            let treasury = match treasury {
                Some(t) => parse_pubkey("treasury", &t)?,
                None => authority.pubkey(),
            };
            let args = MarketInitArgs {
                market_id: id,
                treasury,
                config: rules.apply(default_config()),
            };
            let ixs = [
                ix::init_market(
                    &chain.program,
                    &authority.pubkey(),
                    &payment_mint,
                    &pay_prog,
                    &stake_mint,
                    &stake_prog,
                    args,
                ),
                ix::create_ata(&authority.pubkey(), &treasury, &payment_mint, &pay_prog),
                ix::create_ata(&authority.pubkey(), &treasury, &stake_mint, &stake_prog),
            ];
            let sig = chain.send(&ixs, &authority, &[]).await?;
            let market = pda::market(&chain.program, &authority.pubkey(), id);
            out::emit(
                ctx.format,
                &json!({"market": market.to_string(), "signature": sig.to_string()}),
                || format!("market {market} created ({sig})\n"),
            )
        }
        Cmd::Show { address } => {
            let address = match address {
                Some(a) => parse_pubkey("market", &a)?,
                None => ctx.market_address()?,
            };
            let m = chain.market(&address).await?;
            let d = mint_decimals(&chain, &m.state.payment_mint).await?;
            let sd = mint_decimals(&chain, &m.state.stake_mint).await?;
            let s = &m.state;
            let escrow = chain.token_balance(&s.escrow_vault).await?;
            let staked = chain.token_balance(&s.stake_vault).await?;
            let books = |l: Option<compute_market_client::Ledger>| l.map(|l| l.books);
            let escrow_books = books(chain.ledger(&m.escrow_ledger()).await?);
            let stake_books = books(chain.ledger(&m.stake_ledger()).await?);
            let value = json!({
                "address": address.to_string(), "authority": s.authority.to_string(),
                "payment_mint": s.payment_mint.to_string(), "stake_mint": s.stake_mint.to_string(),
                "escrow_vault": s.escrow_vault.to_string(), "stake_vault": s.stake_vault.to_string(),
                "treasury": s.treasury.to_string(), "paused": s.paused,
                "escrow_balance": escrow, "stake_balance": staked,
                "escrow_books": escrow_books, "stake_books": stake_books,
                "config": {
                    "min_stake": s.config.min_stake, "collateral_per_claim": s.config.collateral_per_claim,
                    "fee_bps": s.config.fee_bps, "slash_bounty_bps": s.config.slash_bounty_bps,
                    "max_replicas": s.config.max_replicas, "claim_timeout": s.config.claim_timeout,
                    "default_commit_window": s.config.default_commit_window,
                    "max_commit_window": s.config.max_commit_window, "reveal_window": s.config.reveal_window,
                    "unstake_cooldown": s.config.unstake_cooldown,
                }
            });
            out::emit(ctx.format, &value, || {
                let c = &s.config;
                let mut t = out::Table::new(&["field", "value"]);
                for (k, v) in [
                    ("market", address.to_string()),
                    ("authority", s.authority.to_string()),
                    ("payment mint", s.payment_mint.to_string()),
                    ("stake mint", s.stake_mint.to_string()),
                    ("treasury", s.treasury.to_string()),
                    ("paused", s.paused.to_string()),
                    ("escrowed", format_amount(escrow, d)),
                    ("staked", format_amount(staked, sd)),
                    ("min stake", format_amount(c.min_stake, sd)),
                    (
                        "collateral per claim",
                        format_amount(c.collateral_per_claim, sd),
                    ),
                    ("fee", format!("{} bps", c.fee_bps)),
                    ("slash bounty", format!("{} bps", c.slash_bounty_bps)),
                    ("max replicas", c.max_replicas.to_string()),
                    ("claim timeout", format!("{} s", c.claim_timeout)),
                    (
                        "commit window",
                        format!(
                            "{} s (max {} s)",
                            c.default_commit_window, c.max_commit_window
                        ),
                    ),
                    ("reveal window", format!("{} s", c.reveal_window)),
                    ("unstake cooldown", format!("{} s", c.unstake_cooldown)),
                ] {
                    t.row(vec![k.into(), v]);
                }
                t.render()
            })
        }
        Cmd::Sweep { vault } => {
            let authority = ctx.settings.keypair()?;
            let m = ctx.market(&chain).await?;
            let s = &m.state;
            let stake = matches!(vault, Vault::Stake);
            let (address, ledger, mint, program) = if stake {
                (
                    s.stake_vault,
                    m.stake_ledger(),
                    s.stake_mint,
                    s.stake_token_program,
                )
            } else {
                (
                    s.escrow_vault,
                    m.escrow_ledger(),
                    s.payment_mint,
                    s.payment_token_program,
                )
            };
            let balance = chain.token_balance(&address).await?;
            let read_ledger = || async {
                chain
                    .ledger(&ledger)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("the market has no ledger for vault {address}"))
            };
            let before = read_ledger().await?;
            let books = before.books;
            match balance.checked_sub(books) {
                None => anyhow::bail!(
                    "vault {address} holds {balance}, less than its books of {books}: an invariant is broken, run `cmkt audit`"
                ),
                Some(0) => anyhow::bail!(
                    "vault {address} holds {balance}, its books: there is no surplus to sweep"
                ),
                Some(_) => {}
            }
            let ixs = [
                ix::create_ata(&authority.pubkey(), &s.treasury, &mint, &program),
                ix::sweep_surplus(&authority.pubkey(), &m, stake),
            ];
            let sig = chain.send(&ixs, &authority, &[]).await?;
            // what moved, from the ledger: tokens sent to the vault meanwhile were swept too
            let amount = read_ledger().await?.swept.saturating_sub(before.swept);
            let d = mint_decimals(&chain, &mint).await?;
            out::emit(
                ctx.format,
                &json!({"vault": address.to_string(), "swept": amount, "books": books,
                        "signature": sig.to_string()}),
                || {
                    format!(
                        "swept {} from vault {address} to the treasury {}; its books of {} stay ({sig})\n",
                        format_amount(amount, d),
                        s.treasury,
                        format_amount(books, d)
                    )
                },
            )
        }
        Cmd::Update {
            rules,
            pause,
            resume,
            treasury,
        } => {
            let authority = ctx.settings.keypair()?;
            let m = ctx.market(&chain).await?;
            let args = MarketUpdateArgs {
                config: rules.any().then(|| rules.apply(m.state.config)),
                paused: if pause {
                    Some(true)
                } else if resume {
                    Some(false)
                } else {
                    None
                },
                treasury: treasury.map(|t| parse_pubkey("treasury", &t)).transpose()?,
            };
            let sig = chain
                .send(
                    &[ix::update_market(&authority.pubkey(), &m, args)],
                    &authority,
                    &[],
                )
                .await?;
            out::emit(ctx.format, &json!({"signature": sig.to_string()}), || {
                format!("market {} updated ({sig})\n", m.address)
            })
        }
    }
}
