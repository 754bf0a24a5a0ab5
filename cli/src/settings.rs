//! Where the CLI connects and who signs: flags first, then the environment, then the Solana CLI
//! config (`~/.config/solana/cli/config.yml`), then the local chain written by `cmkt localnet`.

use anyhow::{anyhow, bail, Context, Result};
use solana_sdk::signature::{read_keypair_file, Keypair};
use std::path::{Path, PathBuf};

/// The user's home directory.
pub fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `~/.config/cmkt/localnet`: the local chain's keypairs and `localnet.json`.
pub fn default_localnet_dir() -> PathBuf {
    home().join(".config/cmkt/localnet")
}

/// The two fields of the Solana CLI config the tools use.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SolanaConfig {
    pub json_rpc_url: Option<String>,
    pub keypair_path: Option<String>,
}

/// Reads `json_rpc_url` and `keypair_path` from a Solana CLI config file (YAML, flat keys).
pub fn read_solana_config(path: &Path) -> SolanaConfig {
    let Ok(text) = std::fs::read_to_string(path) else {
        return SolanaConfig::default();
    };
    let mut c = SolanaConfig::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
        match k.trim() {
            "json_rpc_url" if !v.is_empty() => c.json_rpc_url = Some(v),
            "keypair_path" if !v.is_empty() => c.keypair_path = Some(v),
            _ => {}
        }
    }
    c
}

/// Expands `~/` and the Solana cluster monikers.
pub fn normalize_url(url: &str) -> String {
    match url {
        "localhost" | "l" | "localnet" => "http://127.0.0.1:8899".into(),
        "devnet" | "d" => "https://api.devnet.solana.com".into(),
        "mainnet-beta" | "m" => "https://api.mainnet-beta.solana.com".into(),
        "testnet" | "t" => "https://api.testnet.solana.com".into(),
        other => other.to_string(),
    }
}

fn expand(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home().join(rest),
        None => PathBuf::from(path),
    }
}

/// Resolved connection settings.
pub struct Settings {
    pub url: String,
    pub keypair_path: PathBuf,
}

impl Settings {
    pub fn resolve(url: Option<&str>, keypair: Option<&Path>, config: Option<&Path>) -> Settings {
        let cfg_path = config
            .map(Path::to_path_buf)
            .unwrap_or_else(|| home().join(".config/solana/cli/config.yml"));
        let cfg = read_solana_config(&cfg_path);
        let url = url
            .map(str::to_string)
            .or(cfg.json_rpc_url)
            .unwrap_or_else(|| "http://127.0.0.1:8899".into());
        let keypair_path = keypair
            .map(Path::to_path_buf)
            .or(cfg.keypair_path.as_deref().map(expand))
            .unwrap_or_else(|| home().join(".config/solana/id.json"));
        Settings {
            url: normalize_url(&url),
            keypair_path,
        }
    }

    /// The signing keypair, with an error that says which file and why.
    pub fn keypair(&self) -> Result<Keypair> {
        load_keypair(&self.keypair_path)
    }
}

/// Reads a keypair file (Solana CLI JSON format).
pub fn load_keypair(path: &Path) -> Result<Keypair> {
    if !path.exists() {
        bail!(
            "keypair file {} does not exist (pass --keypair, or create one with `solana-keygen new`)",
            path.display()
        );
    }
    read_keypair_file(path).map_err(|e| {
        anyhow!(
            "keypair file {} is not a valid keypair: {e}",
            path.display()
        )
    })
}

/// Parses a base58 address with a clear error naming the argument.
pub fn parse_pubkey(what: &str, s: &str) -> Result<solana_sdk::pubkey::Pubkey> {
    s.parse()
        .map_err(|_| anyhow!("{what} {s:?} is not a valid base58 address"))
}

/// Parses a token amount given in whole tokens (`12.5`) into base units.
pub fn parse_amount(s: &str, decimals: u8) -> Result<u64> {
    let bad =
        || anyhow!("amount {s:?} is not a non-negative number with at most {decimals} decimals");
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > decimals as usize {
        return Err(bad());
    }
    if !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let scale = 10u128.pow(decimals as u32);
    let int: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let frac: u128 = format!("{frac:0<width$}", width = decimals as usize)
        .parse()
        .unwrap_or(0);
    let total = int
        .checked_mul(scale)
        .and_then(|v| v.checked_add(frac))
        .ok_or_else(bad)?;
    u64::try_from(total).context("amount does not fit in u64")
}

/// Formats base units as whole tokens.
pub fn format_amount(units: u64, decimals: u8) -> String {
    let scale = 10u64.pow(decimals as u32);
    let frac = units % scale;
    if frac == 0 {
        format!("{}", units / scale)
    } else {
        let f = format!("{frac:0width$}", width = decimals as usize);
        format!("{}.{}", units / scale, f.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_and_format() {
        assert_eq!(parse_amount("12.5", 6).unwrap(), 12_500_000);
        assert_eq!(parse_amount("0.000001", 6).unwrap(), 1);
        assert_eq!(parse_amount("7", 0).unwrap(), 7);
        for bad in [
            "",
            ".",
            "-1",
            "1.2345678",
            "1e3",
            "abc",
            "99999999999999999999999",
        ] {
            assert!(parse_amount(bad, 6).is_err(), "{bad}");
        }
        assert_eq!(format_amount(12_500_000, 6), "12.5");
        assert_eq!(format_amount(1, 6), "0.000001");
        assert_eq!(format_amount(3_000_000, 6), "3");
    }

    #[test]
    fn solana_config_is_read() {
        let dir = std::env::temp_dir().join(format!("cmkt-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("config.yml");
        std::fs::write(&p, "---\njson_rpc_url: \"http://127.0.0.1:9999\"\nwebsocket_url: \"\"\nkeypair_path: /tmp/k.json\ncommitment: confirmed\n").unwrap();
        let c = read_solana_config(&p);
        assert_eq!(c.json_rpc_url.as_deref(), Some("http://127.0.0.1:9999"));
        assert_eq!(c.keypair_path.as_deref(), Some("/tmp/k.json"));
        let s = Settings::resolve(Some("devnet"), None, Some(&p));
        assert_eq!(s.url, "https://api.devnet.solana.com");
        assert_eq!(s.keypair_path, PathBuf::from("/tmp/k.json"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
