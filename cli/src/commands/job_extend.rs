//! `cmkt job extend <JOB>`: later deadlines and a higher maximum for an open job (the
//! program's `extend_job`), checked here first so that a refusal says what to change.

use crate::{out, settings::*, Ctx};
use anyhow::{anyhow, bail, Result};
use compute_market_client::{ata, ix, rpc::Chain, JobExtendArgs, JobReprice, MarketRef, SlotState};
use serde_json::json;
use solana_sdk::signer::Signer;

#[derive(clap::Args)]
pub struct ExtendArgs {
    job: String,
    /// Seconds added to the commit and reveal deadlines.
    #[arg(long = "by", default_value_t = 0)]
    extend_seconds: i64,
    /// A new price curve: the maximum per replica, in whole tokens (at least the current one;
    /// the escrow is topped up by the difference times n). Only while no slot is held.
    #[arg(long)]
    max_reward: Option<String>,
    /// With --max-reward: seconds the price takes to rise from where it stands to the
    /// maximum (0: the maximum at once).
    #[arg(long, default_value_t = 0, requires = "max_reward")]
    ramp: i64,
}

pub async fn run(ctx: &Ctx, chain: &Chain, market: &MarketRef, a: ExtendArgs, d: u8) -> Result<()> {
    let job = parse_pubkey("job", &a.job)?;
    let requester = ctx.settings.keypair()?;
    let m = &market.state;
    let j = chain.job(&job).await?.ok_or_else(|| {
        anyhow!("job {job} is not open (settled, cancelled or never posted): nothing to extend")
    })?;
    if j.requester != requester.pubkey() {
        bail!(
            "only the job's requester {} may extend it (this wallet is {})",
            j.requester,
            requester.pubkey()
        );
    }
    let now = chain.unix_time().await?;
    let reward = match &a.max_reward {
        Some(r) => parse_amount(r, d)?,
        None => j.reward_per_replica,
    };
    let reprice = a.max_reward.is_some();
    if a.extend_seconds < 0 || a.ramp < 0 {
        bail!("--by and --ramp are seconds, 0 or more");
    }
    if a.extend_seconds == 0 && !reprice {
        bail!("nothing to extend: give --by SECONDS and/or a new curve (--max-reward, --ramp)");
    }
    if !j.commit_phase_open(now) {
        bail!("the job's commit phase is over: it can no longer be extended");
    }
    if reward < j.reward_per_replica {
        bail!(
            "--max-reward {} is below the job's maximum {}: a maximum only rises",
            format_amount(reward, d),
            format_amount(j.reward_per_replica, d)
        );
    }
    if reprice && j.slots.iter().any(|s| s.state != SlotState::Free) {
        bail!(
            "a slot of the job is held and locked its price: the price curve can change only \
             while no slot is held (--by still moves the deadlines)"
        );
    }
    let deadline = j.commit_deadline + a.extend_seconds;
    let limit = j.created_at + m.config.max_commit_window;
    if deadline > limit {
        bail!(
            "the commit deadline would end {} s after the post; the market allows {} s: --by at \
             most {}",
            deadline - j.created_at,
            m.config.max_commit_window,
            limit - j.commit_deadline
        );
    }
    if a.ramp > 0 && now + a.ramp + j.claim_timeout >= deadline {
        bail!(
            "a ramp of {} s would end too late for a claim at the maximum (a claim needs {} s \
             before the commit deadline, {} s from now)",
            a.ramp,
            j.claim_timeout,
            deadline - now
        );
    }
    let top_up = (reward - j.reward_per_replica)
        .checked_mul(j.replicas as u64)
        .ok_or_else(|| anyhow!("reward × replicas overflows"))?;
    let from = ata(
        &requester.pubkey(),
        &m.payment_mint,
        &m.payment_token_program,
    );
    if top_up > 0 {
        let have = chain.token_balance(&from).await?;
        if have < top_up {
            bail!(
                "not enough tokens for the top-up of {}: {} holds {}",
                format_amount(top_up, d),
                requester.pubkey(),
                format_amount(have, d)
            );
        }
    }
    let args = JobExtendArgs {
        extend_seconds: a.extend_seconds,
        reprice: reprice.then_some(JobReprice {
            reward_per_replica: reward,
            ramp_seconds: a.ramp,
        }),
    };
    let sig = chain
        .send(
            &[ix::extend_job(
                &requester.pubkey(),
                market,
                &job,
                &from,
                args,
            )],
            &requester,
            &[],
        )
        .await?;
    let after = chain
        .job(&job)
        .await?
        .ok_or_else(|| anyhow!("job {job} settled right after the extension"))?;
    let value = json!({
        "job": job.to_string(), "signature": sig.to_string(), "top_up": top_up,
        "commit_deadline": after.commit_deadline, "reveal_deadline": after.reveal_deadline,
        "reward_per_replica": after.reward_per_replica,
        "min_reward_per_replica": after.min_reward_per_replica,
        "ramp_start": after.ramp_start, "ramp_seconds": after.ramp_seconds, "escrow": after.escrow,
    });
    out::emit(ctx.format, &value, || {
        format!(
            "job {job} extended ({sig}): commit deadline {} (was {}), reveal deadline {}; price \
             now {} rising to {} by {}; escrow {} (topped up by {})\n",
            out::utc(after.commit_deadline),
            out::utc(j.commit_deadline),
            out::utc(after.reveal_deadline),
            format_amount(after.price_at(now), d),
            format_amount(after.reward_per_replica, d),
            out::utc(after.ramp_start + after.ramp_seconds),
            format_amount(after.escrow, d),
            format_amount(top_up, d),
        )
    })
}
