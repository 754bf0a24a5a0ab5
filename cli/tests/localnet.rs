//! `cmkt localnet` as a user meets it: a start-up with nothing that looks like an error, every
//! port printed and in `localnet.json`, a port given that is taken refused by name, and the
//! faucet behind `requestAirdrop` and `cmkt airdrop`, on two chains running at once.

use assert_cmd::cargo::CommandCargoExt;
use compute_market_client::config::localnet_file;
use compute_market_localnet::bootstrap::LocalnetInfo;
use solana_sdk::{signature::Keypair, signer::Signer};
use std::process::{Command, Stdio};

mod common;
use common::*;

#[test]
fn start_up_is_clean_and_reports_every_port() {
    let dir = std::env::temp_dir().join(format!("cmkt-localnet-clean-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rpc = free_port_pair();
    let out = Command::cargo_bin("cmkt")
        .unwrap()
        .args([
            "localnet",
            "--exit-after-start",
            "--blob-port",
            "0",
            "--nice",
            "3",
        ])
        .args(["--rpc-port", &rpc.to_string()])
        .args(["--localnet-dir", dir.join("keys").to_str().unwrap()])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("local chain ready"), "{stdout}");
    assert!(stdout.contains("faucet"), "{stdout}");
    // a test's child shares the test's session: only its threads are lowered, and it says so
    // (a kernel that does not schedule by autogroup has no session to share)
    let expected = if autogroup_nice(std::process::id()).is_some() {
        "priority    nice 3 for its threads only, as it shares the shell's session"
    } else {
        "priority    nice 3 for its threads\n"
    };
    assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    assert_eq!(alarming(&stdout), Vec::<&str>::new(), "{stdout}");
    assert_eq!(
        stderr.trim(),
        "",
        "nothing on stderr when nothing went wrong"
    );

    let info: LocalnetInfo = serde_json::from_str(
        &std::fs::read_to_string(localnet_file(&dir.join("keys"), "localnet", rpc)).unwrap(),
    )
    .unwrap();
    let p = &info.ports;
    assert_eq!((p.rpc, p.websocket), (rpc, rpc + 1));
    for (name, port) in [
        ("faucet", p.faucet),
        ("gossip", p.gossip),
        ("tpu", p.tpu),
        ("tvu", p.tvu),
        ("repair", p.repair),
        ("blob store", p.blob_store.unwrap_or(0)),
    ] {
        assert!(port > 0, "{name} port reported");
        assert!(
            stdout.contains(&format!("{name} {port}")),
            "{name} {port} printed:\n{stdout}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_port_given_that_is_taken_is_refused_by_name() {
    let dir = std::env::temp_dir().join(format!("cmkt-localnet-taken-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // held for the whole test: TCP and UDP, as gossip binds both
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = tcp.local_addr().unwrap().port();
    let _udp = std::net::UdpSocket::bind(("127.0.0.1", taken));
    for (flag, what) in [
        ("--gossip-port", "gossip port"),
        ("--rpc-port", "RPC port"),
        ("--faucet-port", "faucet port"),
    ] {
        let mut args = vec![
            "localnet".to_string(),
            "--exit-after-start".into(),
            "--blob-port".into(),
            "0".into(),
        ];
        if flag != "--rpc-port" {
            args.extend(["--rpc-port".into(), free_port_pair().to_string()]);
        }
        args.extend([flag.to_string(), taken.to_string()]);
        let out = Command::cargo_bin("cmkt")
            .unwrap()
            .args(&args)
            .args(["--localnet-dir", dir.join("keys").to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag} {taken} must fail");
        assert!(
            err.starts_with("Error: ") && err.contains(what) && err.contains(&taken.to_string()),
            "{flag}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    drop(tcp);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn airdrops_land_on_two_chains_running_at_once() {
    // both on one keys directory, as two `cmkt localnet` with the default --localnet-dir would be
    let keys = std::env::temp_dir().join(format!("cmkt-two-chains-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&keys);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| start_localnet_with_keys(Some(&keys)));
        let b = s.spawn(|| start_localnet_with_keys(Some(&keys)));
        (a.join().unwrap(), b.join().unwrap())
    });
    // each chain's description and upgrade authority in a file of its own, found by its URL
    assert_ne!(a.info.market, b.info.market, "two ledgers, two authorities");
    assert_ne!(a.info.authority_keypair, b.info.authority_keypair);
    for net in [&a, &b] {
        let v = net.json("requester", &["market", "show"]);
        assert_eq!(v["address"], net.info.market.as_str(), "{v}");
        assert_eq!(
            key(&net.info.authority_keypair).pubkey().to_string(),
            v["authority"].as_str().unwrap(),
            "the authority file holds this chain's authority"
        );
    }
    // the demo wallets are shared keypairs: funded on both chains
    for net in [&a, &b] {
        let v = net.json("requester", &["airdrop", "1"]);
        assert!(
            v["balance_lamports"].as_u64().unwrap() > 100_000_000_000u64,
            "{v}"
        );
    }
    let ports = |n: &Net| {
        let p = &n.info.ports;
        vec![
            p.rpc,
            p.websocket,
            p.faucet,
            p.gossip,
            p.tpu,
            p.tvu,
            p.repair,
        ]
    };
    let shared: Vec<u16> = ports(&a)
        .into_iter()
        .filter(|p| ports(&b).contains(p))
        .collect();
    assert!(shared.is_empty(), "ports bound by both chains: {shared:?}");

    let who = Keypair::new().pubkey().to_string();
    let v = a.json("requester", &["airdrop", "2", &who]);
    assert_eq!(v["balance_lamports"], 2_000_000_000u64);
    let v = b.json("requester", &["airdrop", "0.25", &who, "--tokens", "7.5"]);
    assert_eq!(
        v["balance_lamports"], 250_000_000u64,
        "the other chain has its own faucet and its own balances"
    );
    assert_eq!(v["token_balance"], 7_500_000u64);

    // over the cap, nonsense, and a cluster without localnet.json for --tokens
    let err = a.fails("requester", &["airdrop", "1001", &who]);
    assert!(err.contains("at most 1000 SOL"), "{err}");
    let err = a.fails("requester", &["airdrop", "-1", &who]);
    assert!(err.contains("positive"), "{err}");
    let err = a.fails("requester", &["airdrop", "1", "not-an-address"]);
    assert!(err.contains("recipient"), "{err}");
    // the faucet's own refusal, asked directly over JSON-RPC (what web3.js sends)
    let rt = tokio::runtime::Runtime::new().unwrap();
    let chain = compute_market_client::rpc::Chain::new(&a.info.rpc_url);
    let over = rt.block_on(chain.request_airdrop(&Keypair::new().pubkey(), 1_001_000_000_000));
    assert!(over.is_err(), "the faucet refuses more than its cap");
    // and the balance the first airdrop left is still there
    let v = a.json("requester", &["airdrop", "1", &who]);
    assert_eq!(v["balance_lamports"], 3_000_000_000u64);
    drop((a, b));
    let _ = std::fs::remove_dir_all(&keys);
}

/// Field 19 of a `/proc/…/stat` line: the nice value.
fn stat_nice(stat: &str) -> Option<i32> {
    // after `(comm) `: field 3 (state) onwards; comm may hold spaces and parentheses
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(19 - 3)?
        .parse()
        .ok()
}

/// The nice value of thread `name` of process `pid` (threads that end meanwhile are skipped).
fn thread_nice(pid: u32, name: &str) -> i32 {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let Ok(task) = task else { continue };
        let dir = task.path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if comm.trim() != name {
            continue;
        }
        if let Some(nice) = std::fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|s| stat_nice(&s))
        {
            return nice;
        }
    }
    panic!("process {pid} has no thread {name}");
}

/// The nice value this test runs at, which a chain it starts inherits.
fn own_nice() -> i32 {
    stat_nice(&std::fs::read_to_string("/proc/thread-self/stat").unwrap()).unwrap()
}

/// `nice 7` as `/proc/PID/autogroup` says it, when the kernel schedules by autogroup.
fn autogroup_nice(pid: u32) -> Option<i32> {
    let enabled = std::fs::read_to_string("/proc/sys/kernel/sched_autogroup_enabled").ok()?;
    if enabled.trim() == "0" {
        return None;
    }
    let line = std::fs::read_to_string(format!("/proc/{pid}/autogroup")).ok()?;
    line.rsplit_once("nice ")?.1.trim().parse().ok()
}

#[test]
fn a_niced_chain_lowers_its_own_threads_and_never_the_callers_session() {
    const POLLER: &str = "solBnkTxSched"; // busy-polls while leader: always the lowest priority
    const REPLAY: &str = "solReplayStage"; // any other thread of the validator
    let own = autogroup_nice(std::process::id());
    // a chain starts at the test's own nice value and may only go up from there
    let base = own_nice();
    // without --nice only the poller is lowered
    let net = start_localnet();
    let pid = net.child.id();
    assert_eq!(
        (thread_nice(pid, POLLER), thread_nice(pid, REPLAY)),
        (19, base)
    );
    assert_eq!(autogroup_nice(pid), own);
    drop(net);

    // started from this test's session: every thread, and the session's autogroup, which the
    // test shares, left alone
    let net = start_localnet_with(None, None, &["--nice", "7"]);
    let pid = net.child.id();
    assert_eq!(
        (thread_nice(pid, POLLER), thread_nice(pid, REPLAY)),
        (19, base.max(7))
    );
    assert_eq!(
        autogroup_nice(pid),
        own,
        "the shared session's autogroup is untouched"
    );
    assert_eq!(autogroup_nice(std::process::id()), own);
    // the chain still answers: a niced chain is slower to schedule, not broken
    let who = Keypair::new().pubkey().to_string();
    let v = net.json("requester", &["airdrop", "1", &who]);
    assert_eq!(v["balance_lamports"], 1_000_000_000u64);
    drop(net);

    // in a session of its own (as `setsid cmkt localnet`): its autogroup as well
    let net = start_localnet_with(None, Some("setsid"), &["--nice", "7"]);
    let pid = net.child.id();
    assert_eq!(thread_nice(pid, REPLAY), base.max(7));
    if own.is_some() {
        // a new session starts a new autogroup at nice 0
        assert_eq!(autogroup_nice(pid), Some(7));
    }
    assert_eq!(autogroup_nice(std::process::id()), own);
}
