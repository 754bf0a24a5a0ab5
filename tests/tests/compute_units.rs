//! Compute units measured by the runtime (the shipped .so in LiteSVM with mainnet's features)
//! against the limits clients request: every instruction, n = 1, 3 and 8, both token programs.

use compute_market_client::budget;
use compute_market_harness::cu;

#[test]
fn every_instruction_fits_the_limit_clients_request() {
    let rows = cu::measure().expect("every measured transaction succeeds");
    println!(
        "{:<36} {:>2} {:<10} {:>7} {:>7} {:>7}",
        "instruction", "n", "token", "units", "search", "limit"
    );
    for r in &rows {
        println!(
            "{:<36} {:>2} {:<10} {:>7} {:>7} {:>7}",
            r.instruction, r.replicas, r.token, r.units, r.pda_search, r.limit
        );
    }
    // a finalize's limit counts exactly its held slots (the builder's fixed accounts match the
    // budget's count of them)
    for r in rows
        .iter()
        .filter(|r| r.instruction.starts_with("finalize_job"))
    {
        let want = budget::program_limit("finalize_job", r.held).unwrap();
        assert_eq!(r.limit, u64::from(want) + r.pda_search, "{r:?}");
    }
    // the bump searches counted are all there are: instructions measured at several addresses
    // use the same units once the searches are taken off (markets and providers differ only in
    // their addresses)
    for name in [
        "init_market",
        "register_provider",
        "post_job (with a consumer)",
    ] {
        for token in ["SPL Token", "Token-2022"] {
            let rest: Vec<u64> = rows
                .iter()
                .filter(|r| r.instruction == name && r.token == token)
                .map(|r| r.units - r.pda_search)
                .collect();
            assert!(
                rest.len() >= 4,
                "{name} ({token}) measured {} times",
                rest.len()
            );
            assert!(
                rest.iter().all(|u| *u == rest[0]),
                "{name} ({token}) spends units that vary with its addresses beyond the bump \
                 searches counted: {rest:?}"
            );
        }
    }
    let over: Vec<_> = rows.iter().filter(|r| r.units > r.limit).collect();
    assert!(over.is_empty(), "over the limit clients request: {over:#?}");
    for (name, _, _) in budget::PROGRAM_LIMITS {
        let measured: Vec<_> = rows
            .iter()
            .filter(|r| r.instruction.split(' ').next() == Some(*name))
            .collect();
        assert!(!measured.is_empty(), "{name} was not measured");
        // the limit stays close to the need: at most twice the largest call's units
        let worst = measured.iter().max_by_key(|r| r.units).unwrap();
        assert!(
            worst.limit <= 2 * worst.units,
            "the limit of {name} ({}) is more than twice its largest need ({})",
            worst.limit,
            worst.units
        );
    }
}
