//! Sending many independent transactions at once, as a program deploy writes its buffer: all are
//! signed with one blockhash and sent without waiting for each other, then their statuses are
//! polled together; the ones that did not land before that blockhash expired are signed again
//! with a fresh one. A transaction is never re-signed while it may still land; the ones this is
//! for are idempotent anyway (a buffer write of the same bytes at the same offset).

use crate::rpc::{Chain, ChainError};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client_api::{client_error::Error as RpcError, config::RpcSendTransactionConfig};
use solana_sdk::{
    instruction::Instruction,
    signature::{Keypair, Signature},
    signer::Signer,
    transaction::Transaction,
};
use std::time::Duration;

/// Transactions in flight at once.
const IN_FLIGHT: usize = 16;
/// Signatures per `getSignatureStatuses` call (the RPC limit).
const STATUS_BATCH: usize = 256;
/// Fresh blockhashes to try before giving up on the transactions that have not landed.
const ROUNDS: usize = 5;

impl Chain {
    /// Sends every transaction of `txs` (each a list of instructions, signed by `payer` and
    /// `signers`) and waits until all are confirmed. `progress(confirmed, total)` is called as
    /// they land. Fails on the first transaction the cluster refuses.
    pub async fn send_all(
        &self,
        txs: &[Vec<Instruction>],
        payer: &Keypair,
        signers: &[&Keypair],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(), ChainError> {
        let mut keys: Vec<&Keypair> = vec![payer];
        keys.extend(signers.iter().filter(|k| k.pubkey() != payer.pubkey()));
        let mut pending: Vec<usize> = (0..txs.len()).collect();
        let mut done = 0;
        // why sends failed, for when nothing lands at all
        let mut last_send_error = None;
        progress(done, txs.len());
        for _ in 0..ROUNDS {
            if pending.is_empty() {
                return Ok(());
            }
            let (blockhash, last_valid) = self
                .rpc
                .get_latest_blockhash_with_commitment(CommitmentConfig::confirmed())
                .await
                .map_err(|e| self.rpc_error(e, &[]))?;
            let signed: Vec<(usize, Transaction)> = pending
                .iter()
                .map(|&i| {
                    let ixs = self.with_budget(&txs[i]);
                    let tx = Transaction::new_signed_with_payer(
                        &ixs,
                        Some(&payer.pubkey()),
                        &keys,
                        blockhash,
                    );
                    (i, tx)
                })
                .collect();
            // send: a failed send is retried in the next round, like a dropped transaction
            let config = RpcSendTransactionConfig {
                skip_preflight: true,
                max_retries: Some(0),
                ..RpcSendTransactionConfig::default()
            };
            type Sending = tokio::task::JoinSet<(usize, Result<Signature, RpcError>)>;
            let mut sending = Sending::new();
            // waits for one send to finish, keeping its error; false when none is in flight
            let mut finish_one = async |sending: &mut Sending| {
                let Some(r) = sending.join_next().await else {
                    return false;
                };
                if let Ok((j, Err(e))) = r {
                    last_send_error = Some(self.rpc_error(e, &self.with_budget(&txs[j])));
                }
                true
            };
            for (i, tx) in &signed {
                while sending.len() >= IN_FLIGHT {
                    finish_one(&mut sending).await;
                }
                let (rpc, tx, i) = (self.rpc.clone(), tx.clone(), *i);
                sending
                    .spawn(async move { (i, rpc.send_transaction_with_config(&tx, config).await) });
            }
            while finish_one(&mut sending).await {}

            // wait for each to land, or for the blockhash to expire
            let mut open: Vec<(usize, Signature)> = signed
                .iter()
                .map(|(i, tx)| (*i, tx.signatures[0]))
                .collect();
            loop {
                let mut still = Vec::with_capacity(open.len());
                // processed but not confirmed yet: never signed again
                let mut processed = 0;
                for batch in open.chunks(STATUS_BATCH) {
                    let sigs: Vec<Signature> = batch.iter().map(|(_, s)| *s).collect();
                    let statuses = self
                        .rpc
                        .get_signature_statuses(&sigs)
                        .await
                        .map_err(|e| self.rpc_error(e, &[]))?
                        .value;
                    for ((i, sig), status) in batch.iter().zip(statuses) {
                        match status {
                            Some(s) if s.err.is_some() => {
                                let err = s.err.expect("checked");
                                return Err(self.refused(err, &self.with_budget(&txs[*i])));
                            }
                            Some(s) if s.satisfies_commitment(CommitmentConfig::confirmed()) => {
                                done += 1;
                            }
                            Some(_) => {
                                processed += 1;
                                still.push((*i, *sig));
                            }
                            None => still.push((*i, *sig)),
                        }
                    }
                }
                progress(done, txs.len());
                open = still;
                if open.is_empty() {
                    break;
                }
                let height = self
                    .rpc
                    .get_block_height()
                    .await
                    .map_err(|e| self.rpc_error(e, &[]))?;
                if height > last_valid && processed == 0 {
                    break;
                }
                tokio::time::sleep(self.poll_interval.max(Duration::from_millis(200))).await;
            }
            pending = open.into_iter().map(|(i, _)| i).collect();
        }
        match (pending.is_empty(), last_send_error) {
            (true, _) => Ok(()),
            (false, Some(e)) => Err(e),
            (false, None) => Err(ChainError::NotConfirmed(ROUNDS as u32)),
        }
    }
}
