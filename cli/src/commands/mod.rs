//! One module per command group.

mod airdrop;
mod audit;
mod bench;
mod blob;
mod demo;
mod feed;
mod fleet;
mod job;
mod job_deliver;
mod job_extend;
mod job_post;
mod job_view;
mod localnet;
mod market;
mod program;
mod provider;
mod turns;
mod why;

use crate::{settings, Cli, Ctx};
use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use compute_market_client::{
    config::localnet_info_file,
    rpc::{Chain, ChainError},
    ClientError, MarketRef, Pubkey,
};
use compute_market_localnet::bootstrap::LocalnetInfo;

#[derive(Subcommand)]
pub enum Command {
    /// Run the embedded local chain (validator + blob store) until Ctrl-C.
    Localnet(localnet::Args),
    /// Create, show or change a market.
    #[command(subcommand)]
    Market(market::Cmd),
    /// Register, stake, unstake and inspect providers.
    #[command(subcommand)]
    Provider(provider::Cmd),
    /// Post, follow, fetch and cancel jobs.
    #[command(subcommand)]
    Job(job::Cmd),
    /// Feeds of the sample consumer program: values the market verified, written by
    /// `deliver_result`.
    #[command(subcommand)]
    Feed(feed::Cmd),
    /// Store and fetch content-addressed blobs.
    #[command(subcommand)]
    Blob(blob::Cmd),
    /// Deploy, upgrade or inspect the program on a cluster (upgradeable BPF loader).
    #[command(subcommand)]
    Program(program::Cmd),
    /// SOL from the cluster's faucet (JSON-RPC requestAirdrop, as `solana airdrop`), and on
    /// `cmkt localnet` the market's tokens.
    Airdrop(airdrop::Args),
    /// Check a market's books: settlements, totals, vault invariants.
    Audit(audit::Args),
    /// The whole market on this machine: local chain, three workers (one cheats), the sample
    /// jobs, live progress, settlements, audit and verified outputs.
    Demo(demo::Args),
    /// Measure pickup, latency, throughput, rent, sandbox speed, worker memory and audit time on
    /// the embedded chain; `--write BENCHMARKS.md` records the figures.
    Bench(bench::Args),
    /// Run the provider worker (`compute-worker`'s command line); `cmkt demo` uses it.
    #[command(hide = true, disable_help_flag = true)]
    Worker {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

pub fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx::new(&cli);
    match cli.command {
        // The validator must start outside any tokio runtime.
        Command::Localnet(args) => return localnet::run(&ctx, args),
        Command::Demo(args) => return demo::run(args),
        Command::Bench(args) => return bench::run(args),
        Command::Worker { args } => {
            let argv = std::iter::once("compute-worker".to_string()).chain(args);
            std::process::exit(compute_worker::cli::main_with_args(argv));
        }
        _ => {}
    }
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        match cli.command {
            Command::Localnet(_)
            | Command::Demo(_)
            | Command::Bench(_)
            | Command::Worker { .. } => {
                unreachable!("handled above")
            }
            Command::Market(c) => market::run(&ctx, c).await,
            Command::Provider(c) => provider::run(&ctx, c).await,
            Command::Job(c) => job::run(&ctx, c).await,
            Command::Blob(c) => blob::run(&ctx, c).await,
            Command::Feed(c) => feed::run(&ctx, c).await,
            Command::Program(c) => program::run(&ctx, c).await,
            Command::Audit(a) => audit::run(&ctx, a).await,
            Command::Airdrop(a) => airdrop::run(&ctx, a).await,
        }
    })
}

impl Ctx {
    /// The program's address: `--program-id`, else the local chain's, else the built-in id.
    pub fn program_id(&self) -> Result<Pubkey> {
        match (&self.program_id, self.localnet_info()) {
            (Some(p), _) => settings::parse_pubkey("program id", p),
            (None, Some(info)) => settings::parse_pubkey("program id", &info.program_id),
            (None, None) => Ok(compute_market_client::PROGRAM_ID),
        }
    }

    /// The chain at the configured URL, for the configured program; fails fast with a clear
    /// message when it does not answer.
    pub async fn chain(&self) -> Result<Chain> {
        let chain = Chain::new(&self.settings.url).with_program(self.program_id()?);
        chain
            .rpc
            .get_version()
            .await
            .map_err(|e| anyhow!("RPC endpoint {} is not reachable: {e}", self.settings.url))?;
        Ok(chain)
    }

    /// `localnet.json` of `cmkt localnet` (`localnet-<port>.json` off the default port), if it
    /// describes the chain we talk to.
    pub fn localnet_info(&self) -> Option<LocalnetInfo> {
        let path = localnet_info_file(&self.localnet_dir, &self.settings.url);
        let text = std::fs::read_to_string(path).ok()?;
        let info: LocalnetInfo = serde_json::from_str(&text).ok()?;
        (info.rpc_url == self.settings.url).then_some(info)
    }

    /// The market address: `--market`, else the local chain's.
    pub fn market_address(&self) -> Result<Pubkey> {
        if let Some(m) = &self.market {
            return settings::parse_pubkey("market", m);
        }
        match self.localnet_info() {
            Some(info) => settings::parse_pubkey("market", &info.market),
            None => bail!(
                "no market given: pass --market ADDRESS (or run `cmkt localnet` for a local one)"
            ),
        }
    }

    /// The market account.
    pub async fn market(&self, chain: &Chain) -> Result<MarketRef> {
        let address = self.market_address()?;
        chain
            .market(&address)
            .await
            .with_context(|| format!("reading market {address}"))
    }

    /// The blob store base URL.
    pub fn blob_base(&self) -> Result<String> {
        if let Some(u) = &self.blob_url {
            return Ok(u.trim_end_matches('/').to_string());
        }
        self.localnet_info()
            .and_then(|i| i.blob_url)
            .ok_or_else(|| anyhow!("no blob store: pass --blob-url URL (or run `cmkt localnet`)"))
    }
}

/// The token program owning `mint` and its decimals, or a clear error when it is not a mint.
pub async fn mint_info(chain: &Chain, mint: &Pubkey) -> Result<(Pubkey, u8)> {
    chain.mint_info(mint).await.map_err(|e| match e {
        ChainError::Missing(m) => anyhow!("mint {m} does not exist"),
        ChainError::Decode(ClientError::Decode(m, _, why)) => {
            anyhow!("mint {m} {why}")
        }
        other => other.into(),
    })
}

/// Decimals of a mint.
pub async fn mint_decimals(chain: &Chain, mint: &Pubkey) -> Result<u8> {
    Ok(mint_info(chain, mint).await?.1)
}
