import { useWallet } from "@solana/wallet-adapter-react";
import { useEffect, useState } from "react";
import { chainId, preset, type ClusterName } from "./lib/cluster";
import { AuditPage } from "./pages/Audit";
import { JobPage } from "./pages/Job";
import { MyJobs } from "./pages/MyJobs";
import { PostJob } from "./pages/Post";
import { short, useApp } from "./state";

function useHashRoute(): string[] {
  const read = () => window.location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

function ClusterSettings() {
  const { cluster, setCluster, markets, market, selectMarket, health, refreshMarkets } = useApp();
  const [rpc, setRpc] = useState(cluster.rpc);
  const [blob, setBlob] = useState(cluster.blob);
  useEffect(() => {
    setRpc(cluster.rpc);
    setBlob(cluster.blob);
  }, [cluster]);
  return (
    <div className="settings">
      <label>
        Cluster{" "}
        <select
          aria-label="cluster"
          value={cluster.name}
          onChange={(e) => setCluster(preset(e.target.value as ClusterName, cluster))}
        >
          <option value="localnet">localnet</option>
          <option value="devnet">devnet</option>
          <option value="custom">custom URL</option>
        </select>
      </label>
      {cluster.name !== "localnet" && (
        <form
          className="inline"
          onSubmit={(e) => {
            e.preventDefault();
            setCluster({ name: cluster.name, rpc: rpc.trim(), blob: blob.trim() });
          }}
        >
          <input aria-label="rpc url" value={rpc} onChange={(e) => setRpc(e.target.value)} size={28} />
          <input aria-label="blob store url" placeholder="blob store URL" value={blob} onChange={(e) => setBlob(e.target.value)} size={24} />
          <button type="submit">Apply</button>
        </form>
      )}
      <label>
        Market{" "}
        <select aria-label="market" value={market?.address.toBase58() ?? ""} onChange={(e) => selectMarket(e.target.value)}>
          {markets.length === 0 && <option value="">(none found)</option>}
          {markets.map((m) => (
            <option key={m.address.toBase58()} value={m.address.toBase58()}>
              {short(m.address)} (id {m.marketId.toString()}{m.paused ? ", paused" : ""})
            </option>
          ))}
        </select>
      </label>
      <span className={`health ${health.state}`} data-testid="health">
        {health.state === "ok" ? "● connected" : health.state === "checking" ? "… connecting" : "● not connected"}
      </span>
      {health.state !== "ok" && health.state !== "checking" && (
        <button onClick={refreshMarkets}>Retry</button>
      )}
    </div>
  );
}

function WalletButton() {
  // selecting a wallet connects it (autoConnect); failures arrive as `wallet-error` events
  const { wallets, wallet, select, disconnect, publicKey } = useWallet();
  const { cluster } = useApp();
  const [error, setError] = useState("");
  useEffect(() => {
    const on = (e: Event) => setError((e as CustomEvent<string>).detail);
    window.addEventListener("wallet-error", on);
    return () => window.removeEventListener("wallet-error", on);
  }, []);
  if (publicKey) {
    const chains = (wallet?.adapter as { wallet?: { accounts?: { chains: readonly string[] }[] } }).wallet?.accounts?.[0]?.chains;
    const want = chainId(cluster);
    const mismatch = want && chains && chains.length > 0 && !chains.includes(want as `${string}:${string}`);
    return (
      <div className="wallet">
        <span data-testid="wallet-address" title={publicKey.toBase58()}>
          {wallet?.adapter.name}: {short(publicKey)}
        </span>
        <button onClick={() => disconnect()}>Disconnect</button>
        {mismatch && (
          <div className="error" role="alert">
            Your wallet is set to {chains!.join(", ")}, the app to {want}: switch one of them, or transactions will fail.
          </div>
        )}
      </div>
    );
  }
  return (
    <div className="wallet">
      {wallets.length === 0 && <span className="muted">No wallet found: install a Solana wallet (Wallet Standard)</span>}
      {wallets.map((w) => (
        <button
          key={w.adapter.name}
          onClick={() => {
            setError("");
            select(w.adapter.name);
          }}
        >
          Connect {w.adapter.name}
        </button>
      ))}
      {error && <div className="error" role="alert">{error}</div>}
    </div>
  );
}

export function App() {
  const route = useHashRoute();
  const { health, cluster } = useApp();
  const page = route[0] ?? "post";
  return (
    <>
      <header>
        <h1>Compute market</h1>
        <nav>
          <a href="#/post" className={page === "post" ? "active" : ""}>Post a job</a>
          <a href="#/jobs" className={page === "jobs" ? "active" : ""}>My jobs</a>
          <a href="#/audit" className={page === "audit" ? "active" : ""}>Audit</a>
        </nav>
        <WalletButton />
      </header>
      <ClusterSettings />
      {(health.state === "unreachable" || health.state === "no-program") && (
        <div className="error banner" role="alert" data-testid="cluster-error">
          {health.message}
        </div>
      )}
      <main>
        {page === "post" && <PostJob />}
        {page === "jobs" && <MyJobs />}
        {/* a fresh page per job and cluster: nothing of another job's state carries over */}
        {page === "job" && route[1] && <JobPage key={`${cluster.rpc}|${route[1]}`} address={route[1]} />}
        {page === "audit" && <AuditPage />}
      </main>
    </>
  );
}
