//! The `compute-worker` command line (also run by `cmkt demo` as its worker processes).

use crate::{
    config::{self, Config, Resolved},
    daemon::{self, Fault, Worker},
    journal::Journal,
};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use compute_market_client::{ata, config as shared, ix, rpc::Chain, ProviderUpdateArgs};
use solana_sdk::signer::Signer;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "compute-worker",
    version,
    about = "Provider daemon of the compute market: finds jobs, runs them in a wasm sandbox, commits and reveals results"
)]
struct Cli {
    /// Worker config file (TOML); default ~/.config/compute-worker/worker.toml when it exists.
    #[arg(long, short = 'c', global = true, env = "COMPUTE_WORKER_CONFIG")]
    config: Option<PathBuf>,
    /// JSON-RPC URL or moniker; overrides the config.
    #[arg(long, short = 'u', global = true)]
    url: Option<String>,
    /// Provider keypair file; overrides the config.
    #[arg(long, short = 'k', global = true)]
    keypair: Option<PathBuf>,
    /// Market address; overrides the config.
    #[arg(long, short = 'm', global = true)]
    market: Option<String>,
    /// Data directory (journal, cache, results); overrides the config.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Solana CLI config to take defaults from.
    #[arg(long, global = true, env = "COMPUTE_WORKER_SOLANA_CONFIG")]
    solana_config: Option<PathBuf>,
    /// Directory of `cmkt localnet`'s localnet.json (for the default market).
    #[arg(long, global = true, env = "CMKT_LOCALNET_DIR")]
    localnet_dir: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Write a commented config template (default ~/.config/compute-worker/worker.toml).
    Init {
        /// Where to write it (default: --config or ~/.config/compute-worker/worker.toml).
        #[arg(long)]
        path: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Register the keypair as a provider at the configured endpoint (or update the endpoint).
    Register,
    /// Stake AMOUNT tokens (whole tokens, e.g. 1500 or 0.5) from the keypair's token account.
    Stake { amount: String },
    /// Show the provider account, the journal and whether the worker answers.
    Status,
    /// Run the daemon until SIGINT/SIGTERM.
    Run {
        /// Address to serve results, /metrics and /healthz on; overrides the config.
        #[arg(long)]
        listen: Option<String>,
        /// Public endpoint URL; overrides the config.
        #[arg(long)]
        endpoint: Option<String>,
        /// Jobs run at once; overrides the config.
        #[arg(long)]
        max_concurrent: Option<usize>,
        /// Test-only misbehaviour (`lie`), to show that the market catches it.
        #[arg(long, hide = true, env = "COMPUTE_WORKER_FAULT")]
        fault: Option<Fault>,
    },
}

fn default_config_path() -> PathBuf {
    shared::home().join(".config/compute-worker/worker.toml")
}

impl Cli {
    fn config_file(&self) -> Option<PathBuf> {
        self.config.clone().or_else(|| {
            let p = default_config_path();
            p.exists().then_some(p)
        })
    }

    fn settings(&self, extra: &[(&str, toml::Value)]) -> Result<Resolved> {
        let text = |s: String| toml::Value::String(s);
        let mut overrides: Vec<(&str, toml::Value)> = Vec::new();
        if let Some(u) = &self.url {
            overrides.push(("rpc_url", text(u.clone())));
        }
        if let Some(k) = &self.keypair {
            overrides.push(("keypair", text(k.display().to_string())));
        }
        if let Some(m) = &self.market {
            overrides.push(("market", text(m.clone())));
        }
        if let Some(d) = &self.data_dir {
            overrides.push(("data_dir", text(d.display().to_string())));
        }
        overrides.extend(extra.iter().cloned());
        let config = Config::load(self.config_file().as_deref(), std::env::vars(), &overrides)?;
        Resolved::new(
            config,
            &self
                .solana_config
                .clone()
                .unwrap_or_else(shared::default_solana_config),
            &self
                .localnet_dir
                .clone()
                .unwrap_or_else(shared::default_localnet_dir),
        )
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,compute_worker=info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

/// Runs the command line on `args` (the first is the program name); returns the exit code.
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    init_logs(cli.log_format);
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = rt.block_on(dispatch(cli));
    // a sandbox run still going after the grace period must not hold the exit
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e:#}");
            1
        }
    }
}

async fn dispatch(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Init { path, force } => init(&cli, path.clone(), *force),
        Command::Register => register(&cli).await,
        Command::Stake { amount } => stake(&cli, amount).await,
        Command::Status => status(&cli).await,
        Command::Run {
            listen,
            endpoint,
            max_concurrent,
            fault,
        } => {
            let mut extra = Vec::new();
            if let Some(l) = listen {
                extra.push(("server.listen", toml::Value::String(l.clone())));
            }
            if let Some(e) = endpoint {
                extra.push(("server.endpoint", toml::Value::String(e.clone())));
            }
            if let Some(n) = max_concurrent {
                extra.push(("policy.max_concurrent", toml::Value::Integer(*n as i64)));
            }
            let s = cli.settings(&extra)?;
            let me = shared::load_keypair(&s.keypair)?;
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("signal received");
                let _ = tx.send(true);
                // a second signal exits at once
                wait_for_signal().await;
                std::process::exit(130);
            });
            let worker = Worker::new(s, me, *fault, rx.clone()).await?;
            daemon::run(worker, rx).await
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn init(cli: &Cli, path: Option<PathBuf>, force: bool) -> Result<()> {
    let path = path
        .or_else(|| cli.config.clone())
        .unwrap_or_else(default_config_path);
    if path.exists() && !force {
        bail!("{} exists; pass --force to overwrite it", path.display());
    }
    let url = cli.url.clone().unwrap_or_default();
    let keypair = cli
        .keypair
        .as_ref()
        .map(|k| k.display().to_string())
        .unwrap_or_default();
    let market = cli.market.clone().unwrap_or_default();
    let data_dir = cli
        .data_dir
        .as_ref()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, config::template(&url, &keypair, &market, &data_dir))
        .with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    println!("next: compute-worker register, compute-worker stake AMOUNT, compute-worker run");
    Ok(())
}

async fn connect(cli: &Cli) -> Result<(Resolved, Chain, compute_market_client::MarketRef)> {
    let s = cli.settings(&[])?;
    let chain = Chain::new(&s.rpc_url).with_program(s.program);
    let market = chain
        .market(&s.market)
        .await
        .with_context(|| format!("loading market {}", s.market))?;
    Ok((s, chain, market))
}

async fn register(cli: &Cli) -> Result<()> {
    let (s, chain, market) = connect(cli).await?;
    let me = shared::load_keypair(&s.keypair)?;
    let ixs = match chain.provider(&market.address, &me.pubkey()).await? {
        None => vec![ix::register_provider(
            &me.pubkey(),
            &market,
            &s.endpoint,
            crate::CAPABILITIES,
        )],
        Some(p) if p.endpoint != s.endpoint => vec![ix::update_provider(
            &me.pubkey(),
            &market,
            ProviderUpdateArgs {
                endpoint: Some(s.endpoint.clone()),
                capabilities: None,
            },
        )],
        Some(_) => {
            println!("{} is registered at {}", me.pubkey(), s.endpoint);
            return Ok(());
        }
    };
    let sig = chain.send(&ixs, &me, &[]).await?;
    println!("{} registered at {} ({sig})", me.pubkey(), s.endpoint);
    Ok(())
}

async fn stake(cli: &Cli, amount: &str) -> Result<()> {
    let (s, chain, market) = connect(cli).await?;
    let me = shared::load_keypair(&s.keypair)?;
    let m = &market.state;
    let (_, decimals) = chain.mint_info(&m.stake_mint).await?;
    let units = shared::parse_amount(amount, decimals)?;
    if chain
        .provider(&market.address, &me.pubkey())
        .await?
        .is_none()
    {
        bail!("not registered: run `compute-worker register` first");
    }
    let from = ata(&me.pubkey(), &m.stake_mint, &m.stake_token_program);
    let balance = chain.token_balance(&from).await?;
    if balance < units {
        bail!(
            "the stake-mint account {from} holds {}, less than {amount}",
            shared::format_amount(balance, decimals)
        );
    }
    let sig = chain
        .send(&[ix::stake(&me.pubkey(), &market, &from, units)], &me, &[])
        .await?;
    let p = chain
        .provider(&market.address, &me.pubkey())
        .await?
        .ok_or_else(|| anyhow!("provider account vanished"))?;
    println!(
        "staked {amount}; stake {} ({sig})",
        shared::format_amount(p.stake, decimals)
    );
    Ok(())
}

async fn status(cli: &Cli) -> Result<()> {
    let (s, chain, market) = connect(cli).await?;
    let me = shared::load_keypair(&s.keypair)?.pubkey();
    let m = &market.state;
    let (_, sd) = chain.mint_info(&m.stake_mint).await?;
    let (_, pd) = chain.mint_info(&m.payment_mint).await?;
    let f = shared::format_amount;
    println!("provider   {me}");
    println!("market     {}", market.address);
    println!("rpc        {}", s.rpc_url);
    match chain.provider(&market.address, &me).await? {
        None => println!("registered no (run `compute-worker register`)"),
        Some(p) => {
            println!("endpoint   {}", p.endpoint);
            println!(
                "stake      {} (locked {}, min {}), pending unstake {}",
                f(p.stake, sd),
                f(p.locked, sd),
                f(m.config.min_stake, sd),
                f(p.pending_unstake, sd)
            );
            println!(
                "jobs       {} active claims, {} completed, {} failed",
                p.active_claims, p.jobs_completed, p.jobs_failed
            );
            println!(
                "earned     {}; slashed {}",
                f(p.total_earned, pd),
                f(p.total_slashed, sd)
            );
        }
    }
    let journal = Journal::open(&s.data_dir.join("journal"))?;
    let pending = journal.pending();
    println!("journal    {} unfinished", pending.len());
    for e in pending {
        println!("  {} {:?}", e.job, e.stage);
    }
    let health = reqwest::Client::new()
        .get(format!("http://{}/healthz", s.config.server.listen))
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await;
    match health {
        Ok(r) => println!(
            "daemon     {} {}",
            r.status(),
            r.text().await.unwrap_or_default().trim()
        ),
        Err(_) => println!("daemon     not answering on {}", s.config.server.listen),
    }
    Ok(())
}
