use crate::constants::*;
use crate::error::MarketError;
use crate::events::ResultDelivered;
use crate::state::{DeliveredResult, DeliveryMessage, Outcome, Settlement, Verdict};
use anchor_lang::prelude::*;
use anchor_lang::solana_program::{
    instruction::{AccountMeta, Instruction},
    program::invoke_signed,
};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct JobDeliverArgs {
    /// For a `Verified` job: the result opened against the settled root (with the output when
    /// it is at most `MAX_DELIVERED_OUTPUT` bytes). `None` for any other outcome.
    pub result: Option<DeliveredResult>,
}

/// Calls a settled job's consumer with its outcome (permissionless). The call runs in its own
/// transaction after the settlement, so a consumer that fails undoes nothing but the delivery,
/// which anyone may retry until one succeeds; the settlement records that one.
///
/// Remaining accounts: the consumer's accounts, in the order and with the writability the job
/// named.
#[derive(Accounts)]
pub struct JobDeliver<'info> {
    /// Pays the transaction; recorded as the deliverer.
    pub caller: Signer<'info>,

    #[account(
        mut,
        seeds = [SEED_SETTLEMENT, settlement.job.as_ref()],
        bump = settlement.bump,
    )]
    pub settlement: Box<Account<'info, Settlement>>,

    /// CHECK: PDA `["delivery", market, consumer program, data prefix]` (seeds constraint):
    /// signs the consumer call and owns nothing, so its signature proves only that this program
    /// made the call, to that consumer, with that prefix before the message.
    #[account(
        seeds = [
            SEED_DELIVERY,
            settlement.market.as_ref(),
            consumer_program.key().as_ref(),
            settlement.delivery_prefix(),
        ],
        bump,
    )]
    pub delivery_authority: UncheckedAccount<'info>,

    /// CHECK: the consumer the job named (address and executable checked in `validate`).
    pub consumer_program: UncheckedAccount<'info>,
}

impl JobDeliver<'_> {
    pub fn validate(&self, args: &JobDeliverArgs) -> Result<()> {
        let s = &self.settlement;
        let delivery = s.delivery.as_ref().ok_or(MarketError::NoConsumer)?;
        require!(delivery.delivered_slot == 0, MarketError::AlreadyDelivered);
        require!(
            self.consumer_program.key() == delivery.consumer.program
                && self.consumer_program.executable,
            MarketError::ConsumerAccountMismatch
        );
        match (&args.result, s.outcome) {
            (Some(r), Outcome::Verified) => r.check(&s.job, &s.result_root),
            (None, Outcome::Verified) | (Some(_), _) => err!(MarketError::ResultMismatch),
            (None, _) => Ok(()),
        }
    }

    pub fn handler<'info>(
        ctx: Context<'info, JobDeliver<'info>>,
        args: JobDeliverArgs,
    ) -> Result<()> {
        let a = &ctx.accounts;
        let s = &a.settlement;
        let consumer = s
            .delivery
            .as_ref()
            .ok_or(MarketError::NoConsumer)?
            .consumer
            .clone();
        let message = DeliveryMessage {
            market: s.market,
            job: s.job,
            requester: s.requester,
            nonce: s.nonce,
            manifest_hash: s.manifest_hash,
            outcome: s.outcome,
            replicas: s.replicas,
            quorum: s.quorum,
            agreeing: s
                .verdicts
                .iter()
                .filter(|v| v.verdict == Verdict::Agreed)
                .count() as u8,
            result_root: s.result_root,
            result: args.result,
            settled_slot: s.settled_slot,
        };
        let mut data = consumer.data_prefix.clone();
        message.serialize(&mut data)?;

        let authority = a.delivery_authority.to_account_info();
        let record = a.settlement.to_account_info();
        require!(
            ctx.remaining_accounts.len() == consumer.accounts.len(),
            MarketError::ConsumerAccountMismatch
        );
        let mut metas = vec![
            AccountMeta::new_readonly(authority.key(), true),
            AccountMeta::new_readonly(record.key(), false),
        ];
        let mut infos = vec![authority, record];
        for (info, want) in ctx.remaining_accounts.iter().zip(&consumer.accounts) {
            require!(
                info.key() == want.pubkey && (info.is_writable || !want.writable),
                MarketError::ConsumerAccountMismatch
            );
            metas.push(if want.writable {
                AccountMeta::new(want.pubkey, false)
            } else {
                AccountMeta::new_readonly(want.pubkey, false)
            });
            infos.push(info.clone());
        }
        infos.push(a.consumer_program.to_account_info());
        let call = Instruction {
            program_id: consumer.program,
            accounts: metas,
            data,
        };
        let market = s.market;
        invoke_signed(
            &call,
            &infos,
            &[&[
                SEED_DELIVERY,
                market.as_ref(),
                consumer.program.as_ref(),
                &consumer.data_prefix,
                &[ctx.bumps.delivery_authority],
            ]],
        )?;

        let clock = Clock::get()?;
        let caller = ctx.accounts.caller.key();
        let settlement_key = ctx.accounts.settlement.key();
        let s = &mut ctx.accounts.settlement;
        let d = s.delivery.as_mut().ok_or(MarketError::NoConsumer)?;
        // a slot number of 0 means "not delivered": the genesis slot never settles anything
        d.delivered_slot = clock.slot.max(1);
        d.delivered_at = clock.unix_timestamp;
        d.delivered_by = caller;
        emit!(ResultDelivered {
            job: s.job,
            settlement: settlement_key,
            consumer: consumer.program,
            outcome: s.outcome,
            result_root: s.result_root,
            deliverer: caller,
        });
        Ok(())
    }
}
