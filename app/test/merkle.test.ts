import { PublicKey } from "@solana/web3.js";
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import {
  CHUNK_SIZE,
  dataRoot,
  parseExact,
  proofFromJson,
  resultRoot,
  summaryFromJson,
  verifyChunk,
  verifyOutput,
} from "../src/lib/merkle";
import { fromHex, toHex } from "../src/lib/bytes";

// Produced by the Rust client: `cargo test -p compute-market-client vectors` fails when stale.
const text = readFileSync(new URL("./vectors/merkle.json", import.meta.url), "utf8");
const vectors = parseExact(text) as {
  chunk_size: string | number;
  /** The job (base58) every case's root is bound to. */
  job: string;
  cases: {
    output: { len: number; seed: number };
    summary: unknown;
    root: string;
    chunks: { data: string; proof: unknown }[];
  }[];
};

const output = (len: number, seed: number) => Uint8Array.from({ length: len }, (_, i) => (i * 7 + seed) % 251);
const job = new PublicKey(vectors.job);
/** Any other job: the same summary must not verify for it. */
const otherJob = new PublicKey(Uint8Array.from(job.toBytes(), (b, i) => (i === 31 ? b ^ 1 : b)));

describe("result verification matches the Rust client", () => {
  it("uses the same chunk size", () => {
    expect(Number(vectors.chunk_size)).toBe(CHUNK_SIZE);
    expect(vectors.cases.length).toBeGreaterThanOrEqual(8);
  });

  it("binds every root to the vectors' job", () => {
    expect(vectors.job).toBe(job.toBase58());
    expect(otherJob.equals(job)).toBe(false);
  });

  for (const c of vectors.cases) {
    const name = `${c.output.len} bytes, seed ${c.output.seed}`;
    it(`${name}: data root, result root and full verification`, () => {
      const out = output(c.output.len, c.output.seed);
      const summary = summaryFromJson(c.summary);
      expect(toHex(dataRoot(out))).toBe(toHex(summary.dataRoot));
      expect(toHex(resultRoot(job, summary))).toBe(c.root);
      const root = fromHex(c.root);
      expect(verifyOutput(job, root, summary, out)).toEqual({ ok: true, summary });
    });

    it(`${name}: the same summary and output under another job do not verify`, () => {
      const out = output(c.output.len, c.output.seed);
      const summary = summaryFromJson(c.summary);
      expect(toHex(resultRoot(otherJob, summary))).not.toBe(c.root);
      const v = verifyOutput(otherJob, fromHex(c.root), summary, out);
      expect(v).toEqual({ ok: false, reason: "the summary does not hash to the root settled for this job" });
    });

    it(`${name}: tampered bytes, length, fuel and status are refused`, () => {
      const out = output(c.output.len, c.output.seed);
      const summary = summaryFromJson(c.summary);
      const root = fromHex(c.root);
      if (out.length > 0) {
        const bad = out.slice();
        bad[bad.length - 1] ^= 1;
        expect(verifyOutput(job, root, summary, bad).ok).toBe(false);
      }
      expect(verifyOutput(job, root, summary, Uint8Array.of(...out, 0)).ok).toBe(false);
      const fuel = summary.fuelUsed === 0n ? 1n : summary.fuelUsed - 1n;
      expect(verifyOutput(job, root, { ...summary, fuelUsed: fuel }, out).ok).toBe(false);
      const status = summary.status.kind === "trapped" ? { kind: "out_of_fuel" as const } : { kind: "trapped" as const };
      expect(verifyOutput(job, root, { ...summary, status }, out).ok).toBe(false);
    });

    if (c.chunks.length > 0) {
      it(`${name}: every chunk proves, and only at its own index`, () => {
        const summary = summaryFromJson(c.summary);
        c.chunks.forEach((ch, i) => {
          const proof = proofFromJson(ch.proof);
          const data = fromHex(ch.data);
          expect(proof.index).toBe(BigInt(i));
          expect(verifyChunk(summary.dataRoot, data, proof)).toBe(true);
          const flipped = data.slice();
          flipped[0] ^= 1;
          expect(verifyChunk(summary.dataRoot, flipped, proof)).toBe(false);
          expect(verifyChunk(summary.dataRoot, data, { ...proof, index: proof.index + 1n })).toBe(false);
        });
      });
    }
  }

  it("keeps u64 fuel exact beyond 2^53", () => {
    const big = vectors.cases.find((c) => JSON.stringify(c.summary).includes("18446744073709551615"));
    expect(big).toBeDefined();
    expect(summaryFromJson(big!.summary).fuelUsed).toBe(18446744073709551615n);
    // a plain JSON.parse rounds the number to 2^64, which is no u64: it cannot hash to the root
    const plain = JSON.parse(JSON.stringify(big!.summary).replace('"18446744073709551615"', "18446744073709551615"));
    expect(plain.fuel_used).toBe(2 ** 64);
    expect(() => resultRoot(job, summaryFromJson(plain))).toThrow(/not a u64/);
  });
});
