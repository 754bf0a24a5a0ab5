/** App-wide state: the cluster, its connection and market client, the markets and the chosen one. */
import { Connection, PublicKey } from "@solana/web3.js";
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { initialCluster, saveCluster, type Cluster } from "./lib/cluster";
import { explain } from "./lib/errors";
import { MarketClient, type Market } from "./lib/market";

export type Health =
  | { state: "checking" }
  | { state: "ok" }
  | { state: "unreachable"; message: string }
  | { state: "no-program"; message: string };

interface AppState {
  cluster: Cluster;
  setCluster: (c: Cluster) => void;
  connection: Connection;
  client: MarketClient;
  health: Health;
  markets: Market[];
  market: Market | null;
  selectMarket: (address: string) => void;
  /** Decimals of the selected market's payment mint; undefined until read. */
  decimals: number | undefined;
  /** Decimals of any mint, read once per cluster; undefined until known. */
  mintDecimals: (mint: PublicKey) => number | undefined;
  refreshMarkets: () => void;
}

const Ctx = createContext<AppState | null>(null);

export function useApp(): AppState {
  const s = useContext(Ctx);
  if (!s) throw new Error("useApp outside AppStateProvider");
  return s;
}

export function AppStateProvider({ children }: { children: ReactNode }) {
  const [cluster, setClusterState] = useState<Cluster>(initialCluster);
  const connection = useMemo(() => new Connection(cluster.rpc, "confirmed"), [cluster.rpc]);
  const client = useMemo(() => new MarketClient(connection), [connection]);
  const [health, setHealth] = useState<Health>({ state: "checking" });
  const [markets, setMarkets] = useState<Market[]>([]);
  const [chosen, setChosen] = useState<string>(() => localStorage.getItem("cmkt.market") ?? "");
  const [known, setKnown] = useState<Map<string, number>>(new Map());
  const asked = useRef<Set<string>>(new Set());
  const [tick, setTick] = useState(0);

  const setCluster = useCallback((c: Cluster) => {
    saveCluster(c);
    setClusterState(c);
  }, []);

  useEffect(() => {
    let live = true;
    // nothing read from another cluster may stay on screen
    setHealth({ state: "checking" });
    setMarkets([]);
    setKnown(new Map());
    asked.current = new Set();
    (async () => {
      try {
        await connection.getLatestBlockhash();
      } catch (e) {
        if (live) setHealth({ state: "unreachable", message: explain(e, cluster.rpc) });
        return;
      }
      try {
        if (!(await client.programDeployed())) {
          if (live) {
            setHealth({
              state: "no-program",
              message: `The compute market program is not deployed on ${cluster.rpc}: wrong cluster? Pick the one your market runs on.`,
            });
          }
          return;
        }
        const ms = await client.markets();
        if (!live) return;
        setMarkets(ms);
        setHealth({ state: "ok" });
      } catch (e) {
        if (live) setHealth({ state: "unreachable", message: explain(e, cluster.rpc) });
      }
    })();
    return () => {
      live = false;
    };
  }, [client, connection, cluster.rpc, tick]);

  const market = markets.find((m) => m.address.toBase58() === chosen) ?? markets[0] ?? null;

  const mintDecimals = useCallback(
    (mint: PublicKey) => {
      const k = mint.toBase58();
      const d = known.get(k);
      if (d === undefined && !asked.current.has(k)) {
        asked.current.add(k);
        const c = client;
        c.mintDecimals(mint).then(
          (v) => setKnown((m) => (c === client ? new Map(m).set(k, v) : m)),
          () => asked.current.delete(k), // asked again on the next render that needs it
        );
      }
      return d;
    },
    [client, known],
  );

  const value: AppState = {
    cluster,
    setCluster,
    connection,
    client,
    health,
    markets,
    market,
    selectMarket: (a) => {
      localStorage.setItem("cmkt.market", a);
      setChosen(a);
    },
    decimals: market ? mintDecimals(market.paymentMint) : undefined,
    mintDecimals,
    refreshMarkets: () => setTick((t) => t + 1),
  };
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export const short = (k: PublicKey | string, n = 4) => {
  const s = typeof k === "string" ? k : k.toBase58();
  return s.length > 2 * n + 1 ? `${s.slice(0, n)}…${s.slice(-n)}` : s;
};
