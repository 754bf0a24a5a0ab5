import { Keypair } from "@solana/web3.js";
import { describe, expect, it } from "vitest";
import { totals } from "../src/lib/audit";
import { barWidth, cumulative, polyline } from "../src/lib/charts";
import type { Settlement } from "../src/lib/market";

const rec = (settledAt: number, totalPaid: bigint, fee: bigint, refund: bigint, slashed: bigint, expiredSlashed = 0n) =>
  ({ address: Keypair.generate().publicKey, settledAt, totalPaid, fee, refund, totalSlashed: slashed, expiredSlashed, escrow: totalPaid + fee + refund, bounty: 0n, outcome: "verified", verdicts: [], expired: [] }) as unknown as Settlement;

describe("the audit page's charts", () => {
  it("accumulate in settlement order and end at the totals the tables show", () => {
    const list = [rec(300, 10n, 1n, 0n, 0n), rec(100, 5n, 0n, 2n, 7n, 3n), rec(200, 0n, 0n, 9n, 0n)];
    const pts = cumulative(list);
    expect(pts.map((p) => p.at)).toEqual([100, 200, 300]);
    expect(pts.map((p) => p.paid)).toEqual([5n, 5n, 15n]);
    const t = totals(list);
    const end = pts[pts.length - 1];
    expect([end.paid, end.fees, end.refunded, end.slashed]).toEqual([t.paid, t.fees, t.refunded, t.slashed]);
  });

  it("draw steps inside the box and bars in proportion", () => {
    const line = polyline([{ at: 0, v: 5n }, { at: 10, v: 10n }], 100, 50).split(" ").map((p) => p.split(",").map(Number));
    for (const [x, y] of line) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(100);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(50);
    }
    // the last point is the maximum, at the top margin
    expect(line[line.length - 1]).toEqual([96, 4]);
    expect(barWidth(5n, 10n, 160)).toBe(80);
    expect(barWidth(1n, 1_000_000n, 160)).toBe(1);
    expect(barWidth(0n, 10n, 160)).toBe(0);
  });
});

describe("commit and reveal marks", () => {
  it("come from the job's events that carry a block time", async () => {
    const { stepMarks } = await import("../src/lib/events");
    const ev = (name: string, time: number | null, slot?: number) => ({ name, time, data: slot === undefined ? {} : { slot } });
    expect(
      stepMarks([
        ev("JobPosted", 10),
        ev("JobClaimed", 11, 0),
        ev("ResultCommitted", 12, 0),
        ev("ResultCommitted", null, 1),
        ev("ResultRevealed", 14, 0),
        ev("JobFinalized", 15),
      ]),
    ).toEqual([
      { slot: 0, at: 12, kind: "commit" },
      { slot: 0, at: 14, kind: "reveal" },
    ]);
  });
});
