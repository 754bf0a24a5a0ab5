import { PublicKey } from "@solana/web3.js";
import { useEffect, useState } from "react";
import { explain } from "../lib/errors";
import { jobHistory, type JobEvent } from "../lib/events";
import { useApp } from "../state";
import { Key, time } from "./common";

/** Anchor decodes an enum as `{ variantName: {} }`. */
const OUTCOMES: Record<string, string> = { verified: "verified", noQuorum: "no quorum", cancelled: "cancelled" };

/** Whether an event's u64 field (a BN once decoded) is positive. */
const positive = (v: unknown) => v !== undefined && v !== null && String(v) !== "0";

/** What an event says beyond its name, in a few words. */
function details(e: JobEvent) {
  const d = e.data;
  const parts: React.ReactNode[] = [];
  if (typeof d.replicas === "number" && typeof d.quorum === "number") parts.push(`n ${d.replicas} / k ${d.quorum}`);
  if (typeof d.slot === "number") parts.push(`slot ${d.slot}`);
  if (d.provider instanceof PublicKey) parts.push(<Key k={d.provider} />);
  if (d.outcome && typeof d.outcome === "object") {
    const k = Object.keys(d.outcome)[0] ?? "";
    parts.push(OUTCOMES[k] ?? k);
  }
  if (e.name === "JobCancelled") {
    parts.push("escrow refunded in full");
    // the settlement record lists whose claims expired and what each lost
    if (positive(d.expiredSlashed)) parts.push("expired claims' collateral slashed earlier");
  }
  return parts.map((p, i) => (
    <span key={i}>
      {i > 0 && " · "}
      {p}
    </span>
  ));
}

/** Events that end a job's history. */
const FINAL = ["JobFinalized", "JobCancelled"];

/**
 * The job's history from its transactions' events (JobPosted, JobClaimed, ResultCommitted, …),
 * read again whenever `version` changes (the job's account moved on). Once the job is `settled`,
 * it is read until its final event shows: a node indexes a transaction's signature shortly after
 * the account change it made is visible.
 */
export function History({
  job,
  version,
  settled,
  onEvents,
}: {
  job: PublicKey;
  version: string;
  settled: boolean;
  /** Told the events each time they are read (the job page marks commits and reveals). */
  onEvents?: (events: JobEvent[]) => void;
}) {
  const { client, cluster } = useApp();
  const [events, setEvents] = useState<JobEvent[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    let on = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = (attempt: number) =>
      jobHistory(client, job).then(
        (h) => {
          if (!on) return;
          setEvents(h);
          onEvents?.(h);
          if (settled && !h.some((e) => FINAL.includes(e.name)) && attempt < 20) {
            timer = setTimeout(() => read(attempt + 1), 1000);
          }
        },
        (e) => on && setError(explain(e, cluster.rpc)),
      );
    void read(0);
    return () => {
      on = false;
      clearTimeout(timer);
    };
    // onEvents is a setter of the page's: stable
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, job, version, settled, cluster.rpc]);
  return (
    <div data-testid="history">
      <h3>History</h3>
      {error && <div className="error" role="alert">{error}</div>}
      {events === null && !error && <p className="muted">Reading the job's transactions…</p>}
      {events && (
        <table>
          <thead>
            <tr><th>Time</th><th>Slot</th><th>Event</th><th>Details</th><th>Transaction compute units</th></tr>
          </thead>
          <tbody>
            {events.map((e, i) => (
              <tr key={`${e.signature}-${i}`} data-testid="history-event">
                <td>{e.time === null ? "–" : time(e.time)}</td>
                <td>{e.slot}</td>
                <td>{e.name}</td>
                <td>{details(e)}</td>
                <td>{e.computeUnits ?? "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
