//! `cmkt localnet`: the validator, the blob store and an idempotently bootstrapped market.

use crate::Ctx;
use anyhow::{Context, Result};
use compute_market_client::{config::localnet_file, rpc::Chain};
use compute_market_localnet::{
    bootstrap::{self, LocalnetInfo, DEMO_WALLETS},
    Localnet, LocalnetConfig, DEFAULT_RPC_PORT,
};
use std::path::PathBuf;
use std::time::Instant;

/// Default port of the blob store (outside the validator's dynamic port range 8000-10000).
pub const DEFAULT_BLOB_PORT: u16 = 7878;

#[derive(clap::Args)]
pub struct Args {
    /// Keep the ledger in DIR across restarts (default: a temporary directory).
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// Delete the ledger in --ledger before starting.
    #[arg(long, requires = "ledger")]
    reset: bool,
    /// JSON-RPC port; websockets listen on the next one; 0 picks free ones.
    #[arg(long, default_value_t = DEFAULT_RPC_PORT)]
    rpc_port: u16,
    /// Blob store port; 0 picks a free one.
    #[arg(long, default_value_t = DEFAULT_BLOB_PORT)]
    blob_port: u16,
    /// Faucet port (JSON-RPC requestAirdrop forwards to it); default: a free one.
    #[arg(long, default_value_t = 0)]
    faucet_port: u16,
    /// Gossip port; default: a free one in the dynamic port range.
    #[arg(long, default_value_t = 0)]
    gossip_port: u16,
    /// Range for the validator's other ports (TPU, TVU, repair, ...): LOW-HIGH.
    #[arg(long, value_parser = parse_range, default_value = "1024-65535")]
    dynamic_port_range: (u16, u16),
    /// Lower the chain's CPU priority to this nice value (0-19) so that builds and tests beside
    /// it keep the CPU: an idle chain otherwise takes about 1.6 cores, as solana-test-validator
    /// does. On a saturated machine its transactions may then wait seconds.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i32).range(0..=19))]
    nice: i32,
    /// Exit after start-up instead of running until Ctrl-C (for scripts and tests).
    #[arg(long, hide = true)]
    exit_after_start: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let t0 = Instant::now();
    let net = Localnet::start(&LocalnetConfig {
        ledger: args.ledger.clone(),
        reset: args.reset,
        rpc_port: args.rpc_port,
        gossip_port: args.gossip_port,
        faucet_port: args.faucet_port,
        dynamic_port_range: args.dynamic_port_range,
        slots_per_epoch: None,
        quiet: true,
        nice: args.nice,
    })?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let keys = ctx.localnet_dir.clone();
    let admin = net.mint_keypair.insecure_clone();
    let (info, info_path) = rt.block_on(async {
        let blobs = net.ledger.join("blobs");
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.blob_port))
            .await
            .with_context(|| {
                format!(
                    "blob store port {} is taken (pass --blob-port)",
                    args.blob_port
                )
            })?;
        let blob_addr = listener.local_addr()?;
        let blob_url = format!("http://{blob_addr}");
        tokio::spawn(async move {
            if let Err(e) = compute_market_localnet::blobs::serve(listener, blobs).await {
                eprintln!("blob store stopped: {e}");
            }
        });
        let chain = Chain::new(&net.rpc_url());
        let (market, mint) = bootstrap::bootstrap(&chain, &admin, &keys).await?;
        // the authority is the ledger's genesis key: rewrite it, a fresh ledger has a new one;
        // a chain on another RPC port has its own file, so two chains can share `keys`
        let authority = localnet_file(&keys, "authority", net.ports.rpc);
        solana_sdk::signature::write_keypair_file(&admin, &authority)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", authority.display()))?;
        let info = LocalnetInfo {
            rpc_url: net.rpc_url(),
            ws_url: net.ws_url(),
            blob_url: Some(blob_url),
            program_id: compute_market_localnet::PROGRAM_ID.to_string(),
            market: market.address.to_string(),
            mint: mint.to_string(),
            authority_keypair: authority,
            wallets: DEMO_WALLETS
                .iter()
                .map(|w| (w.to_string(), keys.join(format!("{w}.json"))))
                .collect(),
            ports: compute_market_localnet::Ports {
                blob_store: Some(blob_addr.port()),
                ..net.ports.clone()
            },
        };
        let path = localnet_file(&keys, "localnet", net.ports.rpc);
        std::fs::write(&path, serde_json::to_string_pretty(&info)?)
            .with_context(|| format!("writing {}", path.display()))?;
        anyhow::Ok((info, path))
    })?;

    println!("local chain ready in {:.1} s", t0.elapsed().as_secs_f64());
    println!("  RPC         {}", info.rpc_url);
    println!("  websocket   {}", info.ws_url);
    println!("  blob store  {}", info.blob_url.as_deref().unwrap_or("-"));
    println!(
        "  faucet      requestAirdrop over RPC, up to {} SOL a request (`cmkt airdrop`)",
        compute_market_localnet::faucet::AIRDROP_CAP_LAMPORTS / 1_000_000_000
    );
    println!("  program     {}", info.program_id);
    println!("  market      {}", info.market);
    println!(
        "  token mint  {} (6 decimals; payment and stake)",
        info.mint
    );
    println!("  ledger      {}", net.ledger.display());
    println!(
        "  keypairs    {} (authority, {})",
        keys.display(),
        DEMO_WALLETS.join(", ")
    );
    println!("  info        {}", info_path.display());
    let ports: Vec<String> = info
        .ports
        .lines()
        .into_iter()
        .map(|(name, port)| format!("{name} {port}"))
        .collect();
    println!("  ports       {}", ports.join(", "));
    if let Some(lowered) = net.lowered {
        println!("  priority    nice {} for {lowered}", args.nice);
    }
    if args.exit_after_start {
        return Ok(());
    }
    println!("Ctrl-C stops it.");
    // Ctrl-C or SIGTERM: both stop the chain cleanly (and save its state)
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    })
    .context("waiting for Ctrl-C")?;
    println!("stopping");
    drop(rt);
    drop(net);
    Ok(())
}

/// `LOW-HIGH`, as `solana-test-validator --dynamic-port-range` takes it.
fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let (low, high) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?} is not LOW-HIGH"))?;
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .map_err(|_| format!("{p:?} is not a port"))
    };
    let (low, high) = (port(low)?, port(high)?);
    if low == 0 || low >= high {
        return Err(format!("{s:?}: LOW must be a port below HIGH"));
    }
    Ok((low, high))
}
