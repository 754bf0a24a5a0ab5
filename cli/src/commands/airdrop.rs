//! `cmkt airdrop`: SOL from the cluster's faucet through JSON-RPC `requestAirdrop`, as `solana
//! airdrop` does (any cluster with a faucet: `cmkt localnet`, `solana-test-validator`, devnet),
//! and on `cmkt localnet` the market's tokens too, minted by the chain's authority.

use crate::{out, settings, Ctx};
use anyhow::{anyhow, bail, Context, Result};
use compute_market_client::{ata, ix, rpc::ChainError, token, Pubkey};
use compute_market_localnet::faucet::AIRDROP_CAP_LAMPORTS;
use serde_json::json;
use solana_sdk::{signature::read_keypair_file, signer::Signer};

#[derive(clap::Args)]
pub struct Args {
    /// SOL to request (`cmkt localnet`'s faucet gives at most 1000 a request).
    #[arg(allow_negative_numbers = true)]
    sol: f64,
    /// Who receives it; default: the wallet of --keypair.
    recipient: Option<String>,
    /// Also mint this many of the local market's tokens to the recipient (only on
    /// `cmkt localnet`, whose authority holds the mint).
    #[arg(long)]
    tokens: Option<f64>,
}

/// `amount` of a unit with `decimals` decimals, in base units: positive, finite and in range.
fn base_units(what: &str, amount: f64, decimals: u8) -> Result<u64> {
    let units = amount * 10f64.powi(decimals as i32);
    if !amount.is_finite() || amount <= 0.0 || units >= u64::MAX as f64 || units < 1.0 {
        bail!("{what} must be a positive amount, at least one base unit (got {amount})");
    }
    Ok(units.round() as u64)
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let recipient = match &args.recipient {
        Some(r) => settings::parse_pubkey("recipient", r)?,
        None => ctx.settings.keypair()?.pubkey(),
    };
    let lamports = base_units("SOL", args.sol, 9)?;
    let local = ctx.localnet_info();
    if local.is_some() && lamports > AIRDROP_CAP_LAMPORTS {
        bail!(
            "the local faucet gives at most {} SOL a request (asked for {})",
            AIRDROP_CAP_LAMPORTS / 1_000_000_000,
            args.sol
        );
    }
    let chain = ctx.chain().await?;
    let signature = chain
        .request_airdrop(&recipient, lamports)
        .await
        .map_err(|e| match e {
            ChainError::Rpc { url, message } => anyhow!(
                "{url} refused the airdrop: {message} (it may have no faucet, or the amount is over its limit)"
            ),
            other => other.into(),
        })?;
    let balance = chain
        .rpc
        .get_balance(&recipient)
        .await
        .context("RPC getBalance")?;

    let mut minted = None;
    if let Some(tokens) = args.tokens {
        let info = local.ok_or_else(|| {
            anyhow!(
                "--tokens works only against `cmkt localnet` ({} does not describe {})",
                compute_market_client::config::localnet_info_file(
                    &ctx.localnet_dir,
                    &ctx.settings.url
                )
                .display(),
                ctx.settings.url
            )
        })?;
        let mint: Pubkey = settings::parse_pubkey("mint", &info.mint)?;
        let (program, decimals) = super::mint_info(&chain, &mint).await?;
        let amount = base_units("--tokens", tokens, decimals)?;
        let authority = read_keypair_file(&info.authority_keypair).map_err(|e| {
            anyhow!(
                "reading the local authority {}: {e}",
                info.authority_keypair.display()
            )
        })?;
        let account = ata(&recipient, &mint, &program);
        let ixs = [
            ix::create_ata(&authority.pubkey(), &recipient, &mint, &program),
            token::mint_to(&program, &mint, &account, &authority.pubkey(), amount),
        ];
        chain
            .send(&ixs, &authority, &[])
            .await
            .context("minting the local tokens")?;
        minted = Some((
            account,
            amount,
            chain.token_balance(&account).await?,
            decimals,
        ));
    }

    let value = json!({
        "recipient": recipient.to_string(),
        "signature": signature.to_string(),
        "lamports": lamports,
        "balance_lamports": balance,
        "token_account": minted.map(|m| m.0.to_string()),
        "tokens_minted": minted.map(|m| m.1),
        "token_balance": minted.map(|m| m.2),
    });
    out::emit(ctx.format, &value, || {
        let sol = |l: u64| l as f64 / 1e9;
        let mut s = format!(
            "{} SOL to {recipient} ({signature})\nbalance {} SOL\n",
            sol(lamports),
            sol(balance)
        );
        if let Some((account, amount, total, decimals)) = minted {
            let t = |u: u64| u as f64 / 10f64.powi(decimals as i32);
            s += &format!("{} tokens to {account}; it holds {}\n", t(amount), t(total));
        }
        s
    })
}

#[cfg(test)]
mod tests {
    use super::base_units;

    #[test]
    fn amounts_convert_to_base_units_and_nonsense_is_refused() {
        assert_eq!(base_units("SOL", 1.5, 9).unwrap(), 1_500_000_000);
        assert_eq!(base_units("SOL", 0.000000001, 9).unwrap(), 1);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e30, 1e-12] {
            assert!(base_units("SOL", bad, 9).is_err(), "{bad}");
        }
    }
}
