//! `cmkt localnet` as a child process on free ports, and `cmkt` run against it as one of its
//! wallets: shared by the command-line tests.
#![allow(dead_code)]

use assert_cmd::cargo::CommandCargoExt;
use compute_market_localnet::bootstrap::LocalnetInfo;
use solana_sdk::signature::Keypair;
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

/// A port `p` with `p` and `p + 1` free (RPC and websocket): what `cmkt localnet --rpc-port 0`
/// picks.
pub fn free_port_pair() -> u16 {
    compute_market_localnet::ports::free_port_pair().expect("a free port pair")
}

/// A module every runtime compiles, with an empty `_start` (`cmkt job post` compiles what it
/// posts, as the workers do).
pub fn empty_job() -> Vec<u8> {
    wat::parse_str(r#"(module (func (export "_start")))"#).unwrap()
}

/// The lines of `text` that would make a newcomer think something failed.
pub fn alarming(text: &str) -> Vec<&str> {
    const WORDS: &[&str] = &[
        "error",
        "warn",
        "panic",
        "failed",
        "waiting for",
        "anchorerror",
    ];
    text.lines()
        .filter(|l| {
            let l = l.to_lowercase();
            WORDS.iter().any(|w| l.contains(w))
        })
        .collect()
}

pub struct Net {
    pub child: Child,
    pub dir: PathBuf,
    /// The keys directory (`dir/keys` unless the chain was started on a shared one).
    pub keys: PathBuf,
    pub info: LocalnetInfo,
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn start_localnet() -> Net {
    start_localnet_with_keys(None)
}

/// A chain whose keypairs and `localnet*.json` go to `keys` (else to a directory of its own).
pub fn start_localnet_with_keys(keys: Option<&Path>) -> Net {
    start_localnet_with(keys, None, &[])
}

/// A chain as [`start_localnet_with_keys`], started through `launcher` (such as `setsid`) and
/// with `extra` arguments to `cmkt localnet`.
pub fn start_localnet_with(keys: Option<&Path>, launcher: Option<&str>, extra: &[&str]) -> Net {
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("cmkt-cli-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let keys = keys.map_or_else(|| dir.join("keys"), Path::to_path_buf);
    let rpc_port = free_port_pair();
    let blob_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = Instant::now();
    let cmkt = assert_cmd::cargo::cargo_bin("cmkt");
    let mut command = match launcher {
        Some(launcher) => {
            let mut c = Command::new(launcher);
            c.arg(cmkt);
            c
        }
        None => Command::new(cmkt),
    };
    let child = command
        .args([
            "localnet",
            "--rpc-port",
            &rpc_port.to_string(),
            "--blob-port",
            &blob_port.to_string(),
        ])
        .args(["--localnet-dir", keys.to_str().unwrap()])
        // in the test's directory, which drop removes: the chain is killed, so it cannot
        // remove a temporary ledger of its own
        .args(["--ledger", dir.join("ledger").to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let info_path = compute_market_client::config::localnet_file(&keys, "localnet", rpc_port);
    let mut net = Net {
        child,
        dir: dir.clone(),
        keys: keys.clone(),
        info: placeholder(),
    };
    while !info_path.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "cmkt localnet did not come up"
        );
        if let Some(status) = net.child.try_wait().unwrap() {
            panic!("cmkt localnet exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200)); // the file is written in one go; let it land
    net.info = serde_json::from_str(&std::fs::read_to_string(&info_path).unwrap()).unwrap();
    println!("cmkt localnet ready in {:?}", t.elapsed());
    net
}

pub fn placeholder() -> LocalnetInfo {
    LocalnetInfo {
        rpc_url: String::new(),
        ws_url: String::new(),
        blob_url: None,
        program_id: String::new(),
        market: String::new(),
        mint: String::new(),
        authority_keypair: PathBuf::new(),
        wallets: vec![],
        ports: Default::default(),
    }
}

impl Net {
    pub fn keys(&self) -> PathBuf {
        self.keys.clone()
    }

    /// The keypair file of `name` (`requester`, `provider-1`, …). `authority` is the chain's
    /// upgrade and market authority, whose file name depends on the RPC port
    /// (`authority-<port>.json` off 8899), so it comes from `localnet.json`.
    pub fn wallet(&self, name: &str) -> PathBuf {
        if name == "authority" {
            return self.info.authority_keypair.clone();
        }
        self.keys().join(format!("{name}.json"))
    }

    /// `cmkt` as `who` against this chain, to add arguments to.
    pub fn command(&self, who: &str) -> Command {
        let mut c = Command::cargo_bin("cmkt").unwrap();
        c.args(["--url", &self.info.rpc_url, "--config", "/nonexistent"])
            .args(["--keypair", self.wallet(who).to_str().unwrap()])
            .args(["--localnet-dir", self.keys().to_str().unwrap()]);
        c
    }

    /// Runs `cmkt` as `who` against this chain.
    pub fn cmkt(&self, who: &str, args: &[&str]) -> Output {
        self.command(who).args(args).output().unwrap()
    }

    pub fn ok(&self, who: &str, args: &[&str]) -> String {
        let o = self.cmkt(who, args);
        assert!(
            o.status.success(),
            "cmkt {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    pub fn json(&self, who: &str, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["-o", "json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(who, &a)).unwrap()
    }

    /// Runs a command that must fail with one clear line on stderr; returns that line.
    pub fn fails(&self, who: &str, args: &[&str]) -> String {
        let o = self.cmkt(who, args);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(!o.status.success(), "cmkt {args:?} should fail");
        assert!(err.starts_with("Error: "), "{err}");
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{err}"
        );
        err
    }
}

pub fn key(path: &Path) -> Keypair {
    solana_sdk::signature::read_keypair_file(path).unwrap()
}

/// Serves results as providers' workers do, under `/{who}/results/...`: honestly, except under
/// `/liar/...`, where the output's first byte is flipped. Returns the server's URL.
pub async fn result_server(
    output: std::sync::Arc<Vec<u8>>,
    summary: compute_market_client::results::ResultSummaryJson,
) -> String {
    use axum::{extract::Path as P, routing::get, Json, Router};
    let (o1, s1) = (output.clone(), summary.clone());
    let app = Router::new()
        .route(
            "/{who}/results/{root}/summary",
            get(move |_: P<(String, String)>| {
                let s = s1.clone();
                async move { Json(s) }
            }),
        )
        .route(
            "/{who}/results/{root}",
            get(move |P((who, _root)): P<(String, String)>| {
                let mut bytes = o1.to_vec();
                if who == "liar" {
                    bytes[0] ^= 1;
                }
                async move { bytes }
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    url
}
