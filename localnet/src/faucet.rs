//! The local chain's faucet, as `solana-test-validator` runs one: Solana's own faucet service
//! (`solana_faucet`) on a TCP port of 127.0.0.1, funded from genesis with [`FAUCET_LAMPORTS`]
//! and signing with a keypair kept in the ledger. The validator's JSON-RPC `requestAirdrop`
//! forwards to it, so `solana airdrop`, web3.js's `requestAirdrop` and `cmkt airdrop` all work
//! unchanged. One request may ask for at most [`AIRDROP_CAP_LAMPORTS`].

use anyhow::{anyhow, Context, Result};
use solana_faucet::faucet::{run_faucet, Faucet};
use solana_sdk::signature::Keypair;
use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::Duration,
};

/// What genesis gives the faucet: 1 000 000 SOL.
pub const FAUCET_LAMPORTS: u64 = 1_000_000 * 1_000_000_000;
/// The most one airdrop request may ask for: 1 000 SOL.
pub const AIRDROP_CAP_LAMPORTS: u64 = 1_000 * 1_000_000_000;
/// File in the ledger that keeps the faucet's keypair across restarts.
pub const FAUCET_KEYPAIR_FILE: &str = "faucet-keypair.json";

/// A running faucet; dropping it closes its port.
pub struct FaucetService {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaucetService {
    /// Starts the faucet on `127.0.0.1:port` (0 picks a free port) and returns once it listens.
    pub fn start(keypair: Keypair, port: u16) -> Result<FaucetService> {
        let (sender, bound) = crossbeam_channel::bounded(1);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let faucet = Arc::new(Mutex::new(Faucet::new(
            keypair,
            None,
            None,
            Some(AIRDROP_CAP_LAMPORTS),
        )));
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let thread = std::thread::Builder::new()
            .name("cmkt-faucet".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = sender.send(Err(format!("starting the faucet's runtime: {e}")));
                        return;
                    }
                };
                rt.block_on(async move {
                    tokio::select! {
                        _ = run_faucet(faucet, addr, Some(sender)) => {}
                        _ = stopped => {}
                    }
                });
            })
            .context("spawning the faucet")?;
        let addr = bound
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| anyhow!("the faucet did not start"))?
            .map_err(|e| anyhow!("faucet port {port}: {e} (pass another --faucet-port, or 0)"))?;
        Ok(FaucetService {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for FaucetService {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
