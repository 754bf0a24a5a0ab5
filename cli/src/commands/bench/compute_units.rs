//! The compute units of every instruction of the program, measured by the runtime
//! (`compute_market_harness::cu`), one row per instruction and n for BENCHMARKS.md.

use super::report::CuRow;
use anyhow::Result;

/// The measured units of every instruction, one row per instruction and n.
pub fn run() -> Result<Vec<CuRow>> {
    let rows = compute_market_harness::cu::measure().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out: Vec<CuRow> = Vec::new();
    for r in rows {
        let name = r.instruction.split(' ').next().unwrap_or_default();
        let held = if name == "finalize_job" {
            r.replicas
        } else {
            0
        };
        let limit = compute_market_client::budget::program_limit(name, held).unwrap_or(0);
        let i = match out
            .iter()
            .position(|o| o.instruction == r.instruction && o.replicas == r.replicas)
        {
            Some(i) => i,
            None => {
                out.push(CuRow {
                    instruction: r.instruction.clone(),
                    replicas: r.replicas,
                    limit: u64::from(limit),
                    ..Default::default()
                });
                out.len() - 1
            }
        };
        let cell = if r.token == "SPL Token" {
            &mut out[i].spl_token
        } else {
            &mut out[i].token_2022
        };
        // the bump searches vary with the addresses of each run: left out, so figures compare
        *cell = (*cell).max(r.units - r.pda_search);
    }
    Ok(out)
}
