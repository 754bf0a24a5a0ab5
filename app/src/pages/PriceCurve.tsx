import { isRising, priceAt, type Ramp } from "../lib/price";
import type { StepMark } from "../lib/events";
import { formatUnits } from "../lib/units";

/** A claim drawn on the curve: when it came and the price it locked. */
export interface ClaimMark {
  slot: number;
  at: number;
  price: bigint;
}

const W = 420;
const H = 140;
const PAD = 28;

/**
 * The job's price over time (SVG): the starting price until the ramp starts, a straight rise to
 * the maximum, then flat until `until`; each claim is a dot at its (time, locked price), each
 * commit and reveal a tick on the time axis, and `now` a vertical line while the job is open.
 */
export function PriceCurve(p: {
  ramp: Ramp;
  from: number;
  until: number;
  claims: ClaimMark[];
  steps?: StepMark[];
  now?: number;
  decimals?: number;
}) {
  const { ramp, claims } = p;
  const steps = p.steps ?? [];
  const end = ramp.rampStart + ramp.rampSeconds;
  const t0 = Math.min(p.from, ramp.rampStart, ...claims.map((c) => c.at));
  const t1 = Math.max(p.until, end, ...claims.map((c) => c.at), ...steps.map((s) => s.at), t0 + 1);
  const max = ramp.rewardPerReplica > 0n ? ramp.rewardPerReplica : 1n;
  const x = (t: number) => PAD + ((t - t0) / (t1 - t0)) * (W - 2 * PAD);
  const y = (v: bigint) => H - PAD - (Number((v * 1000n) / max) / 1000) * (H - 2 * PAD);
  const knots = [t0, Math.max(t0, ramp.rampStart), Math.min(t1, end), t1];
  const line = knots.map((t) => `${x(t).toFixed(1)},${y(priceAt(ramp, t)).toFixed(1)}`).join(" ");
  const fmt = (v: bigint) => (p.decimals === undefined ? v.toString() : formatUnits(v, p.decimals));
  const label = isRising(ramp)
    ? `price rises from ${fmt(ramp.minRewardPerReplica)} to ${fmt(ramp.rewardPerReplica)} over ${ramp.rampSeconds} s`
    : `fixed price ${fmt(ramp.rewardPerReplica)}`;
  return (
    <figure className="price-curve" data-testid="price-curve">
      <svg width={W} height={H} role="img" aria-label={label}>
        <line x1={PAD} y1={H - PAD} x2={W - PAD} y2={H - PAD} stroke="currentColor" strokeOpacity={0.3} />
        <line x1={PAD} y1={PAD} x2={PAD} y2={H - PAD} stroke="currentColor" strokeOpacity={0.3} />
        <text x={2} y={y(ramp.rewardPerReplica) + 4} fontSize={10}>{fmt(ramp.rewardPerReplica)}</text>
        {ramp.minRewardPerReplica < ramp.rewardPerReplica && (
          <text x={2} y={y(ramp.minRewardPerReplica) + 4} fontSize={10}>{fmt(ramp.minRewardPerReplica)}</text>
        )}
        <polyline points={line} fill="none" stroke="currentColor" strokeWidth={2} />
        {p.now !== undefined && p.now >= t0 && p.now <= t1 && (
          <line x1={x(p.now)} y1={PAD} x2={x(p.now)} y2={H - PAD} stroke="currentColor" strokeDasharray="3 3" />
        )}
        {claims.map((c) => (
          <g key={c.slot} data-testid="claim-mark">
            <circle cx={x(c.at)} cy={y(c.price)} r={4} fill="currentColor">
              <title>{`slot ${c.slot}: claimed ${new Date(c.at * 1000).toLocaleTimeString()} at ${fmt(c.price)}`}</title>
            </circle>
            <text x={x(c.at) + 5} y={y(c.price) - 5} fontSize={10}>{c.slot}</text>
          </g>
        ))}
        {steps.map((s, i) => (
          <g key={`${s.kind}-${s.slot}-${i}`} data-testid={`${s.kind}-mark`}>
            <line
              x1={x(s.at)}
              y1={H - PAD}
              x2={x(s.at)}
              y2={H - PAD + (s.kind === "commit" ? 6 : 12)}
              stroke="currentColor"
              strokeWidth={s.kind === "commit" ? 1 : 2}
            >
              <title>{`slot ${s.slot}: ${s.kind === "commit" ? "committed" : "revealed"} ${new Date(s.at * 1000).toLocaleTimeString()}`}</title>
            </line>
          </g>
        ))}
      </svg>
      <figcaption className="muted">
        {label}; each dot is a claim at the price it locked{steps.length > 0 ? ", each short tick a commit, each long tick a reveal" : ""}
      </figcaption>
    </figure>
  );
}
