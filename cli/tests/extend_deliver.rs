//! `cmkt job extend`, `cmkt feed` and `cmkt job deliver` against `cmkt localnet`: a requester
//! gives an open job more time and a higher maximum; a job posted with `--feed` settles, its
//! verified output is opened from the provider's result server and delivered to the sample
//! consumer program, which stores it; the refusals say what is wrong.

use compute_market_client::{
    commitment_hash, ix,
    merkle::{ExitStatus, ResultSummary},
    results::ResultSummaryJson,
    rpc::Chain,
    Pubkey,
};
use solana_sdk::signer::Signer;
use std::{sync::Arc, time::Duration};

mod common;
use common::*;

#[test]
fn cmkt_extends_jobs_and_delivers_results_to_programs() {
    let net = start_localnet();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let chain = Chain::new(&net.info.rpc_url);
    let market: Pubkey = net.info.market.parse().unwrap();
    let market_ref = rt.block_on(chain.market(&market)).unwrap();

    let output = b"pi ~ 3.141593\n".to_vec();
    let summary = ResultSummary::new("wasi-p1v2", ExitStatus::Exited(0), 4_321, &output);
    let server = rt.block_on(result_server(
        Arc::new(output.clone()),
        ResultSummaryJson::from(&summary),
    ));
    net.ok(
        "provider-1",
        &["provider", "register", &format!("{server}/good")],
    );
    net.ok("provider-1", &["provider", "stake", "2000"]);
    let p1 = key(&net.wallet("provider-1"));

    let module = net.dir.join("job.wasm");
    std::fs::write(&module, empty_job()).unwrap();
    let post = |extra: &[&str]| -> Pubkey {
        let mut args = vec![
            "job",
            "post",
            "--module",
            module.to_str().unwrap(),
            "--reward",
            "5",
        ];
        args.extend_from_slice(extra);
        let v = net.json("requester", &args);
        v["job"].as_str().unwrap().parse().unwrap()
    };

    // ---- extend: more time and a higher maximum, the escrow topped up
    let job = post(&["--nonce", "1"]);
    let before = net.json("requester", &["job", "status", &job.to_string()]);
    let e = net.json(
        "requester",
        &[
            "job",
            "extend",
            &job.to_string(),
            "--by",
            "60",
            "--max-reward",
            "6",
            "--ramp",
            "30",
        ],
    );
    assert_eq!(e["top_up"], 1_000_000u64, "{e}");
    assert_eq!(e["reward_per_replica"], 6_000_000u64, "{e}");
    assert_eq!(e["ramp_seconds"], 30, "{e}");
    assert_eq!(
        e["commit_deadline"].as_i64().unwrap(),
        before["commit_deadline"].as_i64().unwrap() + 60,
        "{e}"
    );
    let after = net.json("requester", &["job", "status", &job.to_string()]);
    assert_eq!(after["escrow"], 6_000_000u64, "{after}");
    assert_eq!(
        after["min_reward_per_replica"], 5_000_000u64,
        "the ramp starts at the price then"
    );
    // what cannot be done is refused before anything is sent, naming the rule
    let id = job.to_string();
    for (who, args, says) in [
        (
            "requester",
            vec!["--max-reward", "5"],
            "a maximum only rises",
        ),
        ("requester", vec!["--by", "9999999"], "the market allows"),
        ("requester", vec![], "nothing to extend"),
        ("provider-1", vec!["--by", "10"], "only the job's requester"),
        (
            "requester",
            vec!["--max-reward", "7", "--ramp", "100000"],
            "too late for a claim",
        ),
    ] {
        let mut a = vec!["job", "extend", id.as_str()];
        a.extend(args);
        let err = net.fails(who, &a);
        assert!(err.contains(says), "{says}: {err}");
    }
    // nothing to deliver yet, and nothing ever for a job without a consumer
    let err = net.fails("requester", &["job", "deliver", &id]);
    assert!(err.contains("has not settled"), "{err}");
    net.ok("requester", &["job", "cancel", &id]);
    let err = net.fails("requester", &["job", "deliver", &id]);
    assert!(err.contains("named no consumer"), "{err}");

    // ---- a feed of the sample consumer, and a job that names it
    let f = net.json("requester", &["feed", "create", "--id", "7"]);
    let feed = f["feed"].as_str().unwrap().to_string();
    let job = post(&["--nonce", "2", "--feed", &feed]);
    let live = net.json("requester", &["job", "status", &job.to_string()]);
    assert_eq!(
        live["consumer"]["program"],
        compute_market_harness::CONSUMER_ID.to_string(),
        "{live}"
    );
    assert_eq!(live["consumer"]["accounts"][0]["pubkey"], feed, "{live}");
    // provider-1 runs it honestly; anyone finalizes
    let root = summary.root(&job);
    rt.block_on(async {
        chain
            .claim_when_eligible(&market_ref, &job, &p1, Duration::from_secs(300))
            .await
            .unwrap();
        let c = commitment_hash(&job, &p1.pubkey(), &root, &[1; 32]);
        chain
            .send(
                &[ix::commit_result(&market_ref, &p1.pubkey(), &job, c)],
                &p1,
                &[],
            )
            .await
            .unwrap();
        let reveal = ix::reveal_result(&market_ref, &p1.pubkey(), &job, root, [1; 32]);
        chain.send(&[reveal], &p1, &[]).await.unwrap();
    });
    let s = net.json("provider-2", &["job", "finalize", &job.to_string()]);
    assert_eq!(s["outcome"], "Verified", "{s}");
    assert!(s["consumer"]["delivered_by"].is_null(), "{s}");
    // delivered from another wallet: the output, opened from the provider's server, lands in
    // the feed
    let d = net.json("provider-3", &["job", "deliver", &job.to_string()]);
    assert_eq!(d["output_bytes"], output.len(), "{d}");
    let shown = net.json("requester", &["feed", "show", &feed]);
    assert_eq!(shown["value_hex"], hex::encode(&output), "{shown}");
    assert_eq!(shown["last_job"], job.to_string(), "{shown}");
    let text = net.ok("requester", &["feed", "show", &feed]);
    assert!(text.contains("value: pi ~ 3.141593"), "{text}");
    let s = net.json("requester", &["job", "status", &job.to_string()]);
    let p3 = key(&net.wallet("provider-3")).pubkey().to_string();
    assert_eq!(s["consumer"]["delivered_by"], p3, "{s}");
    let err = net.fails("requester", &["job", "deliver", &job.to_string()]);
    assert!(err.contains("delivered already"), "{err}");

    // a consumer given by hand: refused when it is a token program, accepted otherwise
    let err = net.fails(
        "requester",
        &[
            "job",
            "post",
            "--module",
            module.to_str().unwrap(),
            "--reward",
            "5",
            "--consumer",
            "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
        ],
    );
    assert!(err.contains("--consumer"), "{err}");
    let job = post(&[
        "--nonce",
        "3",
        "--consumer",
        &compute_market_harness::CONSUMER_ID.to_string(),
        "--consumer-data",
        "0102",
        "--consumer-account",
        &format!("{feed}:w"),
    ]);
    let j = rt.block_on(chain.job(&job)).unwrap().unwrap();
    let c = j.consumer.unwrap();
    assert_eq!(c.data_prefix, vec![1, 2]);
    assert!(c.accounts[0].writable);
}
