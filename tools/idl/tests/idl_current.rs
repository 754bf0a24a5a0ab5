//! Fails when idl/compute_market.json no longer matches the program's code.

#[test]
fn committed_idl_is_current() {
    let generated = compute_market_idl::generate().expect("IDL builds");
    let path = compute_market_idl::idl_path();
    let committed = std::fs::read_to_string(&path).expect("idl/compute_market.json is committed");
    assert!(
        committed == generated,
        "{} is stale: run `cargo run -p compute-market-idl` and commit the result",
        path.display()
    );
    let idl: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let mut names: Vec<&str> = idl["instructions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "cancel_job",
            "claim_job",
            "close_provider",
            "commit_result",
            "deliver_result",
            "expire_claim",
            "extend_job",
            "finalize_job",
            "init_market",
            "post_job",
            "publish_offer",
            "register_provider",
            "request_unstake",
            "reveal_result",
            "stake",
            "sweep_surplus",
            "update_market",
            "update_provider",
            "withdraw_stake",
        ]
    );
    assert_eq!(idl["address"], compute_market_address());
}

fn compute_market_address() -> &'static str {
    "CMktmwEXZcTnCWNEdsbnZga5M6fAPPSB51D1zx64Bepp"
}
