import type { PublicKey } from "@solana/web3.js";
import { toHex } from "../lib/bytes";
import type { Job, Settlement } from "../lib/market";
import { formatUnits } from "../lib/units";
import { short } from "../state";

export const isZero = (b: Uint8Array) => b.every((x) => x === 0);
export const hexShort = (b: Uint8Array) => (isZero(b) ? "–" : `${toHex(b).slice(0, 12)}…`);
export const time = (unix: number) => (unix ? new Date(unix * 1000).toLocaleString() : "–");
export const Key = ({ k }: { k: PublicKey }) => <code title={k.toBase58()}>{short(k)}</code>;

/** One chip per slot: free, claimed, committed, revealed. */
export function SlotChips({ job }: { job: Job }) {
  return (
    <span className="chips" data-testid="slots">
      {job.slots.map((s, i) => (
        <span key={i} className={`chip ${s.state}`} title={s.provider.toBase58()}>
          {s.state}
        </span>
      ))}
    </span>
  );
}

/** Tokens when the mint's decimals are known; base units until then. */
export function Amount({ v, decimals }: { v: bigint; decimals: number | undefined }) {
  return <span className="amount">{decimals === undefined ? `${v} units` : formatUnits(v, decimals)}</span>;
}

const OUTCOMES: Record<Settlement["outcome"], string> = {
  verified: "verified",
  noQuorum: "no quorum (refunded)",
  cancelled: "cancelled (refunded)",
};

export const outcomeText = (s: Settlement) => OUTCOMES[s.outcome] ?? s.outcome;
