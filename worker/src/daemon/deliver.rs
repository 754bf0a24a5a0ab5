//! Delivering a verified result to the program its job named (`deliver_result`), from the
//! output this worker computed and keeps for its result server. Any provider that agreed may
//! deliver; the first delivery that lands counts, the others are refused in simulation at no
//! fee. A consumer that refuses is reported and left to a retry by anyone (`cmkt job deliver`).

use super::Worker;
use compute_market_client::{deliver::DeliverError, merkle::ResultSummary, Pubkey, Settlement};

/// The most compute units a delivery may use for this worker to send it (it pays the fee):
/// requesters choose consumers, and a consumer's work is its own.
pub const MAX_DELIVERY_UNITS: u64 = 200_000;

impl Worker {
    /// Delivers `job`'s result when it named a consumer not served yet; counts the outcome in
    /// `cmkt_worker_deliveries_total{result}`.
    pub(super) async fn deliver(&self, job: &Pubkey, s: &Settlement) {
        if s.delivery.as_ref().is_none_or(|d| d.delivered_slot != 0) {
            return;
        }
        let root = hex::encode(s.result_root);
        let opening = self
            .journal
            .result(&root)
            .and_then(|(json, output)| Some(ResultSummary::try_from(&json).ok()?.opening(&output)));
        let Some(opening) = opening else {
            tracing::warn!(job = %job, "no stored output opens the settled root: not delivering");
            self.metrics
                .inc("cmkt_worker_deliveries_total", &[("result", "no_output")]);
            return;
        };
        let sent = self
            .chain
            .deliver(&self.me, job, Some(opening), MAX_DELIVERY_UNITS)
            .await;
        let result = match sent {
            Ok(sig) => {
                tracing::info!(job = %job, %sig, "result delivered to the job's consumer");
                "delivered"
            }
            Err(DeliverError::Delivered(_)) => "already",
            Err(DeliverError::TooCostly { units, .. }) => {
                tracing::warn!(job = %job, units, "the delivery costs more units than a worker pays for; left to others");
                "too_costly"
            }
            Err(DeliverError::Consumer { program, reason }) => {
                tracing::warn!(job = %job, consumer = %program, %reason, "the job's consumer refused the delivery");
                "consumer_refused"
            }
            Err(e) => {
                tracing::warn!(job = %job, error = %e, "delivery failed");
                "failed"
            }
        };
        self.metrics
            .inc("cmkt_worker_deliveries_total", &[("result", result)]);
    }
}
