/**
 * A job's history from its transactions' logs, read the way Anchor clients read events: every
 * transaction naming the job (`getSignaturesForAddress`), each one's log messages
 * (`getTransaction`), and the program's `Program data:` lines decoded with the IDL's event types.
 * The history outlives the job account, which closes at settlement.
 */
import { EventParser } from "@anchor-lang/core";
import { PublicKey } from "@solana/web3.js";
import { PROGRAM_ID, type MarketClient } from "./market";

export interface JobEvent {
  signature: string;
  slot: number;
  /** Unix time of the block, when the node knows it. */
  time: number | null;
  /** The event's name as in the IDL (`JobPosted`, `JobClaimed`, …). */
  name: string;
  data: Record<string, unknown>;
  /** Compute units the whole transaction consumed. */
  computeUnits: number | null;
}

/** Oldest first; at most the job's last `limit` transactions. */
export async function jobHistory(client: MarketClient, job: PublicKey, limit = 200): Promise<JobEvent[]> {
  const { connection } = client;
  const sigs = await connection.getSignaturesForAddress(job, { limit }, "confirmed");
  const parser = new EventParser(PROGRAM_ID, client.program.coder);
  const out: JobEvent[] = [];
  for (const s of sigs.reverse()) {
    if (s.err) continue;
    const tx = await connection.getTransaction(s.signature, { commitment: "confirmed", maxSupportedTransactionVersion: 0 });
    for (const e of parser.parseLogs(tx?.meta?.logMessages ?? [])) {
      const data = e.data as Record<string, unknown>;
      // a transaction may settle or post other jobs too
      if (data.job instanceof PublicKey && !data.job.equals(job)) continue;
      out.push({
        signature: s.signature,
        slot: s.slot,
        time: s.blockTime ?? null,
        name: e.name.charAt(0).toUpperCase() + e.name.slice(1),
        data,
        computeUnits: tx?.meta?.computeUnitsConsumed ?? null,
      });
    }
  }
  return out;
}

/** A slot's commit or reveal at a block time: what the job page marks on its price curve. */
export interface StepMark {
  slot: number;
  at: number;
  kind: "commit" | "reveal";
}

/** The commits and reveals among a job's events that carry a block time. */
export function stepMarks(events: Pick<JobEvent, "name" | "time" | "data">[]): StepMark[] {
  return events.flatMap((e) =>
    (e.name === "ResultCommitted" || e.name === "ResultRevealed") && e.time !== null && typeof e.data.slot === "number"
      ? [{ slot: e.data.slot, at: e.time, kind: e.name === "ResultCommitted" ? ("commit" as const) : ("reveal" as const) }]
      : [],
  );
}
