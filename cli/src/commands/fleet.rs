//! A local fleet for `cmkt demo` and `cmkt bench`: a working directory, providers that register
//! and stake, and `compute-worker` processes (run as `cmkt worker`) stopped on drop.

use anyhow::{bail, Context, Result};
use compute_market_client::{ata, ix, rpc::Chain, JobPostArgs, MarketRef, Pubkey};
use compute_market_localnet::load_or_create_keypair;
use solana_sdk::{signature::Keypair, signer::Signer};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// One token of the local mint (6 decimals).
pub const TOKEN: u64 = 1_000_000;

/// Empties `dir` when it holds an earlier run (it has `marker`), refuses a foreign non-empty
/// directory, and creates `dir` with `subdirs`.
pub fn prepare_dir(dir: &Path, marker: &str, subdirs: &[&str]) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !empty && !dir.join(marker).exists() {
            bail!(
                "{} exists and was not made by this command; pass --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    for sub in subdirs {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(marker), "made by cmkt; safe to delete\n")?;
    Ok(())
}

/// The embedded chain with its ledger in `dir/ledger`, on free ports. Call outside any tokio
/// runtime (the validator starts its own).
pub fn local_chain(dir: &Path) -> Result<compute_market_localnet::Localnet> {
    compute_market_localnet::Localnet::start(&compute_market_localnet::LocalnetConfig {
        ledger: Some(dir.join("ledger")),
        reset: false,
        rpc_port: 0,
        slots_per_epoch: None,
        // `cmkt demo` and `cmkt bench` own the terminal: no validator start-up lines on it
        quiet: true,
        ..Default::default()
    })
}

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A provider wallet (kept under `keys`) registered with `endpoint` and staked `stake`.
pub async fn provider(
    chain: &Chain,
    market: &MarketRef,
    keys: &Path,
    name: &str,
    endpoint: &str,
    stake: u64,
) -> Result<(PathBuf, Keypair)> {
    let path = keys.join(format!("{name}.json"));
    let wallet = load_or_create_keypair(&path)?;
    let stake_from = ata(
        &wallet.pubkey(),
        &market.state.stake_mint,
        &market.state.stake_token_program,
    );
    chain
        .send(
            &[
                ix::register_provider(&wallet.pubkey(), market, endpoint, 1),
                ix::stake(&wallet.pubkey(), market, &stake_from, stake),
            ],
            &wallet,
            &[],
        )
        .await
        .with_context(|| format!("registering {name}"))?;
    Ok((path, wallet))
}

/// How one worker process runs.
pub struct WorkerSpec<'a> {
    pub name: &'a str,
    pub keypair: &'a Path,
    pub listen: &'a str,
    pub rpc_url: &'a str,
    /// Websocket URL, or `off` to poll only.
    pub ws_url: &'a str,
    pub market: &'a Pubkey,
    /// Working directory: `<name>.toml`, `<name>.log` and the data directory `<name>/` go here.
    pub dir: &'a Path,
    /// Extra TOML appended to the config (sections included).
    pub extra: &'a str,
    /// Extra command-line arguments of `worker run`.
    pub args: &'a [&'a str],
}

/// Worker processes, stopped (SIGTERM, then SIGKILL) when dropped, also on errors and Ctrl-C.
#[derive(Default)]
pub struct Workers {
    /// Name, listen address and process of each worker.
    children: Vec<(String, String, Child)>,
    /// A `compute-worker` executable to run instead of `cmkt worker`.
    pub program: Option<PathBuf>,
}

impl Workers {
    /// Starts `cmkt worker run` (or `program run`) with the config `spec` describes.
    pub fn spawn(&mut self, spec: &WorkerSpec) -> Result<()> {
        let config = spec.dir.join(format!("{}.toml", spec.name));
        std::fs::write(
            &config,
            format!(
                "rpc_url = {rpc:?}\nws_url = {ws:?}\nkeypair = {kp:?}\nmarket = \"{m}\"\ndata_dir = {data:?}\n\
                 [server]\nlisten = {listen:?}\n{extra}",
                rpc = spec.rpc_url,
                ws = spec.ws_url,
                kp = spec.keypair.display().to_string(),
                m = spec.market,
                data = spec.dir.join(spec.name).display().to_string(),
                listen = spec.listen,
                extra = spec.extra,
            ),
        )?;
        let log = std::fs::File::create(spec.dir.join(format!("{}.log", spec.name)))?;
        // by environment: cmkt's own global flags would take `--config`
        let mut cmd = match &self.program {
            Some(program) => Command::new(program),
            None => {
                let mut c =
                    Command::new(std::env::current_exe().context("locating the cmkt executable")?);
                c.arg("worker");
                c
            }
        };
        let child = cmd
            .arg("run")
            .args(spec.args)
            .env("COMPUTE_WORKER_CONFIG", &config)
            .env("COMPUTE_WORKER_SOLANA_CONFIG", "/nonexistent")
            .env("RUST_LOG", "warn,compute_worker=info")
            .env_remove("COMPUTE_WORKER_FAULT")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting a worker")?;
        self.children
            .push((spec.name.to_string(), spec.listen.to_string(), child));
        Ok(())
    }

    /// Process ids of the workers, in the order they were started.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|(_, _, c)| c.id()).collect()
    }

    /// Fails when a worker has exited.
    pub fn check(&mut self) -> Result<()> {
        for (name, _, c) in &mut self.children {
            if let Ok(Some(status)) = c.try_wait() {
                bail!("worker {name} exited ({status})");
            }
        }
        Ok(())
    }

    /// Waits until every worker answers `/healthz` with 200 after an RPC call (and, when
    /// `subscribed`, with its websocket subscription live).
    pub async fn wait_all_up(&mut self, subscribed: bool) -> Result<()> {
        let http = reqwest::Client::new();
        let listens: Vec<String> = self.children.iter().map(|(_, l, _)| l.clone()).collect();
        for listen in listens {
            let url = format!("http://{listen}/healthz");
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                self.check()?;
                if let Ok(r) = http.get(&url).send().await {
                    let ok = r.status().is_success();
                    let body = r.text().await.unwrap_or_default();
                    if ok
                        && !body.contains("\"seconds_since_rpc_ok\":null")
                        && (!subscribed || body.contains("\"websocket_connected\":true"))
                    {
                        break;
                    }
                }
                if Instant::now() > deadline {
                    bail!("the worker at {listen} did not come up");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Stops every worker: SIGTERM, up to 10 s, then SIGKILL.
    pub fn stop(&mut self) {
        for (_, _, c) in &mut self.children {
            let pid = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (_, _, c) in &mut self.children {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Posts a job whose manifest is already stored at `uri`; returns the job address.
pub async fn post(
    chain: &Chain,
    market: &MarketRef,
    requester: &Keypair,
    args: JobPostArgs,
) -> Result<Pubkey> {
    let from = ata(
        &requester.pubkey(),
        &market.state.payment_mint,
        &market.state.payment_token_program,
    );
    let nonce = args.nonce;
    chain
        .send(
            &[ix::post_job(&requester.pubkey(), market, &from, args)],
            requester,
            &[],
        )
        .await
        .with_context(|| format!("posting job {nonce}"))?;
    Ok(market.job(&requester.pubkey(), nonce))
}
