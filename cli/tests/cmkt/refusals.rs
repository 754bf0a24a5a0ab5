//! What `cmkt` refuses, one clear line each, on the chain `cmkt.rs`'s test drives (a test of
//! its own would start another chain).

use crate::common::Net;
use assert_cmd::cargo::CommandCargoExt;
use compute_market_client::Pubkey;
use std::{path::Path, process::Command};

/// Arguments `cmkt` refuses before anything reaches the chain, or that the requester's balance
/// cannot pay: `module` is a valid job, `input` a file that is not one.
pub fn bad_input(net: &Net, module: &Path, input: &Path) {
    let (m, inp) = (module.to_str().unwrap(), input.to_str().unwrap());
    let cases: [(&[&str], &str); 9] = [
        (
            &[
                "job",
                "post",
                "--module",
                m,
                "--reward",
                "1",
                "--min-reward",
                "2",
                "--ramp",
                "10",
            ],
            "--min-reward is above --reward",
        ),
        (
            &[
                "job",
                "post",
                "--module",
                m,
                "--reward",
                "2",
                "--min-reward",
                "1",
                "--ramp",
                "301",
            ],
            "too late for a claim at the maximum (the commit deadline is at 300 s",
        ),
        (
            &["job", "status", "not-an-address"],
            "not a valid base58 address",
        ),
        (
            &[
                "job",
                "post",
                "--module",
                "/nonexistent.wasm",
                "--reward",
                "1",
            ],
            "reading module /nonexistent.wasm",
        ),
        (
            &["job", "post", "--module", inp, "--reward", "1"],
            "is not a WebAssembly module",
        ),
        (
            &["job", "post", "--module", m, "--reward", "1.0000001"],
            "at most 6 decimals",
        ),
        (
            &["job", "post", "--module", m, "--reward", "99999999"],
            "not enough tokens",
        ),
        (
            &[
                "job",
                "post",
                "--module",
                m,
                "--reward",
                "1",
                "--replicas",
                "3",
                "--quorum",
                "4",
            ],
            "--quorum 4 is not a strict majority of --replicas 3",
        ),
        (
            &[
                "job",
                "post",
                "--module",
                m,
                "--reward",
                "1",
                "--replicas",
                "2",
                "--quorum",
                "1",
            ],
            "n / 2 < k <= n",
        ),
    ];
    for (args, expected) in cases {
        let err = net.fails("requester", args);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

/// Refusals that read the chain: `why` of a job that settled (`settled`), a wallet given as a
/// payment mint, a wallet with no keypair file, and an RPC endpoint nobody answers.
pub fn on_chain(net: &Net, settled: &Pubkey, market: &Pubkey, requester: &Pubkey) {
    let err = net.fails("requester", &["job", "why", &settled.to_string()]);
    assert!(err.contains("is not open: it settled"), "{err}");
    assert!(
        net.fails(
            "requester",
            &["market", "init", "--payment-mint", &requester.to_string()]
        )
        .contains("is not a token mint"),
        "a wallet is not a mint"
    );
    assert!(net
        .fails("nobody", &["job", "cancel", &settled.to_string()])
        .contains("keypair file"));
    let o = Command::cargo_bin("cmkt")
        .unwrap()
        .args([
            "--url",
            "http://127.0.0.1:9",
            "--config",
            "/nonexistent",
            "market",
            "show",
            "--market",
            &market.to_string(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("is not reachable"),
        "{err}"
    );
}
