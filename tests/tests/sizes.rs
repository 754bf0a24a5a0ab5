//! Account sizes on the chain match the documented layouts, and what each locks in rent.

mod common;

use common::*;
use compute_market_client::{constants::MAX_EXPIRED_CLAIMS, Job, Market, Provider, Settlement};
use solana_sdk::signer::Signer;

#[test]
fn accounts_have_their_documented_sizes() {
    let mut env = Env::new();
    let r = env.requester(100_000);
    let p = env.provider_with_stake(1_000);
    let uri = env.post_args(1, 1, 1, 1).manifest_uri.len();
    let job = env.post(&r, 1, 10_000, 1, 1);
    let job3 = env.post(&r, 3, 10_000, 3, 2);

    let size = |env: &Env, a| env.account(&a).unwrap().data.len();
    assert_eq!(size(&env, env.market.address), Market::SIZE);
    assert_eq!(size(&env, env.market.provider(&p.pubkey())), Provider::SIZE);
    assert_eq!(size(&env, job), Job::space(1, uri));
    assert_eq!(size(&env, job3), Job::space(3, uri));
    // the job holds its rent plus the settlement deposit
    let job_rent = env
        .svm
        .minimum_balance_for_rent_exemption(Job::space(1, uri));
    let deposit = env
        .svm
        .minimum_balance_for_rent_exemption(Settlement::space(1, MAX_EXPIRED_CLAIMS as usize));
    assert_eq!(env.lamports(&job), job_rent + deposit);

    env.claim(&p, &job).unwrap();
    env.commit(&p, &job, [1; 32], salt(1)).unwrap();
    env.reveal(&p, &job, [1; 32], salt(1)).unwrap();
    env.finalize(&p, &job).unwrap();
    assert_eq!(
        size(&env, env.market.settlement(&job)),
        Settlement::space(1, 0)
    );

    let rent = |n: usize| env.svm.minimum_balance_for_rent_exemption(n);
    println!("account                       bytes   rent (lamports)");
    for (name, bytes) in [
        ("Market", Market::SIZE),
        ("Provider", Provider::SIZE),
        ("Job n=1 (uri 200 B)", Job::space(1, 200)),
        ("Job n=3 (uri 200 B)", Job::space(3, 200)),
        ("Job n=8 (uri 200 B)", Job::space(8, 200)),
        ("Settlement n=1", Settlement::space(1, 0)),
        ("Settlement n=3", Settlement::space(3, 0)),
        ("Settlement n=8", Settlement::space(8, 0)),
        ("Settlement n=8, 16 expired", Settlement::space(8, 16)),
    ] {
        println!("{name:<28} {bytes:>6} {:>16}", rent(bytes));
    }
}
