//! `cmkt job deliver <JOB>`: hands a settled job's outcome to the program it named
//! (`deliver_result`), for example to retry after the consumer refused. A verified result is
//! opened from an agreeing provider's result server: its summary, checked against the settled
//! root, and the output when it is short enough to travel in the delivery.

use super::job::read_capped;
use crate::{out, settings::parse_pubkey, Ctx};
use anyhow::{anyhow, bail, Context, Result};
use compute_market_client::{
    merkle::ResultSummary,
    program::state::MAX_DELIVERED_OUTPUT,
    results::{output_url, summary_url, verify_output, verify_summary, ResultSummaryJson},
    rpc::Chain,
    DeliveredResult, Outcome, Pubkey, Settlement, Verdict,
};
use serde_json::json;
use std::time::Duration;

/// The opening of `s`'s verified result, from the first agreeing provider that serves it.
async fn opening(chain: &Chain, job: &Pubkey, s: &Settlement) -> Result<DeliveredResult> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut failures = vec![];
    for v in s.verdicts.iter().filter(|v| v.verdict == Verdict::Agreed) {
        let attempt = async {
            let p = chain
                .provider(&s.market, &v.provider)
                .await?
                .ok_or_else(|| anyhow!("the provider account is gone"))?;
            let bytes = read_capped(&http, &summary_url(&p.endpoint, &s.result_root), 64 * 1024)
                .await
                .context("fetching the summary")?;
            let json: ResultSummaryJson =
                serde_json::from_slice(&bytes).context("the summary is not valid JSON")?;
            let summary: ResultSummary = verify_summary(job, &s.result_root, &json)
                .map_err(|e| anyhow!("the summary fails verification: {e}"))?;
            let output = if summary.output_len <= MAX_DELIVERED_OUTPUT {
                let out = read_capped(
                    &http,
                    &output_url(&p.endpoint, &s.result_root),
                    summary.output_len,
                )
                .await
                .context("fetching the output")?;
                verify_output(job, &s.result_root, &json, &out)
                    .map_err(|e| anyhow!("served bytes fail verification: {e}"))?;
                out
            } else {
                Vec::new()
            };
            anyhow::Ok(summary.opening(&output))
        };
        match attempt.await {
            Ok(o) => return Ok(o),
            Err(e) => failures.push(format!("provider {}: {e:#}", v.provider)),
        }
    }
    bail!(
        "no agreeing provider served the result: {}",
        failures.join("; ")
    )
}

pub async fn run(ctx: &Ctx, chain: &Chain, job: &str) -> Result<()> {
    let job = parse_pubkey("job", job)?;
    let payer = ctx.settings.keypair()?;
    let s = chain.settlement(&job).await?.ok_or_else(|| {
        anyhow!("job {job} has not settled (or was never posted): nothing to deliver yet")
    })?;
    let Some(d) = &s.delivery else {
        bail!("job {job} named no consumer: there is nothing to deliver");
    };
    if d.delivered_slot != 0 {
        bail!(
            "job {job}'s result was delivered already, at slot {} by {}",
            d.delivered_slot,
            d.delivered_by
        );
    }
    let result = match s.outcome {
        Outcome::Verified => Some(opening(chain, &job, &s).await?),
        _ => None,
    };
    let carried = result.as_ref().map_or(0, |r| r.output.len());
    let max = u64::from(compute_market_client::budget::MAX_TRANSACTION_UNITS);
    let sig = chain.deliver(&payer, &job, result, max).await?;
    let value = json!({
        "job": job.to_string(), "consumer": d.consumer.program.to_string(),
        "outcome": format!("{:?}", s.outcome), "output_bytes": carried,
        "signature": sig.to_string(),
    });
    out::emit(ctx.format, &value, || {
        format!(
            "job {job}'s {:?} outcome delivered to {} ({carried} bytes of output carried) ({sig})\n",
            s.outcome, d.consumer.program
        )
    })
}
