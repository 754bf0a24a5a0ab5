//! Delivering a settled job's outcome to the program it named (`deliver_result`). The
//! consumer's cost is unknown to this SDK, so a delivery is simulated first: a consumer that
//! refuses costs no fee and is reported with its own error, and a delivery that passes is sent
//! with the units the simulation used plus a margin.

use crate::rpc::Chain;
use crate::{ix, rpc::ChainError, DeliveredResult, Instruction, Pubkey, Settlement};
use solana_commitment_config::CommitmentConfig;
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_rpc_client_api::config::RpcSimulateTransactionConfig;
use solana_sdk::{
    signature::{Keypair, Signature},
    signer::Signer,
    transaction::Transaction,
};

/// Why a delivery did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The job has no settlement record yet.
    #[error("job {0} has not settled")]
    NotSettled(Pubkey),
    /// The job named no consumer.
    #[error("job {0} named no consumer: there is nothing to deliver")]
    NoConsumer(Pubkey),
    /// A delivery succeeded already (at this chain slot).
    #[error("the result was delivered already (slot {0})")]
    Delivered(u64),
    /// The consumer program refused the delivery (simulated; nothing was sent).
    #[error("the consumer {program} refused the delivery: {reason}")]
    Consumer { program: Pubkey, reason: String },
    /// The delivery needs more compute units than the sender pays for (simulated; nothing was
    /// sent).
    #[error("the delivery needs {units} compute units, more than the {max} allowed")]
    TooCostly { units: u64, max: u64 },
    /// The market program refused it, or the chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// Units added to what a simulated delivery used: the consumer's cost may move a little with
/// the state it reads.
pub const DELIVERY_MARGIN_UNITS: u64 = 5_000;

/// The first program that failed in a transaction's logs (the innermost: it logs its failure
/// before its callers do), with its last `AnchorError`/`Error` line or its failure reason.
pub fn failing_program(logs: &[String]) -> Option<(Pubkey, String)> {
    let at = logs
        .iter()
        .position(|l| l.starts_with("Program ") && l.contains(" failed: "))?;
    let line = &logs[at];
    let program = line.split_whitespace().nth(1)?.parse().ok()?;
    let reason = logs[..at]
        .iter()
        .rev()
        .find(|l| l.contains("AnchorError") || l.contains("Error Message"))
        .cloned()
        .unwrap_or_else(|| line.clone());
    Some((program, reason))
}

impl Chain {
    /// Simulates `ixs` under the largest compute limit; the units they used, or why they fail
    /// (with the transaction's logs).
    pub async fn simulate_units(
        &self,
        ixs: &[Instruction],
        payer: &Keypair,
    ) -> Result<u64, (ChainError, Vec<String>)> {
        let mut all = vec![ComputeBudgetInstruction::set_compute_unit_limit(
            crate::budget::MAX_TRANSACTION_UNITS,
        )];
        all.extend_from_slice(ixs);
        let rpc_err =
            |e: solana_rpc_client_api::client_error::Error| (self.rpc_error(e, &all), Vec::new());
        let blockhash = self
            .rpc
            .get_latest_blockhash_with_commitment(CommitmentConfig::confirmed())
            .await
            .map_err(rpc_err)?
            .0;
        let tx =
            Transaction::new_signed_with_payer(&all, Some(&payer.pubkey()), &[payer], blockhash);
        let config = RpcSimulateTransactionConfig {
            sig_verify: false,
            replace_recent_blockhash: true,
            commitment: Some(CommitmentConfig::confirmed()),
            ..Default::default()
        };
        let sim = self
            .rpc
            .simulate_transaction_with_config(&tx, config)
            .await
            .map_err(rpc_err)?
            .value;
        let logs = sim.logs.unwrap_or_default();
        match sim.err {
            Some(err) => Err((self.refused(err.into(), &all), logs)),
            None => Ok(sim
                .units_consumed
                .unwrap_or(u64::from(crate::budget::MAX_TRANSACTION_UNITS))),
        }
    }

    /// Delivers `job`'s outcome to its consumer (`result`: the opening of a verified result,
    /// `ResultSummary::opening`; `None` for other outcomes), paid by `payer`, unless the
    /// delivery would need more than `max_units` compute units (the consumer's work is its own).
    pub async fn deliver(
        &self,
        payer: &Keypair,
        job: &Pubkey,
        result: Option<DeliveredResult>,
        max_units: u64,
    ) -> Result<Signature, DeliverError> {
        let s: Settlement = self
            .settlement(job)
            .await?
            .ok_or(DeliverError::NotSettled(*job))?;
        let delivery = s.delivery.as_ref().ok_or(DeliverError::NoConsumer(*job))?;
        if delivery.delivered_slot != 0 {
            return Err(DeliverError::Delivered(delivery.delivered_slot));
        }
        let consumer = delivery.consumer.program;
        let ix = ix::deliver_result(&payer.pubkey(), &self.program, job, &s, result)
            .ok_or(DeliverError::NoConsumer(*job))?;
        let units = match self.simulate_units(std::slice::from_ref(&ix), payer).await {
            Ok(units) => units,
            Err((err, logs)) => {
                return Err(match failing_program(&logs) {
                    Some((program, reason)) if program == consumer => {
                        DeliverError::Consumer { program, reason }
                    }
                    _ => DeliverError::Chain(err),
                })
            }
        };
        if units > max_units {
            return Err(DeliverError::TooCostly {
                units,
                max: max_units,
            });
        }
        let limit = units
            .saturating_mul(6)
            .div_ceil(5)
            .saturating_add(DELIVERY_MARGIN_UNITS)
            .min(u64::from(crate::budget::MAX_TRANSACTION_UNITS));
        let mut chain = self.clone();
        chain.compute_limit = Some(limit as u32);
        Ok(chain.send(&[ix], payer, &[]).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_innermost_failure_names_the_consumer() {
        let consumer = Pubkey::new_unique();
        let market = Pubkey::new_unique();
        let logs: Vec<String> = [
            format!("Program {market} invoke [1]"),
            "Program log: Instruction: DeliverResult".into(),
            format!("Program {consumer} invoke [2]"),
            "Program log: AnchorError caused by account: authority. Error Code: ForgedDelivery. Error Number: 6000. Error Message: Not signed by the delivery authority of the feed's market.".into(),
            format!("Program {consumer} consumed 5000 of 190000 compute units"),
            format!("Program {consumer} failed: custom program error: 0x1770"),
            format!("Program {market} consumed 15000 of 200000 compute units"),
            format!("Program {market} failed: custom program error: 0x1770"),
        ]
        .into();
        let (program, reason) = failing_program(&logs).unwrap();
        assert_eq!(program, consumer);
        assert!(reason.contains("ForgedDelivery"), "{reason}");
        assert_eq!(failing_program(&logs[..2]), None);
    }
}
