//! Defaults shared by every tool: the Solana CLI config (`~/.config/solana/cli/config.yml`),
//! cluster monikers, keypair files and token amounts in whole units.

use solana_sdk::signature::{read_keypair_file, Keypair};
use std::path::{Path, PathBuf};

/// The user's home directory.
pub fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `~/.config/solana/cli/config.yml`.
pub fn default_solana_config() -> PathBuf {
    home().join(".config/solana/cli/config.yml")
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

/// Reads `json_rpc_url` and `keypair_path` from a Solana CLI config file (YAML, flat keys). A
/// missing or unreadable file gives no defaults.
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

/// Expands the Solana cluster monikers (`localhost`, `devnet`, ...) to URLs.
pub fn normalize_url(url: &str) -> String {
    match url {
        "localhost" | "l" | "localnet" => "http://127.0.0.1:8899".into(),
        "devnet" | "d" => "https://api.devnet.solana.com".into(),
        "mainnet-beta" | "m" => "https://api.mainnet-beta.solana.com".into(),
        "testnet" | "t" => "https://api.testnet.solana.com".into(),
        other => other.to_string(),
    }
}

/// The websocket URL the Solana CLI derives from a JSON-RPC URL: `ws` for `http`, `wss` for
/// `https`, and an explicit port plus one.
pub fn websocket_url(rpc_url: &str) -> String {
    let (scheme, rest) = match rpc_url.split_once("://") {
        Some(("https", rest)) => ("wss", rest),
        Some((_, rest)) => ("ws", rest),
        None => ("ws", rpc_url),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = match split_port(authority) {
        Some((host, p)) => format!("{host}:{}", p.saturating_add(1)),
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{path}")
}

/// `host` and explicit port of a URL authority (`127.0.0.1:8899`, `[::1]:8899`).
fn split_port(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = authority.rsplit_once(':')?;
    if !host.ends_with(']') && host.contains(':') {
        return None; // a bare IPv6 address, no port
    }
    Some((host, port.parse().ok()?))
}

/// The explicit port of a URL (`http://127.0.0.1:18899/` gives 18899).
pub fn url_port(url: &str) -> Option<u16> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    split_port(authority).map(|(_, p)| p)
}

/// The RPC port `cmkt localnet` (like `solana-test-validator`) listens on by default.
pub const LOCALNET_RPC_PORT: u16 = 8899;

/// The local chain's file `stem` (`localnet`, `authority`) in its keys directory, for the chain
/// whose RPC listens on `rpc_port`: `<stem>.json` on the default port, `<stem>-<port>.json` on
/// any other. Chains on different ports can share one keys directory without overwriting each
/// other's description or upgrade authority.
pub fn localnet_file(dir: &Path, stem: &str, rpc_port: u16) -> PathBuf {
    if rpc_port == LOCALNET_RPC_PORT {
        dir.join(format!("{stem}.json"))
    } else {
        dir.join(format!("{stem}-{rpc_port}.json"))
    }
}

/// `localnet.json` (or `localnet-<port>.json`) of the local chain that would answer at `rpc_url`.
pub fn localnet_info_file(dir: &Path, rpc_url: &str) -> PathBuf {
    localnet_file(
        dir,
        "localnet",
        url_port(rpc_url).unwrap_or(LOCALNET_RPC_PORT),
    )
}

/// Expands a leading `~/`.
pub fn expand_tilde(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home().join(rest),
        None => PathBuf::from(path),
    }
}

/// The keypair path: the flag, else the Solana CLI config, else `~/.config/solana/id.json`.
pub fn keypair_path(flag: Option<&Path>, cfg: &SolanaConfig) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or(cfg.keypair_path.as_deref().map(expand_tilde))
        .unwrap_or_else(|| home().join(".config/solana/id.json"))
}

/// Why a keypair file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeypairError {
    #[error(
        "keypair file {0} does not exist (pass --keypair, or create one with `solana-keygen new`)"
    )]
    Missing(PathBuf),
    #[error("keypair file {0} is not a valid keypair: {1}")]
    Invalid(PathBuf, String),
}

/// Reads a keypair file (Solana CLI JSON format).
pub fn load_keypair(path: &Path) -> Result<Keypair, KeypairError> {
    if !path.exists() {
        return Err(KeypairError::Missing(path.to_path_buf()));
    }
    read_keypair_file(path).map_err(|e| KeypairError::Invalid(path.to_path_buf(), e.to_string()))
}

/// An amount that is not a non-negative number with at most the mint's decimals.
#[derive(Debug, thiserror::Error)]
#[error("amount {0:?} is not a non-negative number with at most {1} decimals that fits in u64")]
pub struct AmountError(pub String, pub u8);

/// Parses a token amount given in whole tokens (`12.5`) into base units.
pub fn parse_amount(s: &str, decimals: u8) -> Result<u64, AmountError> {
    let bad = || AmountError(s.to_string(), decimals);
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
    u64::try_from(total).map_err(|_| bad())
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
        assert_eq!(keypair_path(None, &c), PathBuf::from("/tmp/k.json"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn websocket_urls_follow_the_solana_cli() {
        assert_eq!(
            websocket_url("http://127.0.0.1:8899"),
            "ws://127.0.0.1:8900"
        );
        assert_eq!(
            websocket_url("https://api.devnet.solana.com"),
            "wss://api.devnet.solana.com"
        );
        assert_eq!(
            websocket_url("http://localhost:18899/rpc"),
            "ws://localhost:18900/rpc"
        );
        assert_eq!(websocket_url("http://[::1]:8899"), "ws://[::1]:8900");
        assert_eq!(websocket_url("http://[::1]"), "ws://[::1]");
    }

    #[test]
    fn each_local_chain_port_has_its_own_files() {
        let dir = Path::new("/k");
        assert_eq!(
            localnet_info_file(dir, "http://127.0.0.1:8899"),
            dir.join("localnet.json")
        );
        assert_eq!(
            localnet_info_file(dir, "http://127.0.0.1:18899/"),
            dir.join("localnet-18899.json")
        );
        assert_eq!(
            localnet_info_file(dir, "http://[::1]:2000"),
            dir.join("localnet-2000.json")
        );
        assert_eq!(
            localnet_file(dir, "authority", 18899),
            dir.join("authority-18899.json")
        );
        assert_eq!(url_port("https://api.devnet.solana.com"), None);
        assert_eq!(url_port("http://[::1]"), None);
    }
}
