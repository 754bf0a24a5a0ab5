//! Verified results delivered to programs: a job may name a consumer (a program, an
//! instruction-data prefix and the accounts it needs); once the job settled, anyone may call
//! `deliver_result`, which calls the consumer with a [`DeliveryMessage`], signed by the delivery
//! authority of that market, that consumer and that data prefix (PDA
//! `["delivery", market, consumer program, data prefix]`), so the consumer can tell a genuine
//! delivery from a forged one.
//!
//! The consumer program is part of the seeds because a signature passes on: a program called
//! with a signer may call others with it. Were the authority the same for every consumer of a
//! market, any program named as a consumer could hand it, with a message of its own making, to
//! another consumer; with the consumer in the seeds it only ever holds a signature that means
//! "for me". The prefix is part of them because the requester chooses it: a prefix of the right
//! instruction followed by a few bytes of the requester's would shift where the consumer reads
//! the message, and make it read fields the requester chose; a consumer that checks the
//! authority of its own prefix only ever reads a message this program wrote.
//!
//! The message carries the result's summary (runtime, exit status, fuel, output length) opened
//! against the settled root, and the output itself when it is at most [`MAX_DELIVERED_OUTPUT`]
//! bytes: the program recomputes the root from them (the client's `merkle` module, for outputs
//! of one chunk) before it calls anyone.

use crate::constants::*;
use crate::error::MarketError;
use crate::state::Outcome;
use anchor_lang::prelude::*;

/// Longest instruction-data prefix a consumer may name (an Anchor discriminator is 8 bytes).
pub const MAX_CONSUMER_PREFIX: usize = 32;
/// Most accounts a consumer may name besides the two every delivery passes.
pub const MAX_CONSUMER_ACCOUNTS: usize = 4;
/// Outputs up to this many bytes travel in the delivery itself; longer ones only as their root.
#[constant]
pub const MAX_DELIVERED_OUTPUT: u64 = 512;
/// Longest runtime id a delivery may open a root with.
pub const MAX_RUNTIME_LEN: usize = 32;

/// One account a consumer needs, passed in the named order after the delivery authority and
/// the settlement record.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsumerAccount {
    pub pubkey: Pubkey,
    /// Passed writable (the consumer may change it) or read-only.
    pub writable: bool,
}

/// A program that wants a job's result: called by `deliver_result` with
/// `data_prefix || borsh(DeliveryMessage)` and the accounts
/// `[delivery authority (signer), settlement, accounts...]`.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct Consumer {
    pub program: Pubkey,
    /// Instruction data before the message, for example the consumer's instruction
    /// discriminator.
    pub data_prefix: Vec<u8>,
    pub accounts: Vec<ConsumerAccount>,
}

/// Programs a delivery may not call: itself, and the programs in which a signature of the
/// delivery authority would stand for custody of tokens or lamports (it must never own any).
const REFUSED_CONSUMERS: &[Pubkey] = &[
    anchor_lang::system_program::ID,
    anchor_spl::token::ID,
    anchor_spl::token_2022::ID,
    anchor_spl::associated_token::ID,
];

impl Consumer {
    /// The signer of this consumer's deliveries in `market`.
    pub fn authority(&self, market_program: &Pubkey, market: &Pubkey) -> Pubkey {
        delivery_authority(market_program, market, &self.program, &self.data_prefix).0
    }

    /// Bytes of the serialized consumer.
    pub fn size(&self) -> usize {
        32 // program
            + 4 + self.data_prefix.len() // data_prefix
            + 4 + self.accounts.len() * (32 + 1) // accounts
    }

    /// The rules a job's consumer must follow, checked when the job is posted in `market`
    /// with the settlement address `settlement`. Its accounts may not name the delivery
    /// authority (a writable signer would let the consumer act as it) or the job's settlement.
    pub fn validate(
        &self,
        market_program: &Pubkey,
        market: &Pubkey,
        settlement: &Pubkey,
    ) -> Result<()> {
        require!(
            self.data_prefix.len() <= MAX_CONSUMER_PREFIX
                && self.accounts.len() <= MAX_CONSUMER_ACCOUNTS
                && self.program != *market_program
                && !REFUSED_CONSUMERS.contains(&self.program),
            MarketError::InvalidConsumer
        );
        let authority = self.authority(market_program, market);
        require!(
            self.accounts
                .iter()
                .all(|a| a.pubkey != authority && a.pubkey != *settlement),
            MarketError::InvalidConsumer
        );
        Ok(())
    }
}

/// A settlement's consumer and whether it was served.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub consumer: Consumer,
    /// Chain slot of the delivery that succeeded (0: not delivered yet).
    pub delivered_slot: u64,
    /// Unix time of that delivery.
    pub delivered_at: i64,
    /// Who sent it.
    pub delivered_by: Pubkey,
}

impl Delivery {
    /// Bytes of the serialized record.
    pub fn size(consumer: &Consumer) -> usize {
        consumer.size() + 8 + 8 + 32
    }

    /// The record of a consumer not served yet.
    pub fn pending(consumer: Consumer) -> Self {
        Delivery {
            consumer,
            delivered_slot: 0,
            delivered_at: 0,
            delivered_by: Pubkey::default(),
        }
    }
}

/// A result opened against its root: everything `result_root` commits to, and the output
/// when it is at most [`MAX_DELIVERED_OUTPUT`] bytes.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct DeliveredResult {
    /// The runtime the job ran in (`wasi-p1v2`, ...).
    pub runtime: String,
    /// How the run ended: 0 exited (with `code`), 1 trapped, 2 out of fuel, 3 out of memory,
    /// 4 output limit.
    pub status: u8,
    /// The exit code when `status` is 0.
    pub code: i64,
    pub fuel_used: u64,
    pub output_len: u64,
    /// Merkle root over the output's 4 KiB chunks.
    pub data_root: [u8; 32],
    /// The whole output when `output_len <= MAX_DELIVERED_OUTPUT`, otherwise empty.
    pub output: Vec<u8>,
}

impl DeliveredResult {
    /// Checks the opening against `root`, the root the job settled on. A short output must be
    /// carried whole, and its data root is recomputed from it.
    pub fn check(&self, job: &Pubkey, root: &[u8; 32]) -> Result<()> {
        let carried = if self.output_len <= MAX_DELIVERED_OUTPUT {
            self.output.len() as u64 == self.output_len
                && self.data_root == single_chunk_root(&self.output)
        } else {
            self.output.is_empty()
        };
        require!(
            carried
                && self.runtime.len() <= MAX_RUNTIME_LEN
                && result_root(
                    job,
                    &self.runtime,
                    self.status,
                    self.code,
                    self.fuel_used,
                    self.output_len,
                    &self.data_root,
                ) == *root,
            MarketError::ResultMismatch
        );
        Ok(())
    }
}

/// What a consumer receives after its `data_prefix`, borsh-encoded. Only a call signed by
/// `delivery_authority(market program, market, the consumer's own id, its own prefix)` comes
/// from `deliver_result`; a consumer should also check that `market` is one whose providers it
/// trusts, that `requester` is one it trusts to post fair jobs (the requester chooses the price,
/// and so who takes the job), the computation (`manifest_hash`) and how many slots agreed.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct DeliveryMessage {
    pub market: Pubkey,
    /// The (closed) job's address; its settlement record is the second account.
    pub job: Pubkey,
    pub requester: Pubkey,
    pub nonce: u64,
    pub manifest_hash: [u8; 32],
    pub outcome: Outcome,
    pub replicas: u8,
    pub quorum: u8,
    /// Slots whose reveal matched `result_root`.
    pub agreeing: u8,
    /// The verified root (zero unless `Verified`).
    pub result_root: [u8; 32],
    /// The opened result of a `Verified` job; `None` otherwise.
    pub result: Option<DeliveredResult>,
    pub settled_slot: u64,
}

/// The signer of every delivery to `consumer` with the data prefix `prefix` in `market`: PDA
/// `["delivery", market, consumer, prefix]` of the market program `program`.
pub fn delivery_authority(
    program: &Pubkey,
    market: &Pubkey,
    consumer: &Pubkey,
    prefix: &[u8],
) -> (Pubkey, u8) {
    Pubkey::find_program_address(
        &[SEED_DELIVERY, market.as_ref(), consumer.as_ref(), prefix],
        program,
    )
}

/// The data root of an output of at most one chunk (4 096 bytes): its leaf, or the empty root.
pub fn single_chunk_root(output: &[u8]) -> [u8; 32] {
    if output.is_empty() {
        return solana_sha256_hasher::hashv(&[&[2u8], b"cmkt/empty/v1"]).to_bytes();
    }
    solana_sha256_hasher::hashv(&[&[0u8], b"cmkt/leaf/v1", &0u64.to_le_bytes(), output]).to_bytes()
}

/// The result root providers reveal (the client's `merkle::ResultSummary::root`):
/// `sha256("cmkt/result/v2" || job || runtime || 0x00 || status || i64le(code) ||
/// u64le(fuel_used) || u64le(output_len) || data_root)`.
pub fn result_root(
    job: &Pubkey,
    runtime: &str,
    status: u8,
    code: i64,
    fuel_used: u64,
    output_len: u64,
    data_root: &[u8; 32],
) -> [u8; 32] {
    solana_sha256_hasher::hashv(&[
        RESULT_DOMAIN,
        job.as_ref(),
        runtime.as_bytes(),
        &[0u8, status],
        &code.to_le_bytes(),
        &fuel_used.to_le_bytes(),
        &output_len.to_le_bytes(),
        data_root,
    ])
    .to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(output: &[u8]) -> (Pubkey, DeliveredResult, [u8; 32]) {
        let job = Pubkey::new_unique();
        let r = DeliveredResult {
            runtime: "wasi-p1v2".into(),
            status: 0,
            code: 0,
            fuel_used: 1_234,
            output_len: output.len() as u64,
            data_root: single_chunk_root(output),
            output: output.to_vec(),
        };
        let root = result_root(&job, &r.runtime, 0, 0, 1_234, r.output_len, &r.data_root);
        (job, r, root)
    }

    #[test]
    fn an_opening_must_match_the_root_and_carry_a_short_output() {
        let (job, r, root) = opened(b"42\n");
        r.check(&job, &root).unwrap();
        assert!(
            r.check(&Pubkey::new_unique(), &root).is_err(),
            "another job"
        );
        for bad in [
            DeliveredResult {
                output: b"43\n".to_vec(),
                ..r.clone()
            },
            DeliveredResult {
                output: vec![],
                ..r.clone()
            },
            DeliveredResult {
                fuel_used: 1,
                ..r.clone()
            },
            DeliveredResult {
                status: 1,
                ..r.clone()
            },
            DeliveredResult {
                runtime: "wasi-p1".into(),
                ..r.clone()
            },
        ] {
            assert!(bad.check(&job, &root).is_err(), "{bad:?}");
        }
        // an empty output is carried as nothing, with the empty root
        let (job, r, root) = opened(b"");
        r.check(&job, &root).unwrap();
    }

    #[test]
    fn a_long_output_travels_as_its_root_only() {
        let job = Pubkey::new_unique();
        let data_root = [9; 32];
        let r = DeliveredResult {
            runtime: "wasi-p1v2".into(),
            status: 0,
            code: 0,
            fuel_used: 7,
            output_len: MAX_DELIVERED_OUTPUT + 1,
            data_root,
            output: vec![],
        };
        let root = result_root(&job, &r.runtime, 0, 0, 7, r.output_len, &data_root);
        r.check(&job, &root).unwrap();
        let with_bytes = DeliveredResult {
            output: vec![1; MAX_DELIVERED_OUTPUT as usize + 1],
            ..r
        };
        assert!(with_bytes.check(&job, &root).is_err());
    }

    #[test]
    fn consumers_may_not_be_the_market_or_custody_programs() {
        let me = Pubkey::new_unique();
        let ok = Consumer {
            program: Pubkey::new_unique(),
            data_prefix: vec![1; MAX_CONSUMER_PREFIX],
            accounts: vec![
                ConsumerAccount {
                    pubkey: Pubkey::new_unique(),
                    writable: true,
                };
                MAX_CONSUMER_ACCOUNTS
            ],
        };
        let (market, settlement) = (Pubkey::new_unique(), Pubkey::new_unique());
        ok.validate(&me, &market, &settlement).unwrap();
        let mut bad = vec![
            Consumer {
                program: me,
                ..ok.clone()
            },
            Consumer {
                data_prefix: vec![1; MAX_CONSUMER_PREFIX + 1],
                ..ok.clone()
            },
            Consumer {
                accounts: vec![ok.accounts[0]; MAX_CONSUMER_ACCOUNTS + 1],
                ..ok.clone()
            },
        ];
        for p in REFUSED_CONSUMERS {
            bad.push(Consumer {
                program: *p,
                ..ok.clone()
            });
        }
        // the accounts may not name the consumer's own delivery authority or the settlement
        for named in [ok.authority(&me, &market), settlement] {
            let mut c = ok.clone();
            c.accounts[1].pubkey = named;
            bad.push(c);
        }
        for c in bad {
            assert!(
                c.validate(&me, &market, &settlement).is_err(),
                "{:?}",
                c.program
            );
        }
        // a consumer's authority is its own and its prefix's: another program's, another
        // prefix's (one byte longer) and another market's differ
        let other = Consumer {
            program: Pubkey::new_unique(),
            ..ok.clone()
        };
        assert_ne!(ok.authority(&me, &market), other.authority(&me, &market));
        let mut shifted = ok.clone();
        shifted.data_prefix.pop();
        assert_ne!(ok.authority(&me, &market), shifted.authority(&me, &market));
        assert_ne!(
            ok.authority(&me, &market),
            ok.authority(&me, &Pubkey::new_unique())
        );
        let mut buf = vec![];
        ok.serialize(&mut buf).unwrap();
        assert_eq!(buf.len(), ok.size());
    }
}
