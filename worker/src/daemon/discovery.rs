//! Discovery: a websocket program subscription to the market's open jobs, with
//! `getProgramAccounts` polling while the socket is down and a slow safety rescan while it is up.
//! Every job seen goes to the scheduler.

use super::{Worker, WEBSOCKET_OFF};
use compute_market_client::{Job, Pubkey};
use futures_util::StreamExt;
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_pubsub_client::nonblocking::pubsub_client::PubsubClient;
use solana_rpc_client_api::{
    config::{RpcAccountInfoConfig, RpcProgramAccountsConfig},
    filter::{Memcmp, RpcFilterType},
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::mpsc;

impl Worker {
    /// Filters of the market's open jobs: the Job discriminator, the market, status `Open`.
    pub(super) fn open_job_filters(&self) -> Vec<RpcFilterType> {
        use anchor_lang::Discriminator;
        vec![
            RpcFilterType::Memcmp(Memcmp::new_raw_bytes(0, Job::DISCRIMINATOR.to_vec())),
            RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                compute_market_client::program::state::JOB_MARKET_OFFSET,
                self.market.address.to_bytes().to_vec(),
            )),
            RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                compute_market_client::program::state::JOB_STATUS_OFFSET,
                vec![0],
            )),
        ]
    }

    pub(super) async fn scan(&self, tx: &mpsc::UnboundedSender<(Pubkey, Option<Job>)>) {
        match self.rpc(self.chain.open_jobs(&self.market.address).await) {
            Ok(jobs) => {
                for (address, job) in jobs {
                    let _ = tx.send((address, Some(job)));
                }
            }
            Err(e) => tracing::warn!(error = %e, "getProgramAccounts scan failed"),
        }
    }

    /// Websocket subscription with polling fallback; never returns before shutdown.
    pub(super) async fn discover(
        self: Arc<Self>,
        tx: mpsc::UnboundedSender<(Pubkey, Option<Job>)>,
    ) {
        let c = &self.settings.config.chain;
        let mut shutdown = self.shutdown.clone();
        let mut backoff = Duration::from_secs(1);
        if self.settings.ws_url == WEBSOCKET_OFF {
            tracing::info!(
                every_secs = c.fallback_poll_secs,
                "websocket off: polling for open jobs"
            );
            return self.poll(&tx, None).await;
        }
        while !self.stopping() {
            let connected = async {
                let client = PubsubClient::new(self.settings.ws_url.as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                let config = RpcProgramAccountsConfig {
                    filters: Some(self.open_job_filters()),
                    account_config: RpcAccountInfoConfig {
                        encoding: Some(UiAccountEncoding::Base64),
                        commitment: Some(solana_commitment_config::CommitmentConfig::confirmed()),
                        ..RpcAccountInfoConfig::default()
                    },
                    ..RpcProgramAccountsConfig::default()
                };
                let (mut stream, _unsubscribe) = client
                    .program_subscribe(&self.market.program, Some(config))
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(url = %self.settings.ws_url, "subscribed to the market's open jobs");
                self.metrics.set("cmkt_worker_websocket_connected", 1.0);
                // catch up on what was posted while not subscribed
                self.scan(&tx).await;
                let mut rescan = tokio::time::interval(Duration::from_secs(c.rescan_secs.max(1)));
                rescan.tick().await;
                loop {
                    tokio::select! {
                        msg = stream.next() => match msg {
                            Some(update) => {
                                let Ok(address) = update.value.pubkey.parse::<Pubkey>() else { continue };
                                let job = update.value.account.to_account().and_then(|acc| {
                                    compute_market_client::decode::<Job>(&address, "Job", &acc.data).ok()
                                });
                                let _ = tx.send((address, job));
                            }
                            None => break,
                        },
                        _ = rescan.tick() => self.scan(&tx).await,
                        _ = shutdown.changed() => break,
                    }
                }
                drop(stream);
                Ok::<_, String>(())
            }
            .await;
            self.metrics.set("cmkt_worker_websocket_connected", 0.0);
            if self.stopping() {
                break;
            }
            match connected {
                Ok(()) => {
                    tracing::warn!("websocket closed; polling until it is back");
                    backoff = Duration::from_secs(1);
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "websocket unavailable; polling")
                }
            }
            // fall back to polling until the next reconnection attempt
            self.poll(&tx, Some(Instant::now() + backoff)).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    /// Scans for open jobs every `fallback_poll_secs` until `until` (without one, until
    /// shutdown).
    pub(super) async fn poll(
        &self,
        tx: &mpsc::UnboundedSender<(Pubkey, Option<Job>)>,
        until: Option<Instant>,
    ) {
        let every = Duration::from_secs(self.settings.config.chain.fallback_poll_secs.max(1));
        let mut shutdown = self.shutdown.clone();
        while until.is_none_or(|u| Instant::now() < u) && !self.stopping() {
            self.scan(tx).await;
            let pause = match until {
                Some(u) => every
                    .min(u.saturating_duration_since(Instant::now()))
                    .max(Duration::from_millis(100)),
                None => every,
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
