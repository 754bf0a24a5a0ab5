//! `cmkt program deploy` against `cmkt localnet`: the program built for a fresh program id
//! (`scripts/build-sbf --program-id cli/tests/fixtures/second-program-keypair.json`) is written
//! through a buffer and deployed by the upgradeable loader, a deploy killed half-way resumes
//! with the same buffer, and then a market on the new program id settles a job run by a worker.

mod common;

use assert_cmd::cargo::CommandCargoExt;
use common::*;
use compute_market_client::{deployment, rpc::Chain, Pubkey};
use solana_sdk::signer::Signer;
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The .so built for the fixture's program id; `scripts/test` builds it.
fn second_so() -> PathBuf {
    let path = std::env::var_os("CMKT_SECOND_PROGRAM_SO")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/deploy/compute_market-second.so"));
    assert!(
        path.exists(),
        "{} is missing: build it with scripts/build-sbf --program-id cli/tests/fixtures/second-program-keypair.json --out target/deploy/compute_market-second.so",
        path.display()
    );
    path
}

#[test]
fn a_fresh_program_id_is_deployed_resumed_and_settles_a_job() {
    let net = start_localnet();
    let program_kp = workspace().join("cli/tests/fixtures/second-program-keypair.json");
    let program = key(&program_kp).pubkey();
    let so = second_so();
    let elf = std::fs::read(&so).unwrap();
    assert!(deployment::declares(&elf, &program));
    assert!(!deployment::declares(
        &elf,
        &compute_market_client::PROGRAM_ID
    ));
    let (so_s, kp_s) = (so.to_str().unwrap(), program_kp.to_str().unwrap());

    // bad input first: the default build at the fresh id, and a fresh id without its keypair
    let e = net.fails(
        "authority",
        &["program", "deploy", "--program-keypair", kp_s],
    );
    assert!(e.contains("does not declare program id"), "{e}");
    let pid = program.to_string();
    let e = net.fails(
        "authority",
        &["--program-id", &pid, "program", "deploy", so_s],
    );
    assert!(e.contains("nothing is deployed"), "{e}");

    // a deploy killed while it writes the buffer ...
    let mut child = net
        .command("authority")
        .args(["program", "deploy", so_s, "--program-keypair", kp_s])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let total = loop {
        let line = lines.next().expect("the deploy reports progress").unwrap();
        // "writing the buffer: DONE/TOTAL (P%)" every 10%
        if let Some(rest) = line.strip_prefix("writing the buffer: ") {
            let (done, total) = rest.split_once(' ').unwrap().0.split_once('/').unwrap();
            let (done, total): (usize, usize) = (done.parse().unwrap(), total.parse().unwrap());
            if done * 5 >= total {
                break total;
            }
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let chain = Chain::new(&net.info.rpc_url);
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert!(rt
        .block_on(chain.deployment(Some(&program)))
        .unwrap()
        .is_none());

    // ... resumes with the same buffer and writes only what it does not hold yet
    let o = net.cmkt(
        "authority",
        &[
            "-o",
            "json",
            "program",
            "deploy",
            so_s,
            "--program-keypair",
            kp_s,
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("resuming with buffer"), "{err}");
    let first = err
        .lines()
        .find_map(|l| l.strip_prefix("writing the buffer: 0/"))
        .expect("progress of the resumed writes");
    let rewritten: usize = first.split(' ').next().unwrap().parse().unwrap();
    assert!(rewritten < total, "resumed {rewritten} of {total} chunks");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["program"], pid);
    assert_eq!(v["matches"], true);
    assert_eq!(v["sha256"], deployment::sha256_hex(&elf));
    println!("deployed {pid}: resumed {rewritten} of {total} chunks");

    // the cluster holds exactly these bytes, upgradable by the deployer; a second deploy is a no-op
    let d = rt
        .block_on(chain.deployment(Some(&program)))
        .unwrap()
        .unwrap();
    assert!(d.is(&elf));
    assert_eq!(
        d.upgrade_authority,
        Some(key(&net.wallet("authority")).pubkey())
    );
    let shown = net.json(
        "authority",
        &["--program-id", &pid, "program", "show", "--so", so_s],
    );
    assert_eq!(shown["matches"], true);
    let again = net.cmkt(
        "authority",
        &["program", "deploy", so_s, "--program-keypair", kp_s],
    );
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to deploy"));

    // a market on the new program, a provider and its worker, a job that settles
    let mint = net.info.mint.clone();
    let m = net.json(
        "authority",
        &[
            "--program-id",
            &pid,
            "market",
            "init",
            "--payment-mint",
            &mint,
            "--claim-timeout",
            "60",
            "--reveal-window",
            "30",
        ],
    );
    let market = m["market"].as_str().unwrap().to_string();
    let market_key: Pubkey = market.parse().unwrap();
    let on = |args: &[&str]| -> Vec<String> {
        ["--program-id", &pid, "-m", &market]
            .iter()
            .chain(args)
            .map(|s| s.to_string())
            .collect()
    };
    let listen = format!("127.0.0.1:{}", free_port_pair());
    let endpoint = format!("http://{listen}");
    let args = on(&["provider", "register", &endpoint]);
    net.ok(
        "provider-1",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let args = on(&["provider", "stake", "5000"]);
    net.ok(
        "provider-1",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let config = net.dir.join("worker.toml");
    std::fs::write(
        &config,
        format!(
            "rpc_url = {:?}\nkeypair = {:?}\nmarket = \"{market}\"\nprogram_id = \"{pid}\"\ndata_dir = {:?}\n[server]\nlisten = {listen:?}\n",
            net.info.rpc_url,
            net.wallet("provider-1"),
            net.dir.join("worker"),
        ),
    )
    .unwrap();
    let mut worker = Command::cargo_bin("cmkt")
        .unwrap()
        .args(["worker", "run", "--config", config.to_str().unwrap()])
        .args(["--localnet-dir", net.keys().to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(net.dir.join("worker.log")).unwrap())
        .spawn()
        .unwrap();
    let module = workspace().join("examples/jobs/wasm/hash-chain.wasm");
    let input = net.dir.join("input.txt");
    std::fs::write(&input, "deployed elsewhere").unwrap();
    let args = on(&[
        "job",
        "post",
        "--module",
        module.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--arg",
        "1000",
        "--reward",
        "2",
        "--wait",
        "--timeout",
        "120",
    ]);
    let t = Instant::now();
    let posted = net.cmkt(
        "requester",
        &[
            &["-o", "json"],
            &args.iter().map(String::as_str).collect::<Vec<_>>()[..],
        ]
        .concat(),
    );
    let _ = worker.kill();
    let _ = worker.wait();
    assert!(
        posted.status.success(),
        "{}\nworker log:\n{}",
        String::from_utf8_lossy(&posted.stderr),
        std::fs::read_to_string(net.dir.join("worker.log")).unwrap_or_default()
    );
    let v: serde_json::Value = serde_json::from_slice(&posted.stdout).unwrap();
    assert_eq!(v["outcome"], "Verified", "{v:#}");
    println!("a job on {pid} settled in {:?}", t.elapsed());
    // the settlement belongs to the new program
    let chain = chain.with_program(program);
    let settlements = rt.block_on(chain.settlements(&market_key)).unwrap();
    assert_eq!(settlements.len(), 1);
}
