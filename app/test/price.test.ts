import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isRising, priceAt, rampPrice, reachesAt, type Ramp } from "../src/lib/price";

interface Case {
  min: string;
  max: string;
  start: number;
  len: number;
  prices: [number, string][];
  reaches: [string, number | "always" | null][];
}
const vectors = JSON.parse(readFileSync(new URL("./vectors/price.json", import.meta.url), "utf8")) as { cases: Case[] };

describe("a rising offer's price", () => {
  it("matches the program's rule on the generated vectors", () => {
    expect(vectors.cases.length).toBeGreaterThan(3);
    for (const c of vectors.cases) {
      const ramp: Ramp = { minRewardPerReplica: BigInt(c.min), rewardPerReplica: BigInt(c.max), rampStart: c.start, rampSeconds: c.len };
      for (const [t, price] of c.prices) expect(rampPrice(BigInt(c.min), BigInt(c.max), c.start, c.len, t)).toBe(BigInt(price));
      for (const [floor, at] of c.reaches) {
        expect(reachesAt(ramp, BigInt(floor))).toBe(at === "always" ? Number.NEGATIVE_INFINITY : at);
      }
    }
  });

  it("is the minimum before the ramp, the maximum after it, and fixed without one", () => {
    const r: Ramp = { minRewardPerReplica: 100n, rewardPerReplica: 200n, rampStart: 1_000, rampSeconds: 100 };
    expect([999, 1_000, 1_050, 1_100, 5_000].map((t) => priceAt(r, t))).toEqual([100n, 100n, 150n, 200n, 200n]);
    expect(isRising(r)).toBe(true);
    const fixed = { ...r, minRewardPerReplica: 200n, rampSeconds: 0 };
    expect(priceAt(fixed, 0)).toBe(200n);
    expect(isRising(fixed)).toBe(false);
  });
});
