//! The embedded local chain: `solana-test-validator` running in this process, serving real
//! JSON-RPC and websockets on 127.0.0.1, with the compute-market program deployed from its sBPF
//! binary (`compute_market_harness::PROGRAM_SO`) under the upgradeable BPF loader, beside the
//! sample consumer of its verified results (`verified-value`, `CONSUMER_SO`).
//!
//! Genesis holds the program account, its ProgramData (the ELF, verified by the validator at
//! start) and an upgrade authority: the chain's genesis mint keypair, which `cmkt localnet` writes
//! as `authority.json`, so `cmkt program deploy` can upgrade it. The runtime runs with mainnet's
//! feature set ([`mainnet_inactive_features`] are turned off): the `.so` is linked for mainnet's
//! stack layout, and compute units and logs are what a mainnet transaction would show.
//!
//! Like `solana-test-validator` it runs a faucet behind `requestAirdrop` ([`faucet`]), deploys
//! SPL Token, Token-2022, Associated Token and Memo, and binds only ports it was given or found
//! free ([`ports`]), so two chains share a machine.
#![allow(deprecated)]

use anyhow::{anyhow, bail, Context, Result};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::rpc_client::RpcClient;
use solana_runtime::bank_forks::BankForks;
use solana_sdk::{
    instruction::{Instruction, InstructionError},
    pubkey::Pubkey,
    signature::{read_keypair_file, write_keypair_file, Keypair},
    signer::Signer,
    transaction::{Transaction, TransactionError},
};
use solana_test_validator::{TestValidator, TestValidatorGenesis, UpgradeableProgramInfo};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, RwLock,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

pub mod blobs;
pub mod bootstrap;
pub mod faucet;
pub mod ports;
pub mod priority;
pub mod state;

pub use ports::Ports;

pub use compute_market_harness::PROGRAM_ID;

/// Default JSON-RPC port, as with `solana-test-validator`; websockets listen on the next port.
pub const DEFAULT_RPC_PORT: u16 = compute_market_client::config::LOCALNET_RPC_PORT;

/// How to start the chain.
#[derive(Clone, Debug)]
pub struct LocalnetConfig {
    /// Keep the chain's accounts here across restarts (see [`state`]); `None` uses a fresh
    /// temporary directory.
    pub ledger: Option<PathBuf>,
    /// Delete an existing `ledger` directory before starting.
    pub reset: bool,
    /// JSON-RPC port (websockets on `rpc_port + 1`); 0 picks free ports.
    pub rpc_port: u16,
    /// Gossip port; 0 picks a free one in `dynamic_port_range`.
    pub gossip_port: u16,
    /// Faucet port (what `requestAirdrop` forwards to); 0 picks a free one.
    pub faucet_port: u16,
    /// Where the validator's other sockets (TPU, TVU, repair, ...) are bound.
    pub dynamic_port_range: (u16, u16),
    /// Slots per epoch (small values exercise epoch boundaries in tests).
    pub slots_per_epoch: Option<u64>,
    /// Send the validator's start-up progress lines (`Waiting for first slot 1...`) to
    /// /dev/null. Redirects the whole process's stdout while the validator starts: only for a
    /// program that owns its terminal, such as `cmkt`.
    pub quiet: bool,
    /// Lower the whole chain's CPU priority to this nice value (0 leaves it), so that builds
    /// and tests beside an idle chain keep the CPU (see [`priority`]).
    pub nice: i32,
}

impl Default for LocalnetConfig {
    fn default() -> Self {
        LocalnetConfig {
            ledger: None,
            reset: false,
            rpc_port: DEFAULT_RPC_PORT,
            gossip_port: 0,
            faucet_port: 0,
            dynamic_port_range: ports::DEFAULT_DYNAMIC_PORT_RANGE,
            slots_per_epoch: None,
            quiet: false,
            nice: 0,
        }
    }
}

/// A running local chain. Dropping it stops the validator.
pub struct Localnet {
    validator: Option<TestValidator>,
    saver: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// Holds 500 000 000 SOL from genesis; funds everything the tools create, and is the
    /// program's upgrade authority.
    pub mint_keypair: Keypair,
    /// The ledger directory (temporary unless configured).
    pub ledger: PathBuf,
    /// Every port the chain listens on.
    pub ports: Ports,
    faucet: Option<faucet::FaucetService>,
    /// What `LocalnetConfig::nice` lowered, if it was set.
    pub lowered: Option<priority::Lowered>,
    _tmp: Option<TempLedger>,
}

/// A temporary ledger directory removed on drop.
struct TempLedger(PathBuf);

impl Drop for TempLedger {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// File in the ledger that keeps the genesis mint keypair across restarts.
const MINT_KEYPAIR_FILE: &str = "cmkt-mint-keypair.json";
/// File in the ledger that the program's ELF is deployed from at every start.
const PROGRAM_FILE: &str = "compute_market.so";
const CONSUMER_FILE: &str = "verified_value.so";
/// File in the ledger that keeps the accounts across restarts.
pub const STATE_FILE: &str = "state.json";
/// How often the state is saved while the chain runs.
const SAVE_INTERVAL: Duration = Duration::from_secs(2);

impl Localnet {
    /// Starts the validator and waits until the program is callable over JSON-RPC.
    ///
    /// Must not be called from inside a tokio runtime (the validator starts its own).
    pub fn start(config: &LocalnetConfig) -> Result<Localnet> {
        let (ledger, tmp) = match &config.ledger {
            Some(dir) => {
                if config.reset && dir.exists() {
                    // only a directory this crate made, or an empty one, may be wiped
                    let ours =
                        dir.join(MINT_KEYPAIR_FILE).exists() || dir.join(STATE_FILE).exists();
                    let empty = std::fs::read_dir(dir)
                        .map(|mut d| d.next().is_none())
                        .unwrap_or(false);
                    if !ours && !empty {
                        bail!(
                            "refusing to reset {}: it is not a local-chain ledger (no {MINT_KEYPAIR_FILE} or {STATE_FILE})",
                            dir.display()
                        );
                    }
                    std::fs::remove_dir_all(dir)
                        .with_context(|| format!("resetting ledger {}", dir.display()))?;
                }
                (dir.clone(), None)
            }
            None => {
                let dir = std::env::temp_dir().join(format!(
                    "cmkt-ledger-{}-{:x}",
                    std::process::id(),
                    rand_u64()
                ));
                (dir.clone(), Some(TempLedger(dir)))
            }
        };
        std::fs::create_dir_all(&ledger)
            .with_context(|| format!("creating ledger directory {}", ledger.display()))?;
        let mint_keypair = load_or_create_keypair(&ledger.join(MINT_KEYPAIR_FILE))?;
        let faucet_keypair = load_or_create_keypair(&ledger.join(faucet::FAUCET_KEYPAIR_FILE))?;
        let state_file = ledger.join(STATE_FILE);
        let saved = state::State::load(&state_file)?;
        // The blockstore is rebuilt at every start; the saved state carries the accounts over.
        let blockstore = ledger.join("validator");
        if blockstore.exists() {
            std::fs::remove_dir_all(&blockstore)
                .with_context(|| format!("clearing {}", blockstore.display()))?;
        }

        let mut genesis = TestValidatorGenesis::default();
        genesis.ledger_path(&blockstore);
        // as `solana-test-validator` does: getSignaturesForAddress and getTransaction answer
        // (for the blocks since this start; history is not kept across restarts), with the
        // transactions' log messages and inner instructions
        genesis.rpc_config(solana_rpc::rpc::JsonRpcConfig {
            enable_rpc_transaction_history: true,
            enable_extended_tx_metadata_storage: true,
            ..solana_rpc::rpc::JsonRpcConfig::default_for_test()
        });
        // the faucet's funds; a saved state (below) carries its balance over instead
        genesis.add_account(
            faucet_keypair.pubkey(),
            solana_sdk::account::AccountSharedData::new(
                faucet::FAUCET_LAMPORTS,
                0,
                &solana_sdk_ids::system_program::ID,
            ),
        );
        if let Some(saved) = &saved {
            for (address, account) in saved.accounts()? {
                if address != mint_keypair.pubkey() {
                    genesis.add_account(address, account);
                }
            }
        }
        let rpc_port = match config.rpc_port {
            0 => ports::free_port_pair().context("picking free RPC ports")?,
            p => {
                for (port, what) in [(Some(p), "RPC"), (p.checked_add(1), "websocket")] {
                    match port {
                        Some(port) if ports::is_free(port, false) => {}
                        Some(port) => bail!(
                            "{what} port {port} is taken (another local chain?): pass another --rpc-port, or 0 for free ports"
                        ),
                        None => bail!("--rpc-port {p} leaves no port for websockets"),
                    }
                }
                p
            }
        };
        genesis.rpc_port(rpc_port);
        let (low, high) = config.dynamic_port_range;
        if high.saturating_sub(low) < solana_net_utils::MINIMUM_VALIDATOR_PORT_RANGE_WIDTH {
            bail!(
                "the dynamic port range {low}-{high} is narrower than the validator's {} ports",
                solana_net_utils::MINIMUM_VALIDATOR_PORT_RANGE_WIDTH
            );
        }
        genesis.port_range(config.dynamic_port_range);
        if config.gossip_port != 0 && !ports::is_free(config.gossip_port, true) {
            bail!(
                "gossip port {} is taken (another local chain?): pass another --gossip-port, or 0 for a free one",
                config.gossip_port
            );
        }
        genesis.gossip_port(config.gossip_port);
        let faucet = faucet::FaucetService::start(faucet_keypair, config.faucet_port)?;
        genesis.faucet_addr(Some(faucet.addr));
        if let Some(slots) = config.slots_per_epoch {
            genesis.epoch_schedule(solana_sdk::epoch_schedule::EpochSchedule::custom(
                slots, slots, false,
            ));
        }
        // the program as shipped and the sample consumer of its results, deployed by genesis
        // under the upgradeable loader
        let mut programs = vec![];
        for (file, id, so) in [
            (PROGRAM_FILE, PROGRAM_ID, compute_market_harness::PROGRAM_SO),
            (
                CONSUMER_FILE,
                compute_market_harness::CONSUMER_ID,
                compute_market_harness::CONSUMER_SO,
            ),
        ] {
            let program_path = ledger.join(file);
            std::fs::write(&program_path, so)
                .with_context(|| format!("writing {}", program_path.display()))?;
            programs.push(UpgradeableProgramInfo {
                program_id: id,
                loader: solana_sdk_ids::bpf_loader_upgradeable::ID,
                upgrade_authority: mint_keypair.pubkey(),
                program_path,
            });
        }
        genesis.add_upgradeable_programs_with_path(&programs);
        genesis.deactivate_features(&mainnet_inactive_features());
        let start = || {
            genesis
                .start_with_mint_address(
                    mint_keypair.pubkey(),
                    solana_net_utils::SocketAddrSpace::new(true),
                )
                .map_err(|e| anyhow!("starting the validator: {e}"))
        };
        let validator = if config.quiet {
            ports::with_stdout_silenced(start)?
        } else {
            start()?
        };
        let ports = listening_ports(&validator, faucet.addr.port(), config.dynamic_port_range);
        let lowered = match config.nice {
            0 => None,
            n => Some(priority::lower(n)?),
        };
        // only a courtesy to the work beside the chain: a chain without it still works
        if let Err(e) = priority::calm_polling_threads() {
            tracing::warn!("could not lower the validator's polling threads: {e:#}");
        }

        let stop = Arc::new(AtomicBool::new(false));
        let saver = spawn_saver(
            validator.bank_forks(),
            stop.clone(),
            state_file,
            mint_keypair.pubkey(),
        );
        let net = Localnet {
            validator: Some(validator),
            saver: Some(saver),
            stop,
            mint_keypair,
            ledger,
            ports,
            faucet: Some(faucet),
            lowered,
            _tmp: tmp,
        };
        net.wait_for_slots(3, Duration::from_secs(30))?;
        net.probe_program()?;
        Ok(net)
    }

    fn validator(&self) -> &TestValidator {
        self.validator.as_ref().expect("validator runs until drop")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn rpc_url(&self) -> String {
        self.validator().rpc_url()
    }

    /// `ws://127.0.0.1:PORT+1`.
    pub fn ws_url(&self) -> String {
        self.validator().rpc_pubsub_url()
    }

    /// An RPC client with `confirmed` commitment.
    pub fn rpc_client(&self) -> RpcClient {
        RpcClient::new_with_commitment(self.rpc_url(), CommitmentConfig::confirmed())
    }

    /// Address the RPC server listens on.
    pub fn rpc_addr(&self) -> Result<SocketAddr> {
        let url = self.rpc_url();
        url.trim_start_matches("http://")
            .parse()
            .with_context(|| format!("parsing {url}"))
    }

    /// Waits until the validator has produced `n` slots.
    fn wait_for_slots(&self, n: u64, timeout: Duration) -> Result<()> {
        let forks = self.validator().bank_forks();
        let deadline = Instant::now() + timeout;
        while forks.read().unwrap().highest_slot() < n {
            if Instant::now() > deadline {
                bail!("the validator produced no new slots within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Simulates an instruction the program must reject with Anchor's
    /// `InstructionFallbackNotFound` (101): proof that transactions reach the deployed program.
    fn probe_program(&self) -> Result<()> {
        let rpc = self.rpc_client();
        let ix = Instruction {
            program_id: PROGRAM_ID,
            accounts: vec![],
            data: vec![0xff; 8],
        };
        let payer = &self.mint_keypair;
        let blockhash = rpc
            .get_latest_blockhash()
            .context("RPC getLatestBlockhash")?;
        let tx =
            Transaction::new_signed_with_payer(&[ix], Some(&payer.pubkey()), &[payer], blockhash);
        let sim = rpc
            .simulate_transaction(&tx)
            .context("RPC simulateTransaction")?;
        match sim.value.err.map(TransactionError::from) {
            Some(TransactionError::InstructionError(0, InstructionError::Custom(101))) => Ok(()),
            other => bail!("the program is not callable on the local chain: {other:?}"),
        }
    }
}

impl Drop for Localnet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // the saver writes a last state before it returns
        if let Some(s) = self.saver.take() {
            let _ = s.join();
        }
        // Dropping the validator shuts it down (and joins its threads).
        self.validator.take();
        self.faucet.take();
    }
}

/// The ports a started validator bound, as its own contact info advertises them.
fn listening_ports(validator: &TestValidator, faucet: u16, dynamic_range: (u16, u16)) -> Ports {
    use solana_gossip::contact_info::Protocol;
    let me = validator.cluster_info().my_contact_info();
    let port = |a: Option<SocketAddr>| a.map_or(0, |a| a.port());
    Ports {
        rpc: port(me.rpc()),
        websocket: port(me.rpc_pubsub()),
        faucet,
        gossip: port(me.gossip()),
        tpu: port(me.tpu(Protocol::QUIC)),
        tpu_forwards: port(me.tpu_forwards(Protocol::QUIC)),
        tpu_vote: port(me.tpu_vote(Protocol::UDP)),
        tvu: port(me.tvu(Protocol::UDP)),
        repair: port(me.serve_repair(Protocol::UDP)),
        dynamic_range,
        blob_store: None,
    }
}

/// The features a fresh test validator would activate that mainnet has not: the local chain runs
/// without them, like [`compute_market_harness::litesvm`]. Among them is
/// `virtual_address_space_adjustments`, which changes the sBPF v0 stack layout the program is
/// linked for.
pub fn mainnet_inactive_features() -> Vec<Pubkey> {
    let mainnet: std::collections::HashSet<Pubkey> =
        compute_market_harness::MAINNET_ACTIVE_FEATURES
            .iter()
            .map(|(id, _)| *id)
            .collect();
    agave_feature_set::FEATURE_NAMES
        .keys()
        .filter(|id| !mainnet.contains(id))
        .copied()
        .collect()
}

/// Saves the accounts of the highest frozen bank at most every `SAVE_INTERVAL`, and once more at
/// `stop`. A pass is skipped while no transaction other than the validator's votes has succeeded
/// since the last save (a failed transaction only charges its fee; the next save or the one at
/// `stop` carries that), and the pause after a save is at least ten times as long as the save
/// took: the state grows with every settlement, and capturing it must not take the CPU the
/// validator needs to keep up with its slots.
fn spawn_saver(
    forks: Arc<RwLock<BankForks>>,
    stop: Arc<AtomicBool>,
    path: PathBuf,
    mint: solana_sdk::pubkey::Pubkey,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("cmkt-state".into())
        .spawn(move || {
            // non-vote transactions that had succeeded at the last save; none at the start,
            // when the state file (or its absence) already describes the chain
            let mut saved_at = 0;
            let mut save = |force: bool| {
                let bank = forks.read().unwrap().highest_frozen_bank();
                let Some(bank) = bank else { return };
                let activity = bank.non_vote_transaction_count_since_restart();
                if !force && saved_at == activity {
                    return;
                }
                // the validator's own identity, vote and stake accounts are made by genesis
                let skip = [mint];
                match state::State::capture(&bank, &skip).and_then(|s| s.save(&path)) {
                    Ok(()) => saved_at = activity,
                    Err(e) => tracing::warn!("saving the local chain state failed: {e:#}"),
                }
            };
            let mut next = Instant::now() + SAVE_INTERVAL;
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    let t = Instant::now();
                    save(false);
                    next = Instant::now() + SAVE_INTERVAL.max(t.elapsed() * 10);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            save(true);
        })
        .expect("spawning the state saver")
}

/// Reads a keypair file, or creates it (mode 0600) when it does not exist.
pub fn load_or_create_keypair(path: &Path) -> Result<Keypair> {
    let read = |p: &Path| {
        read_keypair_file(p).map_err(|e| anyhow!("reading keypair {}: {e}", p.display()))
    };
    if path.exists() {
        return read(path);
    }
    // written whole under another name, then linked into place (which fails if the name exists):
    // two chains starting at once on one keys directory end up with the same keypair
    let tmp = path.with_extension(format!("tmp-{}-{:x}", std::process::id(), rand_u64()));
    let k = Keypair::new();
    write_keypair_file(&k, &tmp).map_err(|e| anyhow!("writing keypair {}: {e}", tmp.display()))?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(k),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(anyhow!("writing keypair {}: {e}", path.display())),
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id() as u64);
    h.finish()
}
