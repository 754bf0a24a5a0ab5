/** Which cluster the app talks to: localnet by default, devnet, or custom URLs. */
import { clusterApiUrl } from "@solana/web3.js";

export type ClusterName = "localnet" | "devnet" | "custom";

export interface Cluster {
  name: ClusterName;
  /** JSON-RPC URL; websockets are on the next port (web3.js derives the URL). */
  rpc: string;
  /** Blob store for uploads (modules, inputs, manifests). */
  blob: string;
}

export const LOCALNET: Cluster = { name: "localnet", rpc: "http://127.0.0.1:8899", blob: "http://127.0.0.1:7878" };

export function preset(name: ClusterName, previous?: Cluster): Cluster {
  switch (name) {
    case "localnet":
      return LOCALNET;
    case "devnet":
      return { name, rpc: clusterApiUrl("devnet"), blob: previous?.name === "devnet" ? previous.blob : "" };
    case "custom":
      return { name, rpc: previous?.rpc ?? LOCALNET.rpc, blob: previous?.blob ?? LOCALNET.blob };
  }
}

/** The chain id a Wallet Standard wallet reports for the cluster. */
export const chainId = (c: Cluster) =>
  c.name === "devnet" ? "solana:devnet" : c.name === "localnet" ? "solana:localnet" : undefined;

const KEY = "cmkt.cluster";

/** `?rpc=…&blob=…` in the page URL wins (links and tests), then the last choice, then localnet. */
export function initialCluster(): Cluster {
  const q = new URLSearchParams(window.location.search);
  const rpc = q.get("rpc");
  if (rpc) return { name: "custom", rpc, blob: q.get("blob") ?? "" };
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? "null") as Partial<Cluster> | null;
    if (saved && typeof saved.rpc === "string" && ["localnet", "devnet", "custom"].includes(saved.name ?? "")) {
      return { name: saved.name as ClusterName, rpc: saved.rpc, blob: typeof saved.blob === "string" ? saved.blob : "" };
    }
  } catch {
    /* a corrupt entry: start from the default */
  }
  return LOCALNET;
}

export function saveCluster(c: Cluster) {
  localStorage.setItem(KEY, JSON.stringify(c));
}
