/**
 * Rising offers: a job's price starts at its minimum, rises linearly over its ramp to the maximum
 * (`rewardPerReplica`, which is escrowed per replica) and stays there until the commit deadline.
 * A claim locks the price of its moment for its slot. The same rule as `math::ramp_price` in the
 * program, checked against the same vectors (`test/vectors/price.json`).
 */

/** The terms of an offer as the job and its settlement record keep them. */
export interface Ramp {
  minRewardPerReplica: bigint;
  rewardPerReplica: bigint;
  /** Unix time at which the price starts to rise. */
  rampStart: number;
  /** Seconds from the minimum to the maximum; 0 is a fixed offer of `rewardPerReplica`. */
  rampSeconds: number;
}

/** The price at unix time `now`, rounded down like the program. */
export function rampPrice(min: bigint, max: bigint, start: number, len: number, now: number): bigint {
  if (len <= 0 || now >= start + len) return max;
  if (now <= start || max <= min) return min;
  return min + ((max - min) * BigInt(now - start)) / BigInt(len);
}

/** What a claim at unix time `now` would lock for its slot. */
export const priceAt = (r: Ramp, now: number) =>
  rampPrice(r.minRewardPerReplica, r.rewardPerReplica, r.rampStart, r.rampSeconds, now);

/** Whether the offer rises at all (otherwise it is a fixed reward). */
export const isRising = (r: Ramp) => r.rampSeconds > 0 && r.minRewardPerReplica < r.rewardPerReplica;

/**
 * When the price first reaches `floor` (unix time): `-Infinity` when it is at the floor from the
 * post on (a fixed offer, or a floor at most the starting price), `null` if it never is. The
 * moment a provider with that floor would claim.
 */
export function reachesAt(r: Ramp, floor: bigint): number | null {
  if (floor > r.rewardPerReplica) return null;
  if (r.rampSeconds <= 0 || floor <= r.minRewardPerReplica) return Number.NEGATIVE_INFINITY;
  // smallest t with min + (max - min) × t / len ≥ floor
  const span = r.rewardPerReplica - r.minRewardPerReplica;
  const need = (floor - r.minRewardPerReplica) * BigInt(r.rampSeconds);
  return r.rampStart + Number((need + span - 1n) / span);
}
