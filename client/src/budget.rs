//! The compute-unit limit a transaction asks for, from the units the runtime measured for each
//! instruction (`compute_market_harness::cu`, printed in BENCHMARKS.md) plus a margin, instead of
//! a flat limit. A limit close to the need matters: the priority fee is paid per requested unit,
//! and a block packs transactions by their requested units.
//!
//! `tests/tests/compute_units.rs` fails when an instruction needs more than its limit here, or
//! when a limit is more than twice what the instruction needs.

use crate::{Instruction, Pubkey};
use anchor_lang::Discriminator;
use compute_market::instruction as ixs;

/// Units of a program instruction: `base + per_slot × held slots` (for finalize, the slots with
/// a claim; for the others the largest job, n = 8, is assumed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub base: u32,
    pub per_slot: u32,
}

impl Limit {
    const fn flat(base: u32) -> Limit {
        Limit { base, per_slot: 0 }
    }

    /// The limit for `held` slots.
    pub fn units(&self, held: u8) -> u32 {
        self.base + self.per_slot * u32::from(held)
    }
}

/// The program's instructions with their limits, by Anchor discriminator: about 1.25 times the
/// most the runtime measured (n = 1, 3, 8; SPL Token and Token-2022; bump searches beyond the
/// first try counted apart, see [`pda_search_units`]).
pub const PROGRAM_LIMITS: &[(&str, &[u8], Limit)] = &[
    (
        "init_market",
        ixs::InitMarket::DISCRIMINATOR,
        Limit::flat(45_500),
    ),
    (
        "update_market",
        ixs::UpdateMarket::DISCRIMINATOR,
        Limit::flat(4_500),
    ),
    (
        "sweep_surplus",
        ixs::SweepSurplus::DISCRIMINATOR,
        Limit::flat(11_500),
    ),
    (
        "register_provider",
        ixs::RegisterProvider::DISCRIMINATOR,
        Limit::flat(11_000),
    ),
    ("stake", ixs::Stake::DISCRIMINATOR, Limit::flat(18_500)),
    (
        "request_unstake",
        ixs::RequestUnstake::DISCRIMINATOR,
        Limit::flat(7_000),
    ),
    (
        "withdraw_stake",
        ixs::WithdrawStake::DISCRIMINATOR,
        Limit::flat(19_000),
    ),
    (
        "update_provider",
        ixs::UpdateProvider::DISCRIMINATOR,
        Limit::flat(7_000),
    ),
    (
        "publish_offer",
        ixs::PublishOffer::DISCRIMINATOR,
        Limit::flat(6_000),
    ),
    (
        "close_provider",
        ixs::CloseProvider::DISCRIMINATOR,
        Limit::flat(5_000),
    ),
    ("post_job", ixs::PostJob::DISCRIMINATOR, Limit::flat(34_000)),
    (
        "extend_job",
        ixs::ExtendJob::DISCRIMINATOR,
        Limit::flat(25_000),
    ),
    (
        "cancel_job",
        ixs::CancelJob::DISCRIMINATOR,
        Limit::flat(34_500),
    ),
    (
        "claim_job",
        ixs::ClaimJob::DISCRIMINATOR,
        Limit::flat(28_000),
    ),
    (
        "expire_claim",
        ixs::ExpireClaim::DISCRIMINATOR,
        Limit::flat(32_000),
    ),
    (
        "commit_result",
        ixs::CommitResult::DISCRIMINATOR,
        Limit::flat(12_500),
    ),
    (
        "reveal_result",
        ixs::RevealResult::DISCRIMINATOR,
        Limit::flat(12_500),
    ),
    (
        "finalize_job",
        ixs::FinalizeJob::DISCRIMINATOR,
        Limit {
            base: 44_000,
            per_slot: 7_000,
        },
    ),
];

/// Accounts of `finalize_job` before the two per held slot.
const FINALIZE_FIXED_ACCOUNTS: usize = 18;

/// The limit of an instruction of the program by name (`finalize_job`), for `held` slots.
pub fn program_limit(name: &str, held: u8) -> Option<u32> {
    PROGRAM_LIMITS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, l)| l.units(held))
}

/// Units of instructions of other programs that clients send with ours.
mod other {
    /// Compute-budget and system instructions: builtins at a fixed cost.
    pub const BUILTIN: u32 = 150;
    /// An idempotent associated-token-account creation that creates the account (the worst
    /// case; when it exists it costs far less).
    pub const CREATE_ATA: u32 = 40_000;
    /// A token program instruction (mint, transfer).
    pub const TOKEN: u32 = 10_000;
    /// An instruction of the upgradeable loader (it CPIs into the system program to create or
    /// resize accounts).
    pub const LOADER: u32 = 10_000;
    /// Anything else: the runtime's default per instruction.
    pub const UNKNOWN: u32 = 200_000;
}

/// Units of one bump tried by `find_program_address` (the `create_program_address` cost).
pub const PDA_TRY_UNITS: u32 = 1_500;

/// Units the program spends searching bumps for the PDAs `ix` creates beyond the first try of
/// each: `find_program_address` tries 255, 254, … until the address is off the curve, and an
/// account created with `init` has its bump searched (as has a consumer's delivery authority
/// in `post_job`). The limits above hold one try per PDA.
pub fn pda_search_units(ix: &Instruction, program: &Pubkey) -> u32 {
    use compute_market::constants::*;
    let key = |i: usize| ix.accounts.get(i).map(|m| m.pubkey.to_bytes().to_vec());
    let (Some(a0), Some(a1), Some(a2)) = (key(0), key(1), key(2)) else {
        return 0;
    };
    // the u64 argument that leads every instruction's data (market id, job nonce)
    let arg = ix.data.get(8..16).unwrap_or(&[0; 8]).to_vec();
    let disc = ix.data.get(..8).unwrap_or_default();
    // accounts in the order of each instruction's accounts struct
    let searched: Vec<Vec<Vec<u8>>> = if disc == ixs::InitMarket::DISCRIMINATOR {
        // authority, market, …; each vault's ledger is a PDA of the vault's address
        let market = ix.accounts[1].pubkey;
        let escrow_vault = crate::pda::escrow_vault(program, &market)
            .to_bytes()
            .to_vec();
        let stake_vault = crate::pda::stake_vault(program, &market)
            .to_bytes()
            .to_vec();
        vec![
            vec![SEED_MARKET.to_vec(), a0, arg],
            vec![SEED_ESCROW_VAULT.to_vec(), a1.clone()],
            vec![SEED_STAKE_VAULT.to_vec(), a1],
            vec![SEED_LEDGER.to_vec(), escrow_vault],
            vec![SEED_LEDGER.to_vec(), stake_vault],
        ]
    } else if disc == ixs::RegisterProvider::DISCRIMINATOR {
        // owner, market, provider
        vec![vec![SEED_PROVIDER.to_vec(), a1, a0]]
    } else if disc == ixs::PostJob::DISCRIMINATOR {
        // requester, market, job, settlement; a consumer's delivery authority is derived to
        // check the consumer's accounts
        let consumer = <ixs::PostJob as anchor_lang::AnchorDeserialize>::try_from_slice(
            ix.data.get(8..).unwrap_or_default(),
        )
        .ok()
        .and_then(|p| p.args.consumer);
        let mut seeds = vec![
            vec![SEED_JOB.to_vec(), a1.clone(), a0, arg],
            vec![SEED_SETTLEMENT.to_vec(), a2],
        ];
        if let Some(c) = consumer {
            seeds.push(vec![
                SEED_DELIVERY.to_vec(),
                a1,
                c.program.to_bytes().to_vec(),
                c.data_prefix,
            ]);
        }
        seeds
    } else if disc == ixs::FinalizeJob::DISCRIMINATOR || disc == ixs::CancelJob::DISCRIMINATOR {
        // caller (requester), market, job, settlement
        vec![vec![SEED_SETTLEMENT.to_vec(), a2]]
    } else {
        vec![]
    };
    searched
        .iter()
        .map(|seeds| {
            let refs: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
            let (_, bump) = Pubkey::find_program_address(&refs, program);
            PDA_TRY_UNITS * (255 - u32::from(bump))
        })
        .sum()
}

/// Units one instruction needs; `program` is the market program's address.
pub fn instruction_units(ix: &Instruction, program: &Pubkey) -> u32 {
    use crate::token::{TOKEN_2022_PROGRAM, TOKEN_PROGRAM};
    let p = &ix.program_id;
    if p == program {
        let disc = ix.data.get(..8).unwrap_or_default();
        let search = pda_search_units(ix, program);
        return search
            + match PROGRAM_LIMITS.iter().find(|(_, d, _)| *d == disc) {
                Some(("finalize_job", _, l)) => {
                    let held = ix.accounts.len().saturating_sub(FINALIZE_FIXED_ACCOUNTS) / 2;
                    l.units(u8::try_from(held).unwrap_or(u8::MAX))
                }
                Some((_, _, l)) => l.units(0),
                None => other::UNKNOWN,
            };
    }
    if *p == solana_sdk_ids::compute_budget::ID || *p == solana_sdk_ids::system_program::ID {
        other::BUILTIN
    } else if *p == anchor_spl::associated_token::ID {
        other::CREATE_ATA
    } else if *p == TOKEN_PROGRAM || *p == TOKEN_2022_PROGRAM {
        other::TOKEN
    } else if *p == solana_sdk_ids::bpf_loader_upgradeable::ID {
        other::LOADER
    } else {
        other::UNKNOWN
    }
}

/// Largest limit a transaction may ask for.
pub const MAX_TRANSACTION_UNITS: u32 = 1_400_000;

/// The limit for a transaction of `ixs` (the compute-budget instructions it will carry
/// included: two).
pub fn transaction_units(ixs: &[Instruction], program: &Pubkey) -> u32 {
    let sum: u32 = ixs.iter().map(|ix| instruction_units(ix, program)).sum();
    (sum + 2 * other::BUILTIN).min(MAX_TRANSACTION_UNITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The web app sets its transactions' limits from the same figures:
    /// `app/src/lib/compute-budget.json`, written here and checked to be current.
    #[test]
    fn web_app_table_is_current() {
        const PATH: &str = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../app/src/lib/compute-budget.json"
        );
        let limits: serde_json::Map<String, serde_json::Value> = PROGRAM_LIMITS
            .iter()
            .map(|(name, _, l)| {
                (
                    name.to_string(),
                    serde_json::json!({ "base": l.base, "per_slot": l.per_slot }),
                )
            })
            .collect();
        let want = serde_json::to_string_pretty(&serde_json::json!({
            "about": "Generated by compute-market-client (budget::tests); regenerate with CMKT_WRITE_VECTORS=1 cargo test -p compute-market-client budget",
            "pda_try_units": PDA_TRY_UNITS,
            "builtin_units": other::BUILTIN,
            "create_ata_units": other::CREATE_ATA,
            "limits": limits,
        }))
        .unwrap()
            + "\n";
        crate::generated::check(
            PATH,
            &want,
            "CMKT_WRITE_VECTORS=1 cargo test -p compute-market-client budget",
        );
    }

    #[test]
    fn a_transaction_asks_for_what_its_instructions_need() {
        let program = crate::PROGRAM_ID;
        let market = Pubkey::new_unique();
        let owner = Pubkey::new_unique();
        let claim = Instruction {
            program_id: program,
            accounts: vec![],
            data: ixs::ClaimJob::DISCRIMINATOR.to_vec(),
        };
        assert_eq!(instruction_units(&claim, &program), 28_000);
        // finalize grows with the held slots: 18 fixed accounts, two per slot
        let metas = |n: usize| {
            (0..n)
                .map(|_| {
                    anchor_lang::solana_program::instruction::AccountMeta::new(
                        Pubkey::new_unique(),
                        false,
                    )
                })
                .collect::<Vec<_>>()
        };
        let finalize = |slots: usize| Instruction {
            program_id: program,
            accounts: metas(FINALIZE_FIXED_ACCOUNTS + 2 * slots),
            data: ixs::FinalizeJob::DISCRIMINATOR.to_vec(),
        };
        let (f1, f8) = (finalize(1), finalize(8));
        let (one, eight) = (
            instruction_units(&f1, &program) - pda_search_units(&f1, &program),
            instruction_units(&f8, &program) - pda_search_units(&f8, &program),
        );
        assert_eq!(eight - one, 7 * 7_000);
        // the bump searches of the job and settlement PDAs a post creates are counted
        let meta = anchor_lang::solana_program::instruction::AccountMeta::new;
        let (job, bump) = Pubkey::find_program_address(
            &[b"job", market.as_ref(), owner.as_ref(), &1u64.to_le_bytes()],
            &program,
        );
        let (settlement, settlement_bump) =
            Pubkey::find_program_address(&[b"settlement", job.as_ref()], &program);
        let mut post = Instruction {
            program_id: program,
            accounts: vec![
                meta(owner, true),
                meta(market, false),
                meta(job, false),
                meta(settlement, false),
            ],
            data: [ixs::PostJob::DISCRIMINATOR, &1u64.to_le_bytes()].concat(),
        };
        let search = PDA_TRY_UNITS * (510 - u32::from(bump) - u32::from(settlement_bump));
        assert_eq!(pda_search_units(&post, &program), search);
        assert_eq!(instruction_units(&post, &program), 34_000 + search);
        // another program's instruction is not ours; an unknown one gets the runtime default
        post.program_id = Pubkey::new_unique();
        assert_eq!(instruction_units(&post, &program), other::UNKNOWN);
        // a transaction sums its instructions and the two compute-budget ones
        assert_eq!(
            transaction_units(&[claim.clone(), claim], &program),
            2 * 28_000 + 2 * other::BUILTIN
        );
    }
}
