import { useConnection, useWallet } from "@solana/wallet-adapter-react";
import type { PublicKey } from "@solana/web3.js";
import { useEffect, useState } from "react";
import { computeUnitLimit } from "../lib/budget";
import { explain } from "../lib/errors";
import { cancelJobUnits, type Job, type Settlement } from "../lib/market";
import { sendAndConfirm } from "../lib/tx";
import { useApp } from "../state";
import { Amount, Key, outcomeText, SlotChips, time } from "./common";

export function MyJobs() {
  const { client, cluster, markets, mintDecimals } = useApp();
  const decimalsOf = (market: PublicKey) => {
    const m = markets.find((x) => x.address.equals(market));
    return m ? mintDecimals(m.paymentMint) : undefined;
  };
  const { connection } = useConnection();
  const { publicKey, sendTransaction } = useWallet();
  const [jobs, setJobs] = useState<Map<string, Job>>(new Map());
  const [settled, setSettled] = useState<Map<string, Settlement>>(new Map());
  const [error, setError] = useState("");
  const [live, setLive] = useState(false);

  useEffect(() => {
    // another wallet or cluster: nothing of the previous one stays listed
    setJobs(new Map());
    setSettled(new Map());
    setLive(false);
    if (!publicKey) return;
    let on = true;
    setError("");
    // updates arrive by subscription; a read every 15 s is the authority on which jobs still
    // exist (a closed account sends no program notification) and catches updates that raced it
    const stop = client.watchRequester(
      publicKey,
      (j) => on && setJobs((m) => new Map(m).set(j.address.toBase58(), j)),
      (s) => on && setSettled((m) => new Map(m).set(s.job.toBase58(), s)),
    );
    const refresh = () =>
      Promise.all([client.jobs({ requester: publicKey }), client.settlements({ requester: publicKey })]).then(
        ([js, ss]) => {
          if (!on) return;
          setJobs(new Map(js.map((j) => [j.address.toBase58(), j])));
          setSettled((m) => {
            const n = new Map(m);
            for (const s of ss) n.set(s.job.toBase58(), s);
            return n;
          });
          setLive(true);
          setError("");
        },
        (e) => on && setError(explain(e, cluster.rpc)),
      );
    void refresh();
    const timer = setInterval(refresh, 15_000);
    return () => {
      on = false;
      clearInterval(timer);
      stop();
    };
  }, [client, publicKey, cluster.rpc]);

  async function cancel(job: Job) {
    if (!publicKey) return;
    setError("");
    try {
      if (!job.requester.equals(publicKey)) throw new Error("Only the wallet that posted a job can cancel it.");
      const market = await client.market(job.market);
      if (!market) throw new Error(`the job's market ${job.market.toBase58()} is not on this cluster`);
      const ix = await client.cancelJobInstruction(market, job, publicKey);
      await sendAndConfirm(connection, sendTransaction, publicKey, [computeUnitLimit(cancelJobUnits(job.address)), ix]);
      setJobs((m) => {
        const n = new Map(m);
        n.delete(job.address.toBase58());
        return n;
      });
      // the cancellation left a settlement record: list it now rather than at the next refresh
      const record = await client.settlement(job.address).catch(() => null);
      if (record) setSettled((m) => new Map(m).set(record.job.toBase58(), record));
    } catch (e) {
      setError(explain(e, cluster.rpc));
    }
  }

  if (!publicKey) return <p>Connect a wallet to see the jobs it posted.</p>;
  const open = [...jobs.values()].filter((j) => !settled.has(j.address.toBase58())).sort((a, b) => b.createdAt - a.createdAt);
  const done = [...settled.values()].sort((a, b) => b.settledAt - a.settledAt);
  return (
    <section>
      <h2>My jobs {live && <span className="muted" data-testid="live">(live)</span>}</h2>
      {error && <div className="error" role="alert">{error}</div>}
      <h3>Open ({open.length})</h3>
      <table data-testid="open-jobs">
        <thead>
          <tr><th>Job</th><th>Posted</th><th>n / k</th><th>Reward / replica</th><th>Slots</th><th>Expired claims</th><th>Commit deadline</th><th /></tr>
        </thead>
        <tbody>
          {open.map((j) => (
            <tr key={j.address.toBase58()}>
              <td><a href={`#/job/${j.address.toBase58()}`}><Key k={j.address} /></a></td>
              <td>{time(j.createdAt)}</td>
              <td>{j.replicas} / {j.quorum}</td>
              <td><Amount v={j.rewardPerReplica} decimals={decimalsOf(j.market)} /></td>
              <td><SlotChips job={j} /></td>
              <td>{j.expired.length}</td>
              <td>{time(j.commitDeadline)}</td>
              <td>
                {j.slots.every((s) => s.state === "free") && <button onClick={() => cancel(j)}>Cancel and refund</button>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Settled ({done.length})</h3>
      <table data-testid="settled-jobs">
        <thead>
          <tr><th>Job</th><th>Settled</th><th>Outcome</th><th>Paid</th><th>Fee</th><th>Refund</th></tr>
        </thead>
        <tbody>
          {done.map((s) => (
            <tr key={s.address.toBase58()}>
              <td><a href={`#/job/${s.job.toBase58()}`}><Key k={s.job} /></a></td>
              <td>{time(s.settledAt)}</td>
              <td>{outcomeText(s)}</td>
              <td><Amount v={s.totalPaid} decimals={decimalsOf(s.market)} /></td>
              <td><Amount v={s.fee} decimals={decimalsOf(s.market)} /></td>
              <td><Amount v={s.refund} decimals={decimalsOf(s.market)} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
