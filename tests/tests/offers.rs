//! Providers publish what their worker accepts (`publish_offer`): limits, price floors and
//! runtimes, with the time they did, which is how `cmkt job why` tells who would take a job and
//! who is offline. Only the provider's owner may publish for it.

mod common;

use common::*;
use compute_market_client::{ix, ProviderOffer};
use solana_sdk::signer::Signer;

fn offer() -> ProviderOffer {
    ProviderOffer {
        max_fuel: 50_000_000_000,
        max_memory: 1 << 30,
        max_output: 64 << 20,
        min_price: 7,
        price_per_gfuel: 11,
        price_per_mib: 13,
    }
}

#[test]
fn the_owner_publishes_its_offer_and_the_time_it_did() {
    let mut env = Env::new();
    let p = env.provider_with_stake(1_000);
    let before = env.provider(&p.pubkey()).unwrap();
    assert_eq!(
        (before.offer, before.last_seen),
        (ProviderOffer::default(), 0)
    );
    let market = env.market.clone();
    env.send(
        &[ix::publish_offer(&p.pubkey(), &market, offer(), 0b10)],
        &[&p],
    )
    .unwrap();
    let after = env.provider(&p.pubkey()).unwrap();
    assert_eq!(after.offer, offer());
    assert_eq!((after.capabilities, after.last_seen), (0b10, env.now()));
    // a republication later moves the heartbeat and nothing else of the account
    env.warp(600);
    env.send(
        &[ix::publish_offer(&p.pubkey(), &market, offer(), 0b10)],
        &[&p],
    )
    .unwrap();
    let again = env.provider(&p.pubkey()).unwrap();
    assert_eq!(again.last_seen, after.last_seen + 600);
    assert_eq!(
        (again.stake, again.endpoint.clone()),
        (after.stake, after.endpoint)
    );
}

#[test]
fn nobody_else_publishes_for_a_provider() {
    let mut env = Env::new();
    let p = env.provider_with_stake(1_000);
    let stranger = env.wallet();
    let market = env.market.clone();
    // the stranger signs for the provider's account: the seeds name the signer, not the owner
    let mut forged = ix::publish_offer(&stranger.pubkey(), &market, offer(), 3);
    forged.accounts[1].pubkey = market.provider(&p.pubkey());
    assert_anchor_err(
        env.send(&[forged], &[&stranger]),
        AnchorError::ConstraintSeeds,
    );
    // the owner's instruction without the owner's signature
    let unsigned = ix::publish_offer(&p.pubkey(), &market, offer(), 3);
    let mut tx_ix = unsigned.clone();
    tx_ix.accounts[0].is_signer = false;
    assert!(env.send(&[tx_ix], &[&stranger]).is_err());
    let st = env.provider(&p.pubkey()).unwrap();
    assert_eq!((st.offer, st.last_seen), (ProviderOffer::default(), 0));
}
