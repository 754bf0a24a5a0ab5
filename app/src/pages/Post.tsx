import { useConnection, useWallet } from "@solana/wallet-adapter-react";
import { useState } from "react";
import { computeUnitLimit } from "../lib/budget";
import { fromHex, toHex, utf8 } from "../lib/bytes";
import { explain, programErrorName } from "../lib/errors";
import { blobUrl, canonicalManifest, MANIFEST_VERSION, DEFAULT_RUNTIME, uploadBlob } from "../lib/manifest";
import { moduleProblems } from "../lib/module";
import {
  isStrictMajority,
  jobAddress,
  MAX_EXPIRED_CLAIMS,
  MAX_MANIFEST_URI_LEN,
  minQuorum,
  postCost,
  postJobUnits,
  requesterTokenAccount,
  type Market,
  type PostCost,
} from "../lib/market";
import { sendAndConfirm } from "../lib/tx";
import { formatSol, formatUnits, parseUnits } from "../lib/units";
import { useApp } from "../state";

interface Review {
  /**
   * The market as read for this review: the terms shown are decoded from it, and the post carries
   * their hash (`termsHash`), so it lands only on exactly these terms.
   */
  market: Market;
  /** What the review was made for: a change of any of them voids it. */
  wallet: string;
  decimals: number;
  cost: PostCost;
  tokenBalance: bigint;
  lamports: bigint;
  reward: bigint;
  /** The starting price of a rising offer (`reward` for a fixed one), its delay and length. */
  minReward: bigint;
  rampDelay: number;
  rampSeconds: number;
  /** The module's bytes as checked here: what the post uploads. */
  moduleBytes: Uint8Array;
  problems: string[];
}

const randomNonce = () => new DataView(crypto.getRandomValues(new Uint8Array(8)).buffer).getBigUint64(0, true);

async function readFile(f: File | null): Promise<Uint8Array> {
  return f ? new Uint8Array(await f.arrayBuffer()) : new Uint8Array();
}

/** Why k must be a strict majority of n, shown by the form and when it is broken. */
const QUORUM_RULE =
  "The quorum k must be a strict majority of the replicas n (more than n / 2, at most n): otherwise two different results could each reach the quorum, or a 1–1 split could void the job with nobody at fault.";

const seconds = (s: number) => `${s} s`;

export function PostJob() {
  const { cluster, client, market, decimals, mintDecimals } = useApp();
  const { connection } = useConnection();
  const { publicKey, sendTransaction } = useWallet();
  const [module, setModule] = useState<File | null>(null);
  const [input, setInput] = useState<File | null>(null);
  const [args, setArgs] = useState("");
  const [replicas, setReplicas] = useState(1);
  const [quorum, setQuorum] = useState(1);
  const [reward, setReward] = useState("1");
  const [minReward, setMinReward] = useState("");
  const [rampDelay, setRampDelay] = useState(0);
  const [rampSeconds, setRampSeconds] = useState(0);
  const [commitWindow, setCommitWindow] = useState(0);
  const [maxFuel, setMaxFuel] = useState("10000000000");
  const [maxMemoryMiB, setMaxMemoryMiB] = useState(64);
  const [maxOutputMiB, setMaxOutputMiB] = useState(16);
  const [review, setReview] = useState<Review | null>(null);
  const [busy, setBusy] = useState("");
  const [error, setError] = useState("");

  const changed = <T,>(set: (v: T) => void) => (v: T) => {
    set(v);
    setReview(null);
  };

  // the manifest URI is the blob store URL of its hash, so its length is known before uploading
  const uriLen = utf8(blobUrl(cluster.blob, "0".repeat(64))).length;
  const current =
    review &&
    market &&
    review.market.address.equals(market.address) &&
    review.wallet === publicKey?.toBase58() &&
    review.decimals === decimals
      ? review
      : null;

  async function onReview(e: React.FormEvent) {
    e.preventDefault();
    setError("");
    setReview(null);
    try {
      if (!market) throw new Error("No market on this cluster: pick another cluster or market.");
      if (!publicKey) throw new Error("Connect a wallet first: it pays the escrow and signs the job.");
      if (!module) throw new Error("Choose the job's module (a .wasm file for wasm32-wasip1).");
      if (!cluster.blob) throw new Error("Set the blob store URL in the cluster settings: modules and inputs are uploaded there.");
      if (decimals === undefined) throw new Error("The market's payment mint is still being read: try again in a moment.");
      // the terms are read now, not taken from when the app loaded: what the review shows is what
      // the post accepts
      const reviewed = await client.market(market.address);
      if (!reviewed) throw new Error(`The market ${market.address.toBase58()} is no longer on this cluster.`);
      const rewardUnits = parseUnits(reward, decimals);
      // an empty starting price is a fixed offer
      const rising = minReward.trim() !== "";
      const minUnits = rising ? parseUnits(minReward, decimals) : rewardUnits;
      const ramp = rising ? rampSeconds : 0;
      const delay = rising ? rampDelay : 0;
      // what would make every provider's worker skip the module
      const moduleBytes = await readFile(module);
      const problems: string[] = moduleProblems(moduleBytes, DEFAULT_RUNTIME);
      if (rewardUnits === 0n) problems.push("The reward must be positive.");
      if (minUnits > rewardUnits) problems.push("The starting reward of a rising offer must not exceed the maximum reward.");
      if (!Number.isInteger(ramp) || !Number.isInteger(delay) || ramp < 0 || delay < 0) {
        problems.push("The ramp's start and length must be whole seconds, 0 or more.");
      } else if (minUnits < rewardUnits && ramp === 0) {
        problems.push("A rising offer needs a ramp length: the seconds its price takes to reach the maximum.");
      }
      if (!Number.isInteger(replicas) || replicas < 1 || replicas > reviewed.config.maxReplicas) {
        problems.push(`Replicas must be between 1 and ${reviewed.config.maxReplicas} in this market.`);
      } else if (!isStrictMajority(quorum, replicas)) {
        problems.push(
          `${QUORUM_RULE} For n = ${replicas}, k must be ${minQuorum(replicas) === replicas ? replicas : `${minQuorum(replicas)} to ${replicas}`}.`,
        );
      }
      const { claimTimeout, maxCommitWindow } = reviewed.config;
      if (!Number.isInteger(commitWindow) || (commitWindow !== 0 && (commitWindow < claimTimeout || commitWindow > maxCommitWindow))) {
        problems.push(`The commit window must be 0 (the market default) or ${claimTimeout} to ${maxCommitWindow} s.`);
      } else if (ramp > 0 && delay + ramp > (commitWindow || reviewed.config.defaultCommitWindow) - claimTimeout - 1) {
        const latest = (commitWindow || reviewed.config.defaultCommitWindow) - claimTimeout - 1;
        problems.push(`The ramp must end by ${latest} s after posting, so that a claim at the maximum still has its ${claimTimeout} s before the commit deadline.`);
      }
      if (!/^\d+$/.test(maxFuel) || BigInt(maxFuel) === 0n || BigInt(maxFuel) > 0xffff_ffff_ffff_ffffn) {
        problems.push("Max fuel must be a positive whole number.");
      }
      for (const [what, v] of [["Max memory", maxMemoryMiB], ["Max output", maxOutputMiB]] as const) {
        if (!Number.isInteger(v) || v < 1 || v > 1 << 20) problems.push(`${what} must be a whole number of MiB, at least 1.`);
      }
      if (uriLen > MAX_MANIFEST_URI_LEN) problems.push(`The blob store URL is too long for an on-chain manifest URI.`);
      if (reviewed.paused) problems.push("The market is paused: it takes no new jobs.");
      const cost = await postCost(connection, reviewed, rewardUnits, replicas, uriLen);
      const [tokenBalance, lamports] = await Promise.all([
        client.tokenBalance(requesterTokenAccount(reviewed, publicKey)),
        connection.getBalance(publicKey).then(BigInt),
      ]);
      if (tokenBalance < cost.escrow) {
        problems.push(
          `Insufficient funds: the escrow is ${formatUnits(cost.escrow, decimals)} tokens and your wallet holds ${formatUnits(tokenBalance, decimals)}.`,
        );
      }
      if (lamports < cost.lamportsLocked + cost.signatureFee) {
        problems.push(
          `Insufficient SOL: posting locks ${formatSol(cost.lamportsLocked + cost.signatureFee)} SOL and your wallet holds ${formatSol(lamports)}.`,
        );
      }
      setReview({
        market: reviewed,
        wallet: publicKey.toBase58(),
        decimals,
        cost,
        tokenBalance,
        lamports,
        reward: rewardUnits,
        minReward: minUnits,
        rampDelay: delay,
        rampSeconds: ramp,
        moduleBytes,
        problems,
      });
    } catch (e) {
      setError(explain(e, cluster.rpc));
    }
  }

  async function onSign() {
    const review = current;
    if (!review || !publicKey) return;
    const market = review.market;
    setError("");
    try {
      setBusy("Uploading the module, input and manifest…");
      const [moduleRef, inputRef] = await Promise.all([
        uploadBlob(cluster.blob, review.moduleBytes),
        readFile(input).then((b) => uploadBlob(cluster.blob, b)),
      ]);
      const manifest = canonicalManifest({
        args: args.trim() ? args.trim().split(/\s+/) : [],
        input: inputRef,
        maxFuel: BigInt(maxFuel),
        maxMemory: BigInt(maxMemoryMiB) << 20n,
        maxOutput: BigInt(maxOutputMiB) << 20n,
        module: moduleRef,
        runtime: DEFAULT_RUNTIME,
        version: MANIFEST_VERSION,
      });
      const manifestRef = await uploadBlob(cluster.blob, manifest);
      const nonce = randomNonce();
      const ix = await client.postJobInstruction({
        market,
        requester: publicKey,
        nonce,
        manifestHash: fromHex(manifestRef.sha256),
        manifestUri: manifestRef.uri,
        rewardPerReplica: review.reward,
        minRewardPerReplica: review.minReward,
        rampDelay: review.rampDelay,
        rampSeconds: review.rampSeconds,
        replicas,
        quorum,
        commitWindow,
      });
      setBusy("Waiting for your wallet to sign…");
      await sendAndConfirm(
        connection,
        sendTransaction,
        publicKey,
        [computeUnitLimit(postJobUnits(market.address, publicKey, nonce)), ix],
        () => setBusy("Waiting for the cluster to confirm…"),
      );
      window.location.hash = `#/job/${jobAddress(market.address, publicKey, nonce).toBase58()}`;
    } catch (e) {
      // the terms reviewed are gone: the review may not be signed again as it stands
      if (programErrorName(e) === "TermsChanged") setReview(null);
      setError(explain(e, cluster.rpc));
    } finally {
      setBusy("");
    }
  }

  const c = current?.cost;
  const tok = (v: bigint) => (decimals === undefined ? `${v} units` : `${formatUnits(v, decimals)} tokens`);
  const stakeDecimals = current ? mintDecimals(current.market.stakeMint) : undefined;
  const stk = (v: bigint) => (stakeDecimals === undefined ? `${v} units` : `${formatUnits(v, stakeDecimals)} stake tokens`);
  const terms = current?.market.config;
  return (
    <section>
      <h2>Post a job</h2>
      <form onSubmit={onReview} className="grid">
        <label>
          Module (.wasm, wasm32-wasip1)
          <input type="file" accept=".wasm,application/wasm" aria-label="module" onChange={(e) => changed(setModule)(e.target.files?.[0] ?? null)} />
        </label>
        <label>
          Input (stdin; optional)
          <input type="file" aria-label="input" onChange={(e) => changed(setInput)(e.target.files?.[0] ?? null)} />
        </label>
        <label>
          Arguments (space-separated)
          <input aria-label="args" value={args} onChange={(e) => changed(setArgs)(e.target.value)} />
        </label>
        <label>
          Replicas n
          <input type="number" min={1} max={8} aria-label="replicas" value={replicas} onChange={(e) => changed(setReplicas)(Number(e.target.value))} />
        </label>
        <label title={QUORUM_RULE}>
          Quorum k (more than n / 2, at most n)
          <input type="number" min={1} max={8} aria-label="quorum" value={quorum} onChange={(e) => changed(setQuorum)(Number(e.target.value))} />
        </label>
        <label>
          Reward per replica (tokens; the most a rising offer pays)
          <input aria-label="reward" value={reward} onChange={(e) => changed(setReward)(e.target.value)} />
        </label>
        <label title="A rising offer starts at this price and rises linearly to the reward above over the ramp; a claim locks the price of its moment. Leave empty for a fixed reward.">
          Starting reward (tokens; empty = fixed)
          <input aria-label="min reward" value={minReward} onChange={(e) => changed(setMinReward)(e.target.value)} />
        </label>
        <label>
          Ramp starts (s after posting)
          <input type="number" min={0} aria-label="ramp delay" value={rampDelay} onChange={(e) => changed(setRampDelay)(Number(e.target.value))} />
        </label>
        <label>
          Ramp length (s)
          <input type="number" min={0} aria-label="ramp" value={rampSeconds} onChange={(e) => changed(setRampSeconds)(Number(e.target.value))} />
        </label>
        <label>
          Commit window (s; 0 = market default)
          <input type="number" min={0} aria-label="commit window" value={commitWindow} onChange={(e) => changed(setCommitWindow)(Number(e.target.value))} />
        </label>
        <label>
          Max fuel
          <input aria-label="max fuel" value={maxFuel} onChange={(e) => changed(setMaxFuel)(e.target.value.replace(/\D/g, ""))} />
        </label>
        <label>
          Max memory (MiB)
          <input type="number" min={1} aria-label="max memory" value={maxMemoryMiB} onChange={(e) => changed(setMaxMemoryMiB)(Number(e.target.value))} />
        </label>
        <label>
          Max output (MiB)
          <input type="number" min={1} aria-label="max output" value={maxOutputMiB} onChange={(e) => changed(setMaxOutputMiB)(Number(e.target.value))} />
        </label>
        <div>
          <button type="submit">Review fees and escrow</button>
        </div>
      </form>
      {c && current && terms && (
        <div className="review" data-testid="review">
          <h3>Before you sign</h3>
          <table>
            <tbody>
              <tr>
                <th>Price per replica</th>
                <td data-testid="price">
                  {current.minReward < current.reward
                    ? `rises from ${tok(current.minReward)} at ${seconds(current.rampDelay)} after posting to ${tok(current.reward)} at ${seconds(current.rampDelay + current.rampSeconds)}, then stays; each claim locks the price of its moment, and what an agreeing slot does not earn of the maximum is refunded`
                    : `${tok(current.reward)}, fixed`}
                </td>
              </tr>
              <tr><th>Escrow (maximum reward × n)</th><td data-testid="escrow">{tok(c.escrow)}</td></tr>
              <tr><th>Protocol fee per agreeing replica ({terms.feeBps / 100}%; at the maximum price)</th><td>{tok(c.feePerReplica)}</td></tr>
              <tr><th>Each agreeing provider gets (at the maximum price)</th><td>{tok(c.providersGetPerReplica)}</td></tr>
              <tr><th>Most you pay (all n agree)</th><td>{tok(c.escrow)}, of which {tok(c.maxFee)} fee</td></tr>
              <tr><th>Refunded</th><td>the escrow of replicas that are not verified; everything if no quorum by the deadline, or if you cancel while no slot is held</td></tr>
              <tr><th>Collateral each provider stakes per claim (slashed if it fails the job)</th><td data-testid="collateral">{stk(terms.collateralPerClaim)}</td></tr>
              <tr>
                <th>Windows</th>
                <td data-testid="windows">
                  commits close {seconds(commitWindow || terms.defaultCommitWindow)} after posting; a provider has {seconds(terms.claimTimeout)} from
                  its claim to commit; reveals close {seconds(terms.revealWindow)} after the commit deadline
                </td>
              </tr>
              <tr>
                <th>Market terms you accept</th>
                <td>
                  <code data-testid="terms-hash" title={toHex(current.market.termsHash)}>{toHex(current.market.termsHash).slice(0, 16)}…</code>{" "}
                  <span className="muted">(as read at this review: if the market's terms change before the job lands, it is refused and you review again)</span>
                </td>
              </tr>
              <tr><th>Job account rent (back when it settles)</th><td>{formatSol(c.jobRent)} SOL</td></tr>
              <tr><th>Settlement record deposit (room for {MAX_EXPIRED_CLAIMS} expired claims; what the record does not use comes back)</th><td>{formatSol(c.settlementDeposit)} SOL</td></tr>
              <tr><th>Settlement record rent (kept by the audit record; 32 bytes' rent more per expired claim it lists)</th><td data-testid="record-rent">{formatSol(c.settlementRent)} SOL</td></tr>
              <tr><th>Transaction fee</th><td>{formatSol(c.signatureFee)} SOL</td></tr>
              <tr><th>Your wallet</th><td>{tok(current.tokenBalance)}, {formatSol(current.lamports)} SOL</td></tr>
            </tbody>
          </table>
          {current.problems.map((p) => (
            <div key={p} className="error" role="alert">{p}</div>
          ))}
          <button disabled={current.problems.length > 0 || !!busy} onClick={onSign}>
            Sign and post
          </button>
        </div>
      )}
      {busy && <p className="muted" data-testid="busy">{busy}</p>}
      {error && <div className="error" role="alert" data-testid="post-error">{error}</div>}
      <p className="muted">
        The module, the input and the job's manifest (canonical JSON; its sha256 goes on-chain) are uploaded to{" "}
        {cluster.blob || "(no blob store set)"} when you sign.
      </p>
    </section>
  );
}
