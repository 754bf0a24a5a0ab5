//! Chain access over JSON-RPC: transaction sending with a priority fee, blockhash-expiry retry
//! and confirmation; account fetching and decoding, including the `getProgramAccounts` filters
//! the worker, the CLI and the auditor need (`rpc/accounts.rs`).

use crate::{logs, ClientError, Pubkey, PROGRAM_ID};
use solana_commitment_config::CommitmentConfig;
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_message::{v0, AddressLookupTableAccount, VersionedMessage};
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_api::{client_error::Error as RpcError, config::RpcSendTransactionConfig};
use solana_sdk::transaction::VersionedTransaction;
use solana_sdk::{
    instruction::{Instruction, InstructionError},
    signature::{Keypair, Signature},
    signer::Signer,
    transaction::{Transaction, TransactionError},
};
use std::{sync::Arc, time::Duration};

mod accounts;

/// The log messages a node returned with a failed preflight simulation.
fn preflight_logs(e: &RpcError) -> Option<&[String]> {
    use solana_rpc_client_api::{client_error::ErrorKind, request};
    match e.kind() {
        ErrorKind::RpcError(request::RpcError::RpcResponseError {
            data: request::RpcResponseErrorData::SendTransactionPreflightFailure(sim),
            ..
        }) => sim.logs.as_deref(),
        _ => None,
    }
}

/// Largest serialized transaction a packet carries.
pub const PACKET_DATA_SIZE: usize = 1232;

/// Size in bytes of the signed legacy transaction of exactly `ixs`, paid by `payer`.
pub fn transaction_size(ixs: &[Instruction], payer: &Pubkey) -> usize {
    let message = solana_sdk::message::Message::new(ixs, Some(payer));
    let mut tx = Transaction::new_unsigned(message);
    tx.signatures = vec![Signature::default(); tx.message.header.num_required_signatures as usize];
    bincode::serialized_size(&tx).map_or(usize::MAX, |n| n as usize)
}

/// Size in bytes of the signed v0 transaction of `ixs`, loading what it can from `tables`.
pub fn v0_transaction_size(
    ixs: &[Instruction],
    payer: &Pubkey,
    tables: &[AddressLookupTableAccount],
) -> usize {
    let Ok(message) = v0::Message::try_compile(payer, ixs, tables, Default::default()) else {
        return usize::MAX;
    };
    let signatures = usize::from(message.header.num_required_signatures);
    let tx = VersionedTransaction {
        signatures: vec![Signature::default(); signatures],
        message: VersionedMessage::V0(message),
    };
    bincode::serialized_size(&tx).map_or(usize::MAX, |n| n as usize)
}

/// Why a chain operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The RPC endpoint could not be reached or answered with an error.
    #[error("RPC {url}: {message}")]
    Rpc { url: String, message: String },
    /// The program refused the transaction with one of its named errors.
    #[error("{name} ({code}): {message}{}", log.as_ref().map(|l| format!(" [{l}]")).unwrap_or_default())]
    Program {
        code: u32,
        name: String,
        message: String,
        /// Anchor's `AnchorError …` log line, when the logs were returned (it names the account
        /// a constraint failed on).
        log: Option<String>,
    },
    /// The transaction failed for another reason.
    #[error("transaction failed: {0:?}")]
    Transaction(TransactionError),
    /// Every attempt's blockhash expired before confirmation, or the deadline passed.
    #[error("transaction not confirmed after {0} attempts")]
    NotConfirmed(u32),
    /// Another program (token, system, ...) refused an instruction.
    #[error("instruction {index} failed in program {program}: {error:?}")]
    OtherProgram {
        index: u8,
        program: Pubkey,
        error: InstructionError,
    },
    /// An account did not decode.
    #[error(transparent)]
    Decode(#[from] ClientError),
    /// An account that must exist does not.
    #[error("account {0} does not exist")]
    Missing(Pubkey),
}

impl ChainError {
    /// The program error's name, if this is one.
    pub fn program_error(&self) -> Option<&str> {
        match self {
            ChainError::Program { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// Name and message of a custom program error code, from the committed IDL (program errors) or
/// Anchor's framework errors.
pub fn describe_error(code: u32) -> (String, String) {
    static IDL: &str = include_str!("../../idl/compute_market.json");
    let idl: serde_json::Value = serde_json::from_str(IDL).expect("the committed IDL parses");
    if let Some(e) = idl["errors"]
        .as_array()
        .and_then(|errs| errs.iter().find(|e| e["code"] == code))
    {
        return (
            e["name"].as_str().unwrap_or_default().to_string(),
            e["msg"].as_str().unwrap_or_default().to_string(),
        );
    }
    let anchor = match code {
        2000..=2999 => "an account constraint was violated",
        3000..=3999 => "an account is missing, of the wrong owner or type, or not a signer",
        100..=199 => "the instruction is unknown or malformed",
        _ => "unknown error",
    };
    (format!("AnchorError{code}"), anchor.to_string())
}

/// Names the error after the program that raised it: only the market program's codes are
/// looked up in its IDL. `logs` are the transaction's log messages when the node returned them.
fn transaction_error(
    e: TransactionError,
    ixs: &[Instruction],
    market_program: &Pubkey,
    logs: Option<&[String]>,
) -> ChainError {
    match e {
        TransactionError::InstructionError(index, error) => {
            let program = ixs.get(index as usize).map(|ix| ix.program_id);
            match (program, error) {
                (Some(p), InstructionError::Custom(code)) if p == *market_program => {
                    let (name, message) = describe_error(code);
                    ChainError::Program {
                        code,
                        name,
                        message,
                        log: logs.and_then(|l| logs::parse(l, market_program).error),
                    }
                }
                (Some(program), error) if program != *market_program => ChainError::OtherProgram {
                    index,
                    program,
                    error,
                },
                (_, error) => {
                    ChainError::Transaction(TransactionError::InstructionError(index, error))
                }
            }
        }
        other => ChainError::Transaction(other),
    }
}

/// A JSON-RPC connection with sending policy, to one deployment of the program.
#[derive(Clone)]
pub struct Chain {
    pub rpc: Arc<RpcClient>,
    /// The program's address on this cluster ([`PROGRAM_ID`] unless deployed elsewhere).
    pub program: Pubkey,
    /// Priority fee in micro-lamports per compute unit (0: none).
    pub priority_fee: u64,
    /// Compute-unit limit requested per transaction (`None`: what the instructions need, from
    /// [`crate::budget`]).
    pub compute_limit: Option<u32>,
    /// Blockhashes to try before giving up.
    pub max_attempts: u32,
    /// Pause between signature status polls.
    pub poll_interval: Duration,
    /// Longest time one `send` may take in all.
    pub send_timeout: Duration,
    /// Lookup tables a transaction that does not fit as a legacy one is compiled against (a v0
    /// transaction); see [`crate::lookup`].
    pub lookup_tables: Vec<AddressLookupTableAccount>,
}

impl Chain {
    /// A client with `confirmed` commitment, for the program at [`PROGRAM_ID`].
    pub fn new(url: &str) -> Self {
        Chain {
            rpc: Arc::new(RpcClient::new_with_commitment(
                url.to_string(),
                CommitmentConfig::confirmed(),
            )),
            program: PROGRAM_ID,
            priority_fee: 0,
            compute_limit: None,
            max_attempts: 4,
            poll_interval: Duration::from_millis(200),
            send_timeout: Duration::from_secs(120),
            lookup_tables: Vec::new(),
        }
    }

    /// The same connection, for the program deployed at `program`.
    pub fn with_program(mut self, program: Pubkey) -> Self {
        self.program = program;
        self
    }

    /// The endpoint URL.
    pub fn url(&self) -> String {
        self.rpc.url()
    }

    /// `err` of a transaction of `ixs`, named after the program that raised it.
    pub(crate) fn refused(&self, err: TransactionError, ixs: &[Instruction]) -> ChainError {
        transaction_error(err, ixs, &self.program, None)
    }

    pub(crate) fn rpc_error(&self, e: RpcError, ixs: &[Instruction]) -> ChainError {
        if let Some(tx) = e.get_transaction_error() {
            return transaction_error(tx, ixs, &self.program, preflight_logs(&e));
        }
        ChainError::Rpc {
            url: self.url(),
            message: e.to_string(),
        }
    }

    /// `ixs` behind the compute-budget instructions this chain adds: the compute-unit limit
    /// (`compute_limit`, else what [`crate::budget`] says `ixs` need) and the priority fee.
    pub fn with_budget(&self, ixs: &[Instruction]) -> Vec<Instruction> {
        let mut all = Vec::with_capacity(ixs.len() + 2);
        let limit = self
            .compute_limit
            .unwrap_or_else(|| crate::budget::transaction_units(ixs, &self.program));
        all.push(ComputeBudgetInstruction::set_compute_unit_limit(limit));
        if self.priority_fee > 0 {
            all.push(ComputeBudgetInstruction::set_compute_unit_price(
                self.priority_fee,
            ));
        }
        all.extend_from_slice(ixs);
        all
    }

    /// Size in bytes of the signed legacy transaction `send` would build for `ixs`,
    /// or of the v0 one it would send instead when that is larger than a packet and lookup tables
    /// are set.
    pub fn transaction_size(&self, ixs: &[Instruction], payer: &Pubkey) -> usize {
        let all = self.with_budget(ixs);
        let legacy = transaction_size(&all, payer);
        if legacy <= PACKET_DATA_SIZE || self.lookup_tables.is_empty() {
            return legacy;
        }
        legacy.min(v0_transaction_size(&all, payer, &self.lookup_tables))
    }

    /// `all` signed by `keys` (payer first): a legacy transaction, or a v0 one loading accounts
    /// from the lookup tables when the legacy one does not fit a packet.
    fn sign(
        &self,
        all: &[Instruction],
        keys: &[&Keypair],
        blockhash: solana_sdk::hash::Hash,
    ) -> Result<VersionedTransaction, ChainError> {
        let payer = keys[0].pubkey();
        let legacy = Transaction::new_signed_with_payer(all, Some(&payer), keys, blockhash);
        if self.lookup_tables.is_empty() || transaction_size(all, &payer) <= PACKET_DATA_SIZE {
            return Ok(legacy.into());
        }
        let message = v0::Message::try_compile(&payer, all, &self.lookup_tables, blockhash)
            .map_err(|e| ChainError::Rpc {
                url: self.url(),
                message: format!("compiling a v0 transaction: {e}"),
            })?;
        VersionedTransaction::try_new(VersionedMessage::V0(message), keys).map_err(|e| {
            ChainError::Rpc {
                url: self.url(),
                message: format!("signing a v0 transaction: {e}"),
            }
        })
    }

    /// Whether `ixs` fit in one transaction packet (1232 bytes).
    pub fn fits(&self, ixs: &[Instruction], payer: &Pubkey) -> bool {
        self.transaction_size(ixs, payer) <= PACKET_DATA_SIZE
    }

    /// The cluster's Unix time as the program sees it: the Clock sysvar's `unix_timestamp`.
    pub async fn unix_time(&self) -> Result<i64, ChainError> {
        let id: Pubkey =
            anchor_lang::prelude::pubkey!("SysvarC1ock11111111111111111111111111111111");
        let acc = self.account(&id).await?.ok_or(ChainError::Missing(id))?;
        // Clock: slot, epoch_start_timestamp, epoch, leader_schedule_epoch, unix_timestamp
        acc.data
            .get(32..40)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or_else(|| ClientError::Decode(id, "Clock", "short sysvar".into()).into())
    }

    /// Waits until the cluster's (confirmed) slot is past `slot`: what was deployed or added to a
    /// lookup table in `slot` can be used from the next one. Gives up after `timeout`.
    pub async fn wait_past_slot(&self, slot: u64, timeout: Duration) -> Result<(), ChainError> {
        let deadline = tokio::time::Instant::now() + timeout;
        while self
            .rpc
            .get_slot()
            .await
            .map_err(|e| self.rpc_error(e, &[]))?
            <= slot
        {
            if tokio::time::Instant::now() > deadline {
                return Err(ChainError::Rpc {
                    url: self.url(),
                    message: format!(
                        "the cluster did not move past slot {slot} within {timeout:?}"
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// The highest rooted (finalized) slot.
    pub async fn rooted_slot(&self) -> Result<u64, ChainError> {
        self.rpc
            .get_slot_with_commitment(CommitmentConfig::finalized())
            .await
            .map_err(|e| self.rpc_error(e, &[]))
    }

    /// Signs and sends `ixs` (payer signs first), waits for `confirmed`, and retries with a fresh
    /// blockhash when one expires. A program error ends the attempt at once: it will not change.
    pub async fn send(
        &self,
        ixs: &[Instruction],
        payer: &Keypair,
        signers: &[&Keypair],
    ) -> Result<Signature, ChainError> {
        let all = self.with_budget(ixs);
        let mut keys: Vec<&Keypair> = vec![payer];
        keys.extend(signers.iter().filter(|k| k.pubkey() != payer.pubkey()));

        let deadline = tokio::time::Instant::now() + self.send_timeout;
        let e = |err| self.rpc_error(err, &all);
        for _ in 0..self.max_attempts {
            let (blockhash, last_valid) = self
                .rpc
                .get_latest_blockhash_with_commitment(CommitmentConfig::confirmed())
                .await
                .map_err(e)?;
            let tx = self.sign(&all, &keys, blockhash)?;
            let sig = tx.signatures[0];
            let config = RpcSendTransactionConfig {
                preflight_commitment: Some(CommitmentConfig::confirmed().commitment),
                ..RpcSendTransactionConfig::default()
            };
            if let Err(err) = self.rpc.send_transaction_with_config(&tx, config).await {
                match e(err) {
                    ChainError::Transaction(TransactionError::BlockhashNotFound) => continue,
                    other => return Err(other),
                }
            }
            loop {
                if tokio::time::Instant::now() > deadline {
                    return Err(ChainError::NotConfirmed(self.max_attempts));
                }
                match self.signature_status(&sig, &all).await? {
                    Some(status) => {
                        if let Some(err) = status.err {
                            let logs = self.failed_transaction_logs(&sig).await;
                            return Err(transaction_error(
                                err,
                                &all,
                                &self.program,
                                logs.as_deref(),
                            ));
                        }
                        if status.satisfies_commitment(CommitmentConfig::confirmed()) {
                            return Ok(sig);
                        }
                        // processed but not yet confirmed: never sign again, just wait
                    }
                    None => {
                        let height = self.rpc.get_block_height().await.map_err(e)?;
                        if height > last_valid {
                            // expired without ever being processed: safe to sign anew
                            break;
                        }
                    }
                }
                tokio::time::sleep(self.poll_interval).await;
            }
        }
        Err(ChainError::NotConfirmed(self.max_attempts))
    }

    /// The status of one signature, `None` while the node has not seen it; RPC errors are
    /// described with `ixs`, the instructions it carries.
    async fn signature_status(
        &self,
        sig: &Signature,
        ixs: &[Instruction],
    ) -> Result<Option<solana_transaction_status_client_types::TransactionStatus>, ChainError> {
        Ok(self
            .rpc
            .get_signature_statuses(std::slice::from_ref(sig))
            .await
            .map_err(|e| self.rpc_error(e, ixs))?
            .value
            .into_iter()
            .next()
            .flatten())
    }

    /// Asks the cluster's faucet for `lamports` (JSON-RPC `requestAirdrop`, what `solana
    /// airdrop` does) and waits until the transfer is `confirmed`. Fails with the node's answer
    /// when it has no faucet, or with the faucet's memo when it refuses the amount (it answers
    /// a request over its cap with a memo transaction that moves nothing).
    pub async fn request_airdrop(
        &self,
        to: &Pubkey,
        lamports: u64,
    ) -> Result<Signature, ChainError> {
        let sig = self
            .rpc
            .request_airdrop(to, lamports)
            .await
            .map_err(|e| self.rpc_error(e, &[]))?;
        let deadline = tokio::time::Instant::now() + self.send_timeout;
        loop {
            match self.signature_status(&sig, &[]).await? {
                Some(s) if s.err.is_some() => {
                    let err = s.err.expect("checked");
                    return Err(transaction_error(err, &[], &self.program, None));
                }
                Some(s) if s.satisfies_commitment(CommitmentConfig::confirmed()) => {
                    // Solana's faucet answers a request over its cap with a memo transaction
                    // that moves nothing: that is a refusal, not an airdrop
                    let logs = self.transaction_logs(&sig).await.unwrap_or_default();
                    if let Some(memo) = logs.iter().find(|l| l.contains("request too large")) {
                        return Err(ChainError::Rpc {
                            url: self.url(),
                            message: format!("the faucet refused: {memo}"),
                        });
                    }
                    return Ok(sig);
                }
                _ if tokio::time::Instant::now() > deadline => {
                    return Err(ChainError::NotConfirmed(1))
                }
                _ => tokio::time::sleep(self.poll_interval).await,
            }
        }
    }
}
