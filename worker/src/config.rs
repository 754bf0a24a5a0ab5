//! Worker settings: a TOML file, then `COMPUTE_WORKER_*` environment variables, then flags. The
//! JSON-RPC URL and the keypair default to the Solana CLI config; the market defaults to the one
//! of `cmkt localnet` when the worker talks to that chain.

use anyhow::{anyhow, bail, Context, Result};
use compute_market_client::{config as shared, Pubkey};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Prefix of environment overrides; `__` separates a section from a key
/// (`COMPUTE_WORKER_POLICY__MIN_REWARD=5`).
pub const ENV_PREFIX: &str = "COMPUTE_WORKER_";

/// `COMPUTE_WORKER_*` variables that are flags of the command line, not settings.
pub const RESERVED_ENV: &[&str] = &[
    "COMPUTE_WORKER_CONFIG",
    "COMPUTE_WORKER_SOLANA_CONFIG",
    "COMPUTE_WORKER_FAULT",
];

/// Everything the worker can be told. Every field has a default.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// JSON-RPC URL or moniker; empty: the Solana CLI config's.
    pub rpc_url: String,
    /// Websocket URL; empty: derived from `rpc_url` as the Solana CLI does; `off`: no
    /// subscription, poll every `chain.fallback_poll_secs` (for RPC providers without
    /// websockets, and the pickup benchmark's polling baseline).
    pub ws_url: String,
    /// Provider keypair file; empty: the Solana CLI config's.
    pub keypair: String,
    /// Market address; empty: the market of `cmkt localnet` when `rpc_url` is that chain.
    pub market: String,
    /// Address of the program the market belongs to; empty: the program of `cmkt localnet`
    /// when `rpc_url` is that chain, else the program id this build declares.
    pub program_id: String,
    /// Journal, blob cache and results; empty: `~/.local/share/compute-worker`.
    pub data_dir: String,
    pub server: ServerConfig,
    pub policy: PolicyConfig,
    pub fetch: FetchConfig,
    pub chain: ChainConfig,
    pub crank: CrankConfig,
    pub run: RunConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the result server, `/metrics` and `/healthz` listen on.
    pub listen: String,
    /// Public base URL registered on-chain; empty: `http://<listen>`.
    pub endpoint: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8780".into(),
            endpoint: String::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Smallest price per replica worth claiming (payment-mint base units).
    pub min_reward: u64,
    /// Price floor per 10^9 fuel of the manifest's `max_fuel` (payment-mint base units).
    pub min_price_per_gfuel: u64,
    /// Price floor per MiB of the manifest's `max_memory` (payment-mint base units).
    pub min_price_per_mib: u64,
    /// Largest fuel, memory and output a manifest may ask for.
    pub max_fuel: u64,
    pub max_memory: u64,
    pub max_output: u64,
    /// Runtimes this worker runs.
    pub runtimes: Vec<String>,
    /// Jobs run at once; 0: the number of cores.
    pub max_concurrent: usize,
    /// Only these requesters (empty: anyone not denied).
    pub allow_requesters: Vec<String>,
    /// Never these requesters.
    pub deny_requesters: Vec<String>,
    /// Seconds that must be left before the commit deadline to claim.
    pub min_time_left: i64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            min_reward: 0,
            min_price_per_gfuel: 0,
            min_price_per_mib: 0,
            max_fuel: 50_000_000_000,
            max_memory: 1 << 30,
            max_output: 64 << 20,
            runtimes: crate::executor::RUNTIMES.map(String::from).to_vec(),
            max_concurrent: 0,
            allow_requesters: vec![],
            deny_requesters: vec![],
            min_time_left: 15,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FetchConfig {
    /// Largest module or input downloaded.
    pub max_blob_bytes: u64,
    /// Time limit of one download, seconds.
    pub timeout_secs: u64,
    /// Directories `file://` URIs may read from (none by default).
    pub file_roots: Vec<String>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            max_blob_bytes: 64 << 20,
            timeout_secs: 60,
            file_roots: vec![],
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ChainConfig {
    /// Priority fee, micro-lamports per compute unit.
    pub priority_fee: u64,
    /// Compute-unit limit per transaction (0: what its instructions need, from the units the
    /// runtime measured for each, with a margin).
    pub compute_limit: u32,
    /// Seconds between `getProgramAccounts` scans while the websocket is down.
    pub fallback_poll_secs: u64,
    /// Seconds between safety scans while the websocket is up (catches missed notifications)
    /// and between reconciliations of the journal with the chain.
    pub rescan_secs: u64,
    /// Milliseconds between checks of the worker's own jobs (reveal, finalize).
    pub tick_ms: u64,
    /// Seconds between republications of the worker's offer (`publish_offer`: its limits, price
    /// floors and runtimes, and that it runs); it is also published at start-up. 0: only then.
    pub publish_secs: u64,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            priority_fee: 1_000,
            compute_limit: 0,
            fallback_poll_secs: 5,
            rescan_secs: 60,
            tick_ms: 1_000,
            publish_secs: 600,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CrankConfig {
    /// Expire stale claims and finalize other providers' jobs when the bounty pays.
    pub enabled: bool,
    /// Seconds between crank scans.
    pub interval_secs: u64,
    /// Smallest slash bounty (stake-mint base units) worth a transaction.
    pub min_bounty: u64,
}

impl Default for CrankConfig {
    fn default() -> Self {
        CrankConfig {
            enabled: true,
            interval_secs: 15,
            min_bounty: 1,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Wall-clock limit of one execution, seconds (a run that hits it is not committed).
    pub timeout_secs: u64,
    /// Seconds SIGINT/SIGTERM waits for in-flight jobs to commit before exiting.
    pub shutdown_grace_secs: u64,
    /// Days a finished job's record and output are kept (and served) before compaction.
    pub retention_days: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            timeout_secs: 300,
            shutdown_grace_secs: 30,
            retention_days: 7,
        }
    }
}

/// The commented template `compute-worker init` writes.
pub const TEMPLATE: &str = r#"# compute-worker configuration.
# Precedence: command-line flags, then COMPUTE_WORKER_* environment variables
# (COMPUTE_WORKER_RPC_URL, COMPUTE_WORKER_POLICY__MIN_REWARD, ...: `__` separates the section),
# then this file, then the defaults shown here.

# JSON-RPC URL or moniker (localhost, devnet). Empty: the Solana CLI config's json_rpc_url.
rpc_url = "{rpc_url}"
# Websocket URL. Empty: derived from rpc_url (port + 1), as the Solana CLI does.
# "off": no subscription; poll every chain.fallback_poll_secs instead.
ws_url = ""
# Provider keypair. Empty: the Solana CLI config's keypair_path.
keypair = "{keypair}"
# Market to work in. Empty: the market of `cmkt localnet` when rpc_url is that chain.
market = "{market}"
# The market's program. Empty: the one of `cmkt localnet` for that chain, else the built-in id.
program_id = ""
# Journal, blob cache and stored results. Empty: ~/.local/share/compute-worker
data_dir = "{data_dir}"

[server]
# The result server, /metrics and /healthz.
listen = "127.0.0.1:8780"
# Public base URL requesters download results from; registered on-chain by `register`.
# Empty: http://<listen>
endpoint = ""

[policy]
# The price floor per replica, in payment-mint base units: at least min_reward, and at least
# min_price_per_gfuel per 10^9 of the manifest's max_fuel plus min_price_per_mib per MiB of its
# max_memory. A rising offer is claimed once its price reaches the floor.
min_reward = 0
min_price_per_gfuel = 0
min_price_per_mib = 0
# Largest limits a job's manifest may ask for.
max_fuel = 50000000000
max_memory = 1073741824
max_output = 67108864
runtimes = ["wasi-p1", "wasi-p1v2", "wasi-p1v3"]
# Jobs run at once; 0: the number of cores.
max_concurrent = 0
# Requester wallets: only these (empty: anyone), never these.
allow_requesters = []
deny_requesters = []
# Seconds that must be left before a job's commit deadline to claim it.
min_time_left = 15

[fetch]
max_blob_bytes = 67108864
timeout_secs = 60
# Directories file:// URIs may read from; none by default.
file_roots = []

[chain]
# Priority fee in micro-lamports per compute unit, and the compute-unit limit per transaction
# (0: what its instructions need, measured per instruction, with a margin).
priority_fee = 1000
compute_limit = 0
# getProgramAccounts every N seconds while the websocket is down (or always, with ws_url = "off").
fallback_poll_secs = 5
# Safety rescan and journal/chain reconciliation every N seconds.
rescan_secs = 60
# Check own jobs (reveal, finalize) every N milliseconds.
tick_ms = 1000
# Publish this worker's offer (the [policy] limits, price floors and runtimes, and that it
# runs) at start-up and every N seconds; `cmkt job why` reads it. 0: only at start-up.
publish_secs = 600

[crank]
# Expire stale claims and finalize others' jobs when the slash bounty pays.
enabled = true
interval_secs = 15
min_bounty = 1

[run]
# Wall-clock limit of one execution (a run that hits it is never committed).
timeout_secs = 300
# On SIGINT/SIGTERM: stop claiming, wait this long for in-flight jobs to commit, then exit.
shutdown_grace_secs = 30
# Days a finished job's journal record and output are kept (the result server serves the output
# that long), then compacted away.
retention_days = 7
"#;

/// The template with the given values filled in.
pub fn template(rpc_url: &str, keypair: &str, market: &str, data_dir: &str) -> String {
    TEMPLATE
        .replace("{rpc_url}", rpc_url)
        .replace("{keypair}", keypair)
        .replace("{market}", market)
        .replace("{data_dir}", data_dir)
}

/// Parses an override value as TOML (numbers, booleans, arrays), else keeps it as a string.
fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

/// Sets `path` (`section.key` or `key`) in `table`.
fn set(table: &mut toml::Table, path: &str, value: toml::Value) -> Result<()> {
    match path.split_once('.') {
        Some((section, key)) => {
            let entry = table
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let t = entry
                .as_table_mut()
                .ok_or_else(|| anyhow!("{section} is not a section"))?;
            t.insert(key.to_string(), value);
        }
        None => {
            table.insert(path.to_string(), value);
        }
    }
    Ok(())
}

impl Config {
    /// Reads `file` (if given; a missing file is an error), applies the environment
    /// `env` (`COMPUTE_WORKER_*` pairs) and then `overrides` (`section.key`, value).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[(&str, toml::Value)],
    ) -> Result<Config> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config {}", path.display()))?;
                toml::from_str::<toml::Table>(&text)
                    .with_context(|| format!("config {} is not valid TOML", path.display()))?
            }
            None => toml::Table::new(),
        };
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && !RESERVED_ENV.contains(&k.as_str()))
            .collect();
        env.sort();
        for (k, v) in env {
            let path = k[ENV_PREFIX.len()..]
                .to_ascii_lowercase()
                .replace("__", ".");
            set(&mut table, &path, parse_value(&v))
                .with_context(|| format!("environment variable {k}"))?;
        }
        for (path, v) in overrides {
            set(&mut table, path, v.clone())?;
        }
        toml::Value::Table(table)
            .try_into::<Config>()
            .map_err(|e| anyhow!("invalid settings: {e}"))
    }
}

/// Settings with every default applied, ready to run.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub config: Config,
    pub rpc_url: String,
    pub ws_url: String,
    pub keypair: PathBuf,
    pub market: Pubkey,
    /// The program the market belongs to.
    pub program: Pubkey,
    pub data_dir: PathBuf,
    pub endpoint: String,
    pub max_concurrent: usize,
    pub allow: Vec<Pubkey>,
    pub deny: Vec<Pubkey>,
}

fn pubkeys(what: &str, list: &[String]) -> Result<Vec<Pubkey>> {
    list.iter()
        .map(|s| {
            s.parse()
                .map_err(|_| anyhow!("{what}: {s:?} is not a valid base58 address"))
        })
        .collect()
}

/// A field (`market`, `program_id`) of `cmkt localnet`'s `localnet.json` (`localnet-<port>.json`
/// off the default port) when `rpc_url` is that chain.
fn localnet_field(localnet_dir: &Path, rpc_url: &str, field: &str) -> Option<String> {
    let path = shared::localnet_info_file(localnet_dir, rpc_url);
    let text = std::fs::read_to_string(path).ok()?;
    let info: serde_json::Value = serde_json::from_str(&text).ok()?;
    (info["rpc_url"].as_str()? == rpc_url).then(|| info[field].as_str().map(str::to_string))?
}

impl Resolved {
    /// Applies the Solana CLI config (`solana_config`) and the local chain's defaults.
    pub fn new(config: Config, solana_config: &Path, localnet_dir: &Path) -> Result<Resolved> {
        let cli = shared::read_solana_config(solana_config);
        let rpc_url = shared::normalize_url(if config.rpc_url.is_empty() {
            cli.json_rpc_url
                .as_deref()
                .unwrap_or("http://127.0.0.1:8899")
        } else {
            &config.rpc_url
        });
        let ws_url = if config.ws_url.is_empty() {
            shared::websocket_url(&rpc_url)
        } else {
            config.ws_url.clone()
        };
        let keypair = if config.keypair.is_empty() {
            shared::keypair_path(None, &cli)
        } else {
            shared::expand_tilde(&config.keypair)
        };
        let market = if config.market.is_empty() {
            localnet_field(localnet_dir, &rpc_url, "market").ok_or_else(|| {
                anyhow!("no market given: set `market` in the config, COMPUTE_WORKER_MARKET or --market (or run `cmkt localnet`)")
            })?
        } else {
            config.market.clone()
        };
        let market = market
            .parse()
            .map_err(|_| anyhow!("market {market:?} is not a valid base58 address"))?;
        let program = match (
            config.program_id.as_str(),
            localnet_field(localnet_dir, &rpc_url, "program_id"),
        ) {
            ("", Some(local)) => local,
            ("", None) => compute_market_client::PROGRAM_ID.to_string(),
            (given, _) => given.to_string(),
        };
        let program = program
            .parse()
            .map_err(|_| anyhow!("program_id {program:?} is not a valid base58 address"))?;
        let data_dir = if config.data_dir.is_empty() {
            shared::home().join(".local/share/compute-worker")
        } else {
            shared::expand_tilde(&config.data_dir)
        };
        let endpoint = if config.server.endpoint.is_empty() {
            format!("http://{}", config.server.listen)
        } else {
            config.server.endpoint.trim_end_matches('/').to_string()
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            bail!("server.endpoint {endpoint:?} must be an http(s) URL");
        }
        for (key, value) in [
            ("run.timeout_secs", config.run.timeout_secs),
            ("chain.fallback_poll_secs", config.chain.fallback_poll_secs),
            ("chain.rescan_secs", config.chain.rescan_secs),
            ("chain.tick_ms", config.chain.tick_ms),
            ("crank.interval_secs", config.crank.interval_secs),
            ("run.retention_days", config.run.retention_days),
            ("fetch.timeout_secs", config.fetch.timeout_secs),
        ] {
            if value == 0 {
                bail!("{key} must be greater than 0");
            }
        }
        if config.chain.tick_ms < 50 {
            bail!("chain.tick_ms must be at least 50");
        }
        let max_concurrent = match config.policy.max_concurrent {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Ok(Resolved {
            allow: pubkeys("policy.allow_requesters", &config.policy.allow_requesters)?,
            deny: pubkeys("policy.deny_requesters", &config.policy.deny_requesters)?,
            rpc_url,
            ws_url,
            keypair,
            market,
            program,
            data_dir,
            endpoint,
            max_concurrent,
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_to_the_defaults() {
        let dir = std::env::temp_dir().join(format!("cw-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("worker.toml");
        std::fs::write(&file, template("", "", "", "")).unwrap();
        let c = Config::load(Some(&file), [], &[]).unwrap();
        assert_eq!(c, Config::default());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn flags_beat_the_environment_which_beats_the_file() {
        let dir = std::env::temp_dir().join(format!("cw-config2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("worker.toml");
        std::fs::write(
            &file,
            "rpc_url = \"http://file\"\n[policy]\nmin_reward = 1\nmax_concurrent = 3\n",
        )
        .unwrap();
        let env = [
            ("COMPUTE_WORKER_POLICY__MIN_REWARD".to_string(), "7".into()),
            ("COMPUTE_WORKER_RPC_URL".into(), "http://env".into()),
            ("OTHER".into(), "x".into()),
            ("COMPUTE_WORKER_CONFIG".into(), "/elsewhere.toml".into()),
        ];
        let c = Config::load(
            Some(&file),
            env.clone(),
            &[("rpc_url", toml::Value::String("http://flag".into()))],
        )
        .unwrap();
        assert_eq!(c.rpc_url, "http://flag");
        assert_eq!(c.policy.min_reward, 7);
        assert_eq!(c.policy.max_concurrent, 3);
        let c = Config::load(Some(&file), env, &[]).unwrap();
        assert_eq!(c.rpc_url, "http://env");

        // typos and wrong types are errors, not silently ignored
        std::fs::write(&file, "[policy]\nmin_rewrd = 1\n").unwrap();
        let e = Config::load(Some(&file), [], &[]).unwrap_err();
        assert!(format!("{e:#}").contains("min_rewrd"), "{e:#}");
        let bad = [(
            "COMPUTE_WORKER_POLICY__MIN_REWARD".to_string(),
            "lots".into(),
        )];
        assert!(Config::load(None, bad, &[]).is_err());
        assert!(Config::load(Some(&dir.join("missing.toml")), [], &[]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn resolution_fills_in_the_solana_cli_and_local_chain_defaults() {
        let dir = std::env::temp_dir().join(format!("cw-config3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let solana = dir.join("config.yml");
        std::fs::write(
            &solana,
            "json_rpc_url: \"http://127.0.0.1:9899\"\nkeypair_path: /tmp/w.json\n",
        )
        .unwrap();
        let market = Pubkey::new_unique();
        // the default port's file, even one naming this URL, is not read for port 9899
        std::fs::write(
            dir.join("localnet.json"),
            serde_json::json!({"rpc_url": "http://127.0.0.1:9899", "market": Pubkey::new_unique().to_string()})
                .to_string(),
        )
        .unwrap();
        std::fs::write(
            dir.join("localnet-9899.json"),
            serde_json::json!({"rpc_url": "http://127.0.0.1:9899", "market": market.to_string()})
                .to_string(),
        )
        .unwrap();
        let r = Resolved::new(Config::default(), &solana, &dir).unwrap();
        assert_eq!(r.rpc_url, "http://127.0.0.1:9899");
        assert_eq!(r.ws_url, "ws://127.0.0.1:9900");
        assert_eq!(r.keypair, PathBuf::from("/tmp/w.json"));
        assert_eq!(r.market, market);
        assert_eq!(r.endpoint, "http://127.0.0.1:8780");
        assert!(r.max_concurrent >= 1);
        let zero = Config {
            run: RunConfig {
                timeout_secs: 0,
                ..RunConfig::default()
            },
            ..Config::default()
        };
        let e = Resolved::new(zero, &solana, &dir).unwrap_err();
        assert!(e.to_string().contains("run.timeout_secs"), "{e}");
        // another chain: the local market is not assumed
        let other = Config {
            rpc_url: "devnet".into(),
            ..Config::default()
        };
        assert!(Resolved::new(other, &solana, &dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
