//! Publishing the worker's offer on-chain (`publish_offer`): its limits, price floors and
//! runtimes from `[policy]`, and with them that it runs (`Provider::last_seen`), at start-up and
//! every `chain.publish_secs`, so a requester's `cmkt job why` can tell who would take a job.

use super::Worker;
use crate::policy;
use compute_market_client::ix;
use std::{sync::Arc, time::Duration};
use tokio::sync::watch;

impl Worker {
    /// Publishes at once (retrying every 10 s until it lands), then every `publish_secs`
    /// (0: never again) until shutdown. A provider that is not registered yet is skipped until
    /// it is.
    pub(super) async fn publish_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let every = self.settings.config.chain.publish_secs;
        loop {
            let wait = match self.publish().await {
                true if every == 0 => return,
                true => Duration::from_secs(every),
                false => Duration::from_secs(10),
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// One `publish_offer`; whether it landed.
    async fn publish(&self) -> bool {
        let me = self.me();
        match self.rpc(self.chain.provider(&self.market.address, &me).await) {
            Ok(Some(_)) => {}
            // not registered (yet), or the chain unreachable: try again later
            _ => return false,
        }
        let (offer, capabilities) = (
            policy::offer(&self.settings),
            policy::capabilities(&self.settings),
        );
        let publish = ix::publish_offer(&me, &self.market, offer, capabilities);
        match self.send("publish_offer", &[publish]).await {
            Ok(()) => {
                tracing::info!(?offer, capabilities, "offer published");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "publishing the offer failed; retrying");
                false
            }
        }
    }
}
