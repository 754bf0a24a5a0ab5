//! What the program leaves in a transaction's log messages, read the way Solana clients read it:
//! its Anchor events (`Program data: <base64>`), its own `Program log:` lines, the error Anchor
//! logs when it refuses an instruction, and the compute units each top-level call consumed.
//!
//! The runtime writes one `Program <id> invoke [depth]` line when a program starts and one
//! `Program <id> success` or `Program <id> failed: …` line when it returns; lines in between
//! belong to the innermost running program, so a token program called by ours (CPI) never has
//! its lines taken for ours.

use crate::rpc::{Chain, ChainError};
use crate::Pubkey;
use anchor_lang::{AnchorDeserialize, Discriminator};
use base64::Engine;
use compute_market::events as ev;
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
use solana_rpc_client_api::config::RpcTransactionConfig;
use solana_sdk::signature::Signature;
use solana_transaction_status_client_types::{
    option_serializer::OptionSerializer, UiTransactionEncoding,
};

macro_rules! events {
    ($($name:ident),* $(,)?) => {
        /// An event of the program, decoded from its `Program data:` line.
        #[derive(Debug, Clone)]
        pub enum Event {
            $($name(ev::$name),)*
        }

        impl Event {
            /// Every event this decodes, by name.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name),)*];

            /// Decodes `discriminator || borsh` as written by `emit!`; `None` for other data.
            pub fn decode(data: &[u8]) -> Option<Event> {
                let (disc, mut body) = (data.get(..8)?, data.get(8..)?);
                $(
                    if disc == ev::$name::DISCRIMINATOR {
                        return ev::$name::deserialize(&mut body).ok().map(Event::$name);
                    }
                )*
                None
            }

            /// The event's name, as in the IDL.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Event::$name(_) => stringify!($name),)*
                }
            }
        }

        impl std::fmt::Display for Event {
            /// The event's name and fields, e.g. `JobClaimed { job: …, slot: 0, … }`.
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    $(Event::$name(e) => write!(f, "{e:?}"),)*
                }
            }
        }
    };
}

events!(
    MarketInitialized,
    MarketUpdated,
    ProviderRegistered,
    ProviderUpdated,
    ProviderStaked,
    UnstakeRequested,
    StakeWithdrawn,
    ProviderClosed,
    OfferPublished,
    SurplusSwept,
    JobPosted,
    JobExtended,
    JobCancelled,
    JobClaimed,
    ClaimExpired,
    ResultCommitted,
    ResultRevealed,
    JobFinalized,
    ResultDelivered,
);

impl Event {
    /// The job the event is about, for the events of jobs.
    pub fn job(&self) -> Option<Pubkey> {
        match self {
            Event::JobPosted(e) => Some(e.job),
            Event::JobExtended(e) => Some(e.job),
            Event::JobCancelled(e) => Some(e.job),
            Event::JobClaimed(e) => Some(e.job),
            Event::ClaimExpired(e) => Some(e.job),
            Event::ResultCommitted(e) => Some(e.job),
            Event::ResultRevealed(e) => Some(e.job),
            Event::JobFinalized(e) => Some(e.job),
            Event::ResultDelivered(e) => Some(e.job),
            _ => None,
        }
    }

    /// The fields that say what happened, in a few words (amounts in base units).
    pub fn summary(&self) -> String {
        let short = |k: &Pubkey| k.to_string()[..8].to_string();
        match self {
            Event::JobPosted(e) if e.ramp_seconds > 0 => format!(
                "n {} / k {}, price rising {} → {} per replica over {} s, escrow {}",
                e.replicas,
                e.quorum,
                e.min_reward_per_replica,
                e.reward_per_replica,
                e.ramp_seconds,
                e.escrow
            ),
            Event::JobPosted(e) => format!(
                "n {} / k {}, reward {} per replica, escrow {}",
                e.replicas, e.quorum, e.reward_per_replica, e.escrow
            ),
            Event::JobClaimed(e) => format!(
                "slot {} by {} at price {}, collateral {}",
                e.slot,
                short(&e.provider),
                e.price,
                e.collateral
            ),
            Event::ResultCommitted(e) => format!("slot {} by {}", e.slot, short(&e.provider)),
            Event::ResultRevealed(e) => format!(
                "slot {} by {}, root {}",
                e.slot,
                short(&e.provider),
                &hex::encode(e.result_root)[..12]
            ),
            Event::ClaimExpired(e) => format!(
                "slot {} of {} expired by {}: slashed {}, bounty {}",
                e.slot,
                short(&e.provider),
                short(&e.caller),
                e.slashed,
                e.bounty
            ),
            Event::JobFinalized(e) => format!(
                "{:?}: paid {}, fee {}, refund {}, slashed {}, bounty {}",
                e.outcome, e.total_paid, e.fee, e.refund, e.total_slashed, e.bounty
            ),
            Event::JobCancelled(e) => format!("refund {}", e.refund),
            Event::JobExtended(e) => format!(
                "commit deadline {} → {}, maximum {} → {} (from {} over {} s), topped up {}",
                e.old_commit_deadline,
                e.commit_deadline,
                e.old_reward_per_replica,
                e.reward_per_replica,
                e.min_reward_per_replica,
                e.ramp_seconds,
                e.top_up
            ),
            Event::ResultDelivered(e) => format!(
                "{:?} outcome to program {} by {}",
                e.outcome,
                short(&e.consumer),
                short(&e.deliverer)
            ),
            other => other.to_string(),
        }
    }
}

/// One top-level call of the program within a transaction.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// The instruction's name, from Anchor's `Instruction: <Name>` line (absent when the program
    /// is built with `no-log-ix-name`).
    pub instruction: Option<String>,
    /// Compute units the call consumed, CPIs included, as the runtime reports them.
    pub compute_units: Option<u64>,
    /// Whether it returned successfully.
    pub success: bool,
}

/// The program's part of a transaction's log.
#[derive(Debug, Clone, Default)]
pub struct ProgramLogs {
    /// Events in the order they were emitted.
    pub events: Vec<Event>,
    /// The program's own `Program log:` messages, without the prefix.
    pub messages: Vec<String>,
    /// Every top-level call of the program, in order.
    pub invocations: Vec<Invocation>,
    /// The first `AnchorError …` message (which account, which error and why).
    pub error: Option<String>,
}

impl ProgramLogs {
    /// Total compute units of the program's top-level calls.
    pub fn compute_units(&self) -> u64 {
        self.invocations
            .iter()
            .filter_map(|i| i.compute_units)
            .sum()
    }
}

/// Picks `program`'s lines out of a transaction's log messages.
pub fn parse(logs: &[String], program: &Pubkey) -> ProgramLogs {
    let id = program.to_string();
    let mut out = ProgramLogs::default();
    let mut stack: Vec<String> = Vec::new();
    for line in logs {
        let Some(rest) = line.strip_prefix("Program ") else {
            continue;
        };
        let ours = stack.last() == Some(&id);
        if let Some(msg) = rest.strip_prefix("log: ") {
            if ours {
                if let Some(name) = msg.strip_prefix("Instruction: ") {
                    if stack.len() == 1 {
                        if let Some(call) = out.invocations.last_mut() {
                            call.instruction = Some(name.to_string());
                        }
                    }
                }
                if msg.starts_with("AnchorError") && out.error.is_none() {
                    out.error = Some(msg.to_string());
                }
                out.messages.push(msg.to_string());
            }
        } else if let Some(data) = rest.strip_prefix("data: ") {
            if ours {
                // `sol_log_data` writes each field base64-encoded, separated by spaces
                let bytes: Vec<u8> = data
                    .split(' ')
                    .filter_map(|f| base64::engine::general_purpose::STANDARD.decode(f).ok())
                    .flatten()
                    .collect();
                out.events.extend(Event::decode(&bytes));
            }
        } else if let Some((who, tail)) = rest.split_once(' ') {
            if tail.starts_with("invoke [") {
                stack.push(who.to_string());
                if who == id && stack.len() == 1 {
                    out.invocations.push(Invocation::default());
                }
            } else if let Some(units) = tail.strip_prefix("consumed ") {
                if who == id && stack.len() == 1 {
                    let n = units.split(' ').next().and_then(|n| n.parse().ok());
                    if let Some(call) = out.invocations.last_mut() {
                        call.compute_units = n;
                    }
                }
            } else if tail == "success" || tail.starts_with("failed") {
                if who == id && stack.len() == 1 {
                    if let Some(call) = out.invocations.last_mut() {
                        call.success = tail == "success";
                    }
                }
                stack.pop();
            }
        }
    }
    out
}

/// One event of the program in a transaction naming an account.
#[derive(Debug, Clone)]
pub struct Entry {
    pub signature: Signature,
    pub slot: u64,
    /// Unix time of the block, when the node knows it.
    pub block_time: Option<i64>,
    pub event: Event,
    /// Compute units the program's calls in that transaction consumed.
    pub compute_units: u64,
}

impl Chain {
    /// The log messages of a confirmed transaction (`getTransaction`).
    pub async fn transaction_logs(&self, signature: &Signature) -> Result<Vec<String>, ChainError> {
        let config = RpcTransactionConfig {
            encoding: Some(UiTransactionEncoding::Json),
            commitment: Some(CommitmentConfig::confirmed()),
            max_supported_transaction_version: Some(0),
        };
        let tx = self
            .rpc
            .get_transaction_with_config(signature, config)
            .await
            .map_err(|e| self.rpc_error(e, &[]))?;
        let logs = tx.transaction.meta.map(|m| m.log_messages);
        Ok(match logs {
            Some(OptionSerializer::Some(logs)) => logs,
            _ => Vec::new(),
        })
    }

    /// The logs of a transaction that failed, which a node may serve only once the failure is
    /// confirmed: a few tries over about two seconds, then `None`.
    pub(crate) async fn failed_transaction_logs(
        &self,
        signature: &Signature,
    ) -> Option<Vec<String>> {
        for _ in 0..10 {
            if let Ok(logs) = self.transaction_logs(signature).await {
                if !logs.is_empty() {
                    return Some(logs);
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        None
    }

    /// What the program logged in a confirmed transaction: events, messages, compute units.
    pub async fn program_logs(&self, signature: &Signature) -> Result<ProgramLogs, ChainError> {
        Ok(parse(
            &self.transaction_logs(signature).await?,
            &self.program,
        ))
    }

    /// The program's events in the successful transactions that name `address` (a job: its
    /// post, claims, commits, reveals and settlement), oldest first, from at most the last
    /// `limit` of them. The history outlives a job's account, which closes at settlement.
    pub async fn history(&self, address: &Pubkey, limit: usize) -> Result<Vec<Entry>, ChainError> {
        let config = GetConfirmedSignaturesForAddress2Config {
            limit: Some(limit),
            commitment: Some(CommitmentConfig::confirmed()),
            ..Default::default()
        };
        let mut sigs = self
            .rpc
            .get_signatures_for_address_with_config(address, config)
            .await
            .map_err(|e| self.rpc_error(e, &[]))?;
        sigs.reverse();
        let mut out = Vec::new();
        for s in sigs.into_iter().filter(|s| s.err.is_none()) {
            let signature: Signature = s.signature.parse().map_err(|_| ChainError::Rpc {
                url: self.url(),
                message: format!(
                    "bad signature {:?} from getSignaturesForAddress",
                    s.signature
                ),
            })?;
            let logs = self.program_logs(&signature).await?;
            let compute_units = logs.compute_units();
            // a transaction may also settle or post other jobs
            let about = |e: &Event| e.job().is_none_or(|j| j == *address);
            out.extend(logs.events.into_iter().filter(about).map(|event| Entry {
                signature,
                slot: s.slot,
                block_time: s.block_time,
                event,
                compute_units,
            }));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::{Discriminator, Event as _};

    fn lines(ls: &[&str]) -> Vec<String> {
        ls.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn events_errors_and_units_are_the_programs_own() {
        let program = crate::PROGRAM_ID;
        let token = Pubkey::new_unique();
        let posted = ev::JobCancelled {
            job: Pubkey::new_unique(),
            settlement: Pubkey::new_unique(),
            refund: 42,
            expired_slashed: 0,
        };
        let data = base64::engine::general_purpose::STANDARD.encode(posted.data());
        assert_eq!(&posted.data()[..8], ev::JobCancelled::DISCRIMINATOR);
        let logs = lines(&[
            &format!("Program {program} invoke [1]"),
            "Program log: Instruction: CancelJob",
            &format!("Program {token} invoke [2]"),
            "Program log: Instruction: TransferChecked",
            // data written by another program is not ours
            &format!("Program data: {data}"),
            &format!("Program {token} consumed 4000 of 190000 compute units"),
            &format!("Program {token} success"),
            &format!("Program data: {data}"),
            &format!("Program {program} consumed 21000 of 200000 compute units"),
            &format!("Program {program} success"),
            &format!("Program {program} invoke [1]"),
            "Program log: Instruction: ClaimJob",
            "Program log: AnchorError caused by account: job. Error Code: JobFull. Error Number: 6010. Error Message: the job has no free slot.",
            &format!("Program {program} consumed 9000 of 179000 compute units"),
            &format!("Program {program} failed: custom program error: 0x177a"),
        ]);
        let p = parse(&logs, &program);
        assert_eq!(p.events.len(), 1, "{:?}", p.events);
        match &p.events[0] {
            Event::JobCancelled(e) => assert_eq!((e.job, e.refund), (posted.job, 42)),
            other => panic!("{other:?}"),
        }
        assert_eq!(p.invocations.len(), 2);
        assert_eq!(p.invocations[0].instruction.as_deref(), Some("CancelJob"));
        assert_eq!(p.invocations[0].compute_units, Some(21_000));
        assert!(p.invocations[0].success);
        assert!(!p.invocations[1].success);
        assert_eq!(p.compute_units(), 30_000);
        assert!(p.error.unwrap().contains("caused by account: job"));
        assert!(!p.messages.iter().any(|m| m.contains("TransferChecked")));
    }

    #[test]
    fn unknown_data_is_not_an_event() {
        assert!(Event::decode(&[1, 2, 3]).is_none());
        assert!(Event::decode(&[0; 40]).is_none());
    }

    #[test]
    fn every_event_of_the_program_decodes() {
        let idl: serde_json::Value =
            serde_json::from_str(include_str!("../../idl/compute_market.json")).unwrap();
        let mut in_idl: Vec<&str> = idl["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        let mut known = Event::NAMES.to_vec();
        in_idl.sort_unstable();
        known.sort_unstable();
        assert_eq!(
            known, in_idl,
            "an event of the IDL that `events!` does not list"
        );
    }
}
