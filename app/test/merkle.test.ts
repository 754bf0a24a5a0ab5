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
  cases: {
    output: { len: number; seed: number };
    summary: unknown;
    root: string;
    chunks: { data: string; proof: unknown }[];
  }[];
};

const output = (len: number, seed: number) => Uint8Array.from({ length: len }, (_, i) => (i * 7 + seed) % 251);

describe("result verification matches the Rust client", () => {
  it("uses the same chunk size", () => {
    expect(Number(vectors.chunk_size)).toBe(CHUNK_SIZE);
    expect(vectors.cases.length).toBeGreaterThanOrEqual(8);
  });

  for (const c of vectors.cases) {
    const name = `${c.output.len} bytes, seed ${c.output.seed}`;
    it(`${name}: data root, result root and full verification`, () => {
      const out = output(c.output.len, c.output.seed);
      const summary = summaryFromJson(c.summary);
      expect(toHex(dataRoot(out))).toBe(toHex(summary.dataRoot));
      expect(toHex(resultRoot(summary))).toBe(c.root);
      const root = fromHex(c.root);
      expect(verifyOutput(root, summary, out)).toEqual({ ok: true, summary });
    });

    it(`${name}: tampered bytes, length, fuel and status are refused`, () => {
      const out = output(c.output.len, c.output.seed);
      const summary = summaryFromJson(c.summary);
      const root = fromHex(c.root);
      if (out.length > 0) {
        const bad = out.slice();
        bad[bad.length - 1] ^= 1;
        expect(verifyOutput(root, summary, bad).ok).toBe(false);
      }
      expect(verifyOutput(root, summary, Uint8Array.of(...out, 0)).ok).toBe(false);
      const fuel = summary.fuelUsed === 0n ? 1n : summary.fuelUsed - 1n;
      expect(verifyOutput(root, { ...summary, fuelUsed: fuel }, out).ok).toBe(false);
      const status = summary.status.kind === "trapped" ? { kind: "out_of_fuel" as const } : { kind: "trapped" as const };
      expect(verifyOutput(root, { ...summary, status }, out).ok).toBe(false);
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
    expect(() => resultRoot(summaryFromJson(plain))).toThrow(/not a u64/);
  });
});
