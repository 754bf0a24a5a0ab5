/**
 * Job manifests in the canonical form of `client/src/manifest.rs` (serde_json, fields in
 * alphabetical order, no whitespace), and uploads to the content-addressed blob store.
 */
import { sha256 } from "@noble/hashes/sha2";
import { toHex, utf8 } from "./bytes";

export const RUNTIME_WASI_P1 = "wasi-p1";
/** `wasi-p1` with NaNs canonicalised only where seen: the same outputs, other fuel counts. */
export const RUNTIME_WASI_P1V2 = "wasi-p1v2";
/** `wasi-p1v2` with fuel and the timeout compiled into the module: the same outputs, other fuel counts. */
export const RUNTIME_WASI_P1V3 = "wasi-p1v3";
/** The runtime new jobs ask for (as `cmkt job post`). */
export const DEFAULT_RUNTIME = RUNTIME_WASI_P1V3;
export const MANIFEST_VERSION = 1;
export const MAX_MANIFEST_BYTES = 16 * 1024;

export interface BlobRef {
  sha256: string;
  size: number;
  uri: string;
}

export interface Manifest {
  args: string[];
  input: BlobRef;
  maxFuel: bigint;
  maxMemory: bigint;
  maxOutput: bigint;
  module: BlobRef;
  runtime: string;
  version: number;
}

const blob = (b: BlobRef) => `{"sha256":${JSON.stringify(b.sha256)},"size":${b.size},"uri":${JSON.stringify(b.uri)}}`;

/** The canonical bytes; their sha256 is the on-chain `manifest_hash`. */
export function canonicalManifest(m: Manifest): Uint8Array {
  for (const [k, v] of [["max_fuel", m.maxFuel], ["max_memory", m.maxMemory], ["max_output", m.maxOutput]] as const) {
    if (v <= 0n || v > 0xffff_ffff_ffff_ffffn) throw new Error(`${k} must be a positive u64`);
  }
  const text =
    `{"args":${JSON.stringify(m.args)},"input":${blob(m.input)},"max_fuel":${m.maxFuel},` +
    `"max_memory":${m.maxMemory},"max_output":${m.maxOutput},"module":${blob(m.module)},` +
    `"runtime":${JSON.stringify(m.runtime)},"version":${m.version}}`;
  const bytes = utf8(text);
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new Error(`the manifest is ${bytes.length} bytes, more than ${MAX_MANIFEST_BYTES}: use fewer or shorter args`);
  }
  return bytes;
}

export const sha256Hex = (bytes: Uint8Array) => toHex(sha256(bytes));

export const blobUrl = (store: string, hash: string) => `${store.replace(/\/+$/, "")}/blobs/${hash}`;

/** PUTs `bytes` to the blob store under their hash; returns the reference to put in a manifest. */
export async function uploadBlob(store: string, bytes: Uint8Array): Promise<BlobRef> {
  const hash = sha256Hex(bytes);
  const uri = blobUrl(store, hash);
  let r: Response;
  try {
    r = await fetch(uri, { method: "PUT", body: bytes as BodyInit });
  } catch {
    throw new Error(`cannot reach the blob store at ${store}: is it running (cmkt localnet starts one), and is the URL in the cluster settings right?`);
  }
  if (!r.ok) throw new Error(`the blob store refused the upload (${r.status}): ${(await r.text()).trim()}`);
  return { sha256: hash, size: bytes.length, uri };
}

/**
 * Reads a manifest whose bytes hash to `hash` (the job's `manifest_hash`): the limits and the
 * runtime a provider checks before it claims. Throws when the bytes are not that manifest.
 */
export function parseManifest(bytes: Uint8Array, hash: Uint8Array): Manifest {
  if (sha256Hex(bytes) !== toHex(hash)) throw new Error("the manifest does not hash to the job's manifest_hash");
  // the limits are u64: read them as exact decimal strings
  const text = new TextDecoder().decode(bytes).replace(/"(max_fuel|max_memory|max_output)":(\d+)/g, '"$1":"$2"');
  const j = JSON.parse(text) as Record<string, unknown>;
  const ref = (b: unknown): BlobRef => {
    const o = b as Record<string, unknown>;
    return { sha256: String(o.sha256), size: Number(o.size), uri: String(o.uri) };
  };
  return {
    args: (j.args as string[]) ?? [],
    input: ref(j.input),
    maxFuel: BigInt(j.max_fuel as string),
    maxMemory: BigInt(j.max_memory as string),
    maxOutput: BigInt(j.max_output as string),
    module: ref(j.module),
    runtime: String(j.runtime),
    version: Number(j.version),
  };
}
