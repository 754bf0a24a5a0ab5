/**
 * The figures the audit page draws: money over time (cumulative, one point per settlement in
 * settlement order) and per provider. Pure functions of the settlement records, so the charts
 * show exactly what the tables and exports hold.
 */
import type { Settlement } from "./market";

/** Cumulative amounts after each settlement (payment-mint base units, except `slashed`: stake mint). */
export interface Point {
  at: number;
  paid: bigint;
  fees: bigint;
  refunded: bigint;
  slashed: bigint;
}

export function cumulative(list: Settlement[]): Point[] {
  const sorted = [...list].sort((a, b) => a.settledAt - b.settledAt);
  const out: Point[] = [];
  let acc = { paid: 0n, fees: 0n, refunded: 0n, slashed: 0n };
  for (const s of sorted) {
    acc = {
      paid: acc.paid + s.totalPaid,
      fees: acc.fees + s.fee,
      refunded: acc.refunded + s.refund,
      slashed: acc.slashed + s.totalSlashed + s.expiredSlashed,
    };
    out.push({ at: s.settledAt, ...acc });
  }
  return out;
}

/** Scales `points` of one series into an SVG polyline inside `w × h` (step-wise: amounts jump at settlements). */
export function polyline(points: { at: number; v: bigint }[], w: number, h: number, pad = 4): string {
  if (points.length === 0) return "";
  const t0 = points[0].at;
  const t1 = Math.max(points[points.length - 1].at, t0 + 1);
  const max = points.reduce((m, p) => (p.v > m ? p.v : m), 1n);
  const x = (t: number) => pad + ((t - t0) / (t1 - t0)) * (w - 2 * pad);
  const y = (v: bigint) => h - pad - (Number((v * 10_000n) / max) / 10_000) * (h - 2 * pad);
  const parts = [`${x(t0).toFixed(1)},${y(0n).toFixed(1)}`];
  let last = 0n;
  for (const p of points) {
    parts.push(`${x(p.at).toFixed(1)},${y(last).toFixed(1)}`, `${x(p.at).toFixed(1)},${y(p.v).toFixed(1)}`);
    last = p.v;
  }
  return parts.join(" ");
}

/** Bar length of `v` against `max` in `w` pixels (at least 1 pixel when positive). */
export const barWidth = (v: bigint, max: bigint, w: number) =>
  v <= 0n || max <= 0n ? 0 : Math.max(1, Math.round((Number((v * 10_000n) / max) / 10_000) * w));
