//! Which ports a local chain binds, and how they are chosen so that two chains (or a chain and
//! the test suite) share a machine: RPC and websocket are given (`--rpc-port`, default 8899 and
//! 8900 as with `solana-test-validator`) or picked free; gossip is given or picked free; TPU,
//! TVU, repair and the validator's other sockets are bound to free ports in the dynamic range;
//! the faucet is given or picked free. The chosen ones are reported in [`Ports`].

use serde::{Deserialize, Serialize};
use std::net::{SocketAddr, TcpListener, UdpSocket};

/// Where the validator's own sockets (gossip when not given, TPU, TVU, repair, ...) are bound:
/// the first free ports from here, as `solana-test-validator --dynamic-port-range` does.
pub const DEFAULT_DYNAMIC_PORT_RANGE: (u16, u16) = (1024, 65535);

/// The ports a running chain listens on (all on 127.0.0.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    /// JSON-RPC (HTTP).
    pub rpc: u16,
    /// JSON-RPC websocket subscriptions.
    pub websocket: u16,
    /// The faucet that `requestAirdrop` forwards to.
    pub faucet: u16,
    /// Gossip (UDP, with its TCP ip-echo listener on the same port).
    pub gossip: u16,
    /// Transaction ingestion (QUIC).
    pub tpu: u16,
    /// Forwarded transactions (QUIC).
    pub tpu_forwards: u16,
    /// Votes (UDP).
    pub tpu_vote: u16,
    /// Shreds from the leader (UDP).
    pub tvu: u16,
    /// Repair requests served (UDP).
    pub repair: u16,
    /// The range the validator's other sockets were bound in.
    pub dynamic_range: (u16, u16),
    /// The blob store, when the tool that started the chain runs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_store: Option<u16>,
}

impl Ports {
    /// One `name port` pair per line, for a terminal.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("rpc", self.rpc.to_string()),
            ("websocket", self.websocket.to_string()),
            ("faucet", self.faucet.to_string()),
            ("gossip", self.gossip.to_string()),
            ("tpu", format!("{} (quic)", self.tpu)),
            ("tpu-forwards", format!("{} (quic)", self.tpu_forwards)),
            ("tpu-vote", self.tpu_vote.to_string()),
            ("tvu", self.tvu.to_string()),
            ("repair", self.repair.to_string()),
        ];
        if let Some(p) = self.blob_store {
            out.push(("blob store", p.to_string()));
        }
        out.push((
            "others",
            format!("in {}-{}", self.dynamic_range.0, self.dynamic_range.1),
        ));
        out
    }
}

/// A port `p` with TCP `p` and `p + 1` free on 127.0.0.1 (RPC and websocket), from the
/// system's ephemeral range: another chain scanning the dynamic range from its low end does not
/// meet it.
pub fn free_port_pair() -> std::io::Result<u16> {
    for _ in 0..100 {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let p = l.local_addr()?.port();
        if p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return Ok(p);
        }
    }
    Err(std::io::Error::other(
        "no two adjacent free ports on 127.0.0.1",
    ))
}

/// Whether TCP `port` (and UDP, for gossip) can be bound on 127.0.0.1 right now.
pub fn is_free(port: u16, udp_too: bool) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpListener::bind(addr).is_ok() && (!udp_too || UdpSocket::bind(addr).is_ok())
}

/// Runs `f` with the process's standard output sent to /dev/null: `solana-test-validator`'s
/// start-up prints progress lines (`Waiting for first slot 1...`) that are no use to a user.
/// Only for programs that own their terminal: the whole process's stdout is redirected while
/// `f` runs. If the redirection cannot be set up, `f` runs with stdout as it is.
pub fn with_stdout_silenced<T>(f: impl FnOnce() -> T) -> T {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let saved = nix::unistd::dup(std::io::stdout()).ok();
    let redirected = saved.is_some()
        && std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .is_ok_and(|null| nix::unistd::dup2_stdout(&null).is_ok());
    let out = f();
    let _ = std::io::stdout().flush();
    if let (true, Some(saved)) = (redirected, saved) {
        let _ = nix::unistd::dup2_stdout(&saved);
    }
    out
}
