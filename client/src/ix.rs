//! Instruction builders, one per program instruction, plus the ATA helper clients need.

use crate::{ata, pda, Instruction, Job, MarketRef, Pubkey, SlotState};
use anchor_lang::solana_program::instruction::AccountMeta;
use anchor_lang::{system_program, InstructionData, ToAccountMetas};
use anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent;
use compute_market::{accounts as acc, instruction as data};

fn build(
    program: &Pubkey,
    accounts: impl ToAccountMetas,
    data: impl InstructionData,
) -> Instruction {
    Instruction {
        program_id: *program,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

/// Creates `owner`'s associated token account for `mint` unless it exists.
pub fn create_ata(
    payer: &Pubkey,
    owner: &Pubkey,
    mint: &Pubkey,
    token_program: &Pubkey,
) -> Instruction {
    create_associated_token_account_idempotent(payer, owner, mint, token_program)
}

/// `init_market` on the deployment at `program`.
pub fn init_market(
    program: &Pubkey,
    authority: &Pubkey,
    payment_mint: &Pubkey,
    payment_token_program: &Pubkey,
    stake_mint: &Pubkey,
    stake_token_program: &Pubkey,
    args: crate::MarketInitArgs,
) -> Instruction {
    let market = pda::market(program, authority, args.market_id);
    let escrow_vault = pda::escrow_vault(program, &market);
    let stake_vault = pda::stake_vault(program, &market);
    build(
        program,
        acc::MarketInit {
            authority: *authority,
            market,
            payment_mint: *payment_mint,
            stake_mint: *stake_mint,
            escrow_vault,
            stake_vault,
            escrow_ledger: pda::ledger(program, &escrow_vault),
            stake_ledger: pda::ledger(program, &stake_vault),
            payment_token_program: *payment_token_program,
            stake_token_program: *stake_token_program,
            system_program: system_program::ID,
        },
        data::InitMarket { args },
    )
}

/// `update_market`.
pub fn update_market(
    authority: &Pubkey,
    market: &MarketRef,
    args: crate::MarketUpdateArgs,
) -> Instruction {
    build(
        &market.program,
        acc::MarketUpdate {
            authority: *authority,
            market: market.address,
        },
        data::UpdateMarket { args },
    )
}

/// `sweep_surplus` of the escrow vault (`stake == false`) or the stake vault into the
/// treasury's associated token account for that vault's mint.
pub fn sweep_surplus(authority: &Pubkey, market: &MarketRef, stake: bool) -> Instruction {
    let m = &market.state;
    let (vault, mint, token_program) = if stake {
        (m.stake_vault, m.stake_mint, m.stake_token_program)
    } else {
        (m.escrow_vault, m.payment_mint, m.payment_token_program)
    };
    build(
        &market.program,
        acc::MarketSweepSurplus {
            authority: *authority,
            market: market.address,
            ledger: pda::ledger(&market.program, &vault),
            vault,
            mint,
            treasury_token: ata(&m.treasury, &mint, &token_program),
            token_program,
        },
        data::SweepSurplus {},
    )
}

/// `register_provider`.
pub fn register_provider(
    owner: &Pubkey,
    market: &MarketRef,
    endpoint: &str,
    capabilities: u64,
) -> Instruction {
    build(
        &market.program,
        acc::ProviderRegister {
            owner: *owner,
            market: market.address,
            provider: market.provider(owner),
            system_program: system_program::ID,
        },
        data::RegisterProvider {
            args: compute_market::ProviderRegisterArgs {
                endpoint: endpoint.to_string(),
                capabilities,
            },
        },
    )
}

/// `stake` from `owner_token` (a stake-mint account the owner controls).
pub fn stake(owner: &Pubkey, market: &MarketRef, owner_token: &Pubkey, amount: u64) -> Instruction {
    let m = &market.state;
    build(
        &market.program,
        acc::ProviderStake {
            owner: *owner,
            market: market.address,
            provider: market.provider(owner),
            owner_token: *owner_token,
            stake_vault: m.stake_vault,
            stake_ledger: market.stake_ledger(),
            stake_mint: m.stake_mint,
            token_program: m.stake_token_program,
        },
        data::Stake { amount },
    )
}

/// `request_unstake`.
pub fn request_unstake(owner: &Pubkey, market: &MarketRef, amount: u64) -> Instruction {
    build(
        &market.program,
        acc::ProviderRequestUnstake {
            owner: *owner,
            market: market.address,
            provider: market.provider(owner),
        },
        data::RequestUnstake { amount },
    )
}

/// `withdraw_stake` into `destination` (a stake-mint account).
pub fn withdraw_stake(owner: &Pubkey, market: &MarketRef, destination: &Pubkey) -> Instruction {
    let m = &market.state;
    build(
        &market.program,
        acc::ProviderWithdrawStake {
            owner: *owner,
            market: market.address,
            provider: market.provider(owner),
            destination: *destination,
            stake_vault: m.stake_vault,
            stake_ledger: market.stake_ledger(),
            stake_mint: m.stake_mint,
            token_program: m.stake_token_program,
        },
        data::WithdrawStake {},
    )
}

/// `update_provider`.
pub fn update_provider(
    owner: &Pubkey,
    market: &MarketRef,
    args: crate::ProviderUpdateArgs,
) -> Instruction {
    build(
        &market.program,
        acc::ProviderUpdate {
            owner: *owner,
            provider: market.provider(owner),
        },
        data::UpdateProvider { args },
    )
}

/// `publish_offer`: what the provider's worker accepts, and that it runs.
pub fn publish_offer(
    owner: &Pubkey,
    market: &MarketRef,
    offer: compute_market::state::ProviderOffer,
    capabilities: u64,
) -> Instruction {
    build(
        &market.program,
        acc::ProviderPublishOffer {
            owner: *owner,
            provider: market.provider(owner),
        },
        data::PublishOffer {
            offer,
            capabilities,
        },
    )
}

/// `close_provider`.
pub fn close_provider(owner: &Pubkey, market: &MarketRef) -> Instruction {
    build(
        &market.program,
        acc::ProviderClose {
            owner: *owner,
            provider: market.provider(owner),
        },
        data::CloseProvider {},
    )
}

/// `post_job`, paying from `requester_token` (a payment-mint account).
pub fn post_job(
    requester: &Pubkey,
    market: &MarketRef,
    requester_token: &Pubkey,
    args: crate::JobPostArgs,
) -> Instruction {
    let m = &market.state;
    let job = market.job(requester, args.nonce);
    build(
        &market.program,
        acc::JobPost {
            requester: *requester,
            market: market.address,
            job,
            settlement: market.settlement(&job),
            requester_token: *requester_token,
            escrow_vault: m.escrow_vault,
            escrow_ledger: market.escrow_ledger(),
            payment_mint: m.payment_mint,
            stake_ledger: market.stake_ledger(),
            token_program: m.payment_token_program,
            system_program: system_program::ID,
        },
        data::PostJob { args },
    )
}

/// `extend_job` of `job` (the requester's), topping the escrow up from `requester_token` (a
/// payment-mint account) when the maximum rises.
pub fn extend_job(
    requester: &Pubkey,
    market: &MarketRef,
    job: &Pubkey,
    requester_token: &Pubkey,
    args: crate::JobExtendArgs,
) -> Instruction {
    let m = &market.state;
    build(
        &market.program,
        acc::JobExtend {
            requester: *requester,
            market: market.address,
            job: *job,
            requester_token: *requester_token,
            escrow_vault: m.escrow_vault,
            escrow_ledger: market.escrow_ledger(),
            payment_mint: m.payment_mint,
            token_program: m.payment_token_program,
        },
        data::ExtendJob { args },
    )
}

/// `cancel_job`, refunding into `refund_to` (a payment-mint account) and writing the job's
/// `Cancelled` settlement record.
pub fn cancel_job(
    requester: &Pubkey,
    market: &MarketRef,
    job: &Pubkey,
    refund_to: &Pubkey,
) -> Instruction {
    let m = &market.state;
    build(
        &market.program,
        acc::JobCancel {
            requester: *requester,
            market: market.address,
            job: *job,
            settlement: market.settlement(job),
            refund_to: *refund_to,
            escrow_vault: m.escrow_vault,
            escrow_ledger: market.escrow_ledger(),
            payment_mint: m.payment_mint,
            token_program: m.payment_token_program,
            system_program: system_program::ID,
        },
        data::CancelJob {},
    )
}

/// `claim_job`.
pub fn claim_job(owner: &Pubkey, market: &MarketRef, job: &Pubkey) -> Instruction {
    build(
        &market.program,
        acc::JobClaim {
            owner: *owner,
            market: market.address,
            job: *job,
            provider: market.provider(owner),
            slot_hashes: compute_market::constants::SLOT_HASHES_SYSVAR,
        },
        data::ClaimJob {},
    )
}

/// `expire_claim` of `slot`, held by `slot_provider` (owner wallet); the bounty goes to
/// `bounty_to` (a stake-mint account).
pub fn expire_claim(
    caller: &Pubkey,
    market: &MarketRef,
    job: &Pubkey,
    slot: u8,
    slot_provider: &Pubkey,
    bounty_to: &Pubkey,
) -> Instruction {
    let m = &market.state;
    build(
        &market.program,
        acc::JobExpireClaim {
            caller: *caller,
            market: market.address,
            job: *job,
            provider: market.provider(slot_provider),
            stake_vault: m.stake_vault,
            stake_ledger: market.stake_ledger(),
            stake_mint: m.stake_mint,
            slash_treasury: ata(&m.treasury, &m.stake_mint, &m.stake_token_program),
            bounty_to: *bounty_to,
            token_program: m.stake_token_program,
        },
        data::ExpireClaim { slot },
    )
}

/// `commit_result` of `commitment` (see [`crate::commitment_hash`]).
pub fn commit_result(
    market: &MarketRef,
    owner: &Pubkey,
    job: &Pubkey,
    commitment: [u8; 32],
) -> Instruction {
    build(
        &market.program,
        acc::JobCommit {
            owner: *owner,
            job: *job,
        },
        data::CommitResult { commitment },
    )
}

/// `reveal_result`.
pub fn reveal_result(
    market: &MarketRef,
    owner: &Pubkey,
    job: &Pubkey,
    result_root: [u8; 32],
    salt: [u8; 32],
) -> Instruction {
    build(
        &market.program,
        acc::JobReveal {
            owner: *owner,
            job: *job,
        },
        data::RevealResult {
            args: compute_market::JobRevealArgs { result_root, salt },
        },
    )
}

/// `finalize_job` for `job` in its current state, with the provider accounts and payout
/// accounts of every held slot. `bounty_to` is a stake-mint account of the caller.
pub fn finalize_job(
    caller: &Pubkey,
    market: &MarketRef,
    job_address: &Pubkey,
    job: &Job,
    bounty_to: &Pubkey,
) -> Instruction {
    let m = &market.state;
    let mut ix = build(
        &market.program,
        acc::JobFinalize {
            caller: *caller,
            market: market.address,
            job: *job_address,
            settlement: market.settlement(job_address),
            requester: job.requester,
            refund_to: ata(&job.requester, &m.payment_mint, &m.payment_token_program),
            escrow_vault: m.escrow_vault,
            stake_vault: m.stake_vault,
            escrow_ledger: market.escrow_ledger(),
            stake_ledger: market.stake_ledger(),
            payment_mint: m.payment_mint,
            stake_mint: m.stake_mint,
            fee_treasury: ata(&m.treasury, &m.payment_mint, &m.payment_token_program),
            slash_treasury: ata(&m.treasury, &m.stake_mint, &m.stake_token_program),
            bounty_to: *bounty_to,
            payment_token_program: m.payment_token_program,
            stake_token_program: m.stake_token_program,
            system_program: system_program::ID,
        },
        data::FinalizeJob {},
    );
    for slot in job.slots.iter().filter(|s| s.state != SlotState::Free) {
        ix.accounts
            .push(AccountMeta::new(market.provider(&slot.provider), false));
        ix.accounts.push(AccountMeta::new(
            ata(&slot.provider, &m.payment_mint, &m.payment_token_program),
            false,
        ));
    }
    ix
}

/// The ATA creations a `finalize_job` may need: the requester's and the treasury's payment
/// accounts, the treasury's stake account, and the payment account of every provider that
/// revealed (any of them may be paid). All are idempotent.
pub fn finalize_job_prerequisites(
    payer: &Pubkey,
    market: &MarketRef,
    job: &Job,
) -> Vec<Instruction> {
    let m = &market.state;
    let mut out = vec![
        create_ata(
            payer,
            &job.requester,
            &m.payment_mint,
            &m.payment_token_program,
        ),
        create_ata(
            payer,
            &m.treasury,
            &m.payment_mint,
            &m.payment_token_program,
        ),
        create_ata(payer, &m.treasury, &m.stake_mint, &m.stake_token_program),
    ];
    for slot in job.slots.iter().filter(|s| s.state == SlotState::Revealed) {
        out.push(create_ata(
            payer,
            &slot.provider,
            &m.payment_mint,
            &m.payment_token_program,
        ));
    }
    out
}

/// `deliver_result` of the settled job `job` (settlement record `settlement`) to the consumer it
/// named, with `result` opened against the settled root (`ResultSummary::opening`; `None`
/// unless the job was verified). Fails with `None` when the job named no consumer.
pub fn deliver_result(
    caller: &Pubkey,
    program: &Pubkey,
    job: &Pubkey,
    settlement: &crate::Settlement,
    result: Option<compute_market::state::DeliveredResult>,
) -> Option<Instruction> {
    let consumer = &settlement.delivery.as_ref()?.consumer;
    let mut ix = build(
        program,
        acc::JobDeliver {
            caller: *caller,
            settlement: pda::settlement(program, job),
            delivery_authority: pda::delivery_authority(
                program,
                &settlement.market,
                &consumer.program,
                &consumer.data_prefix,
            ),
            consumer_program: consumer.program,
        },
        data::DeliverResult {
            args: compute_market::JobDeliverArgs { result },
        },
    );
    for a in &consumer.accounts {
        ix.accounts.push(if a.writable {
            AccountMeta::new(a.pubkey, false)
        } else {
            AccountMeta::new_readonly(a.pubkey, false)
        });
    }
    Some(ix)
}
