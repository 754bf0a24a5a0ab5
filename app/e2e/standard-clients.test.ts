/**
 * `cmkt localnet` as a drop-in for `solana-test-validator`, checked with clients that are not
 * ours: `@solana/web3.js` and `@solana/spl-token` from npm, used as every tutorial uses them.
 * Two chains run side by side (the second with an explicit faucet port): each binds its own
 * ports, answers `requestAirdrop` from its own faucet, and serves the common JSON-RPC methods and
 * websocket subscriptions; SPL Token, Token-2022, Associated Token and Memo are deployed.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  PublicKey,
  SystemProgram,
  Transaction,
  TransactionInstruction,
  sendAndConfirmTransaction,
  type Commitment,
} from "@solana/web3.js";
import {
  ASSOCIATED_TOKEN_PROGRAM_ID,
  TOKEN_2022_PROGRAM_ID,
  TOKEN_PROGRAM_ID,
  createMint,
  getOrCreateAssociatedTokenAccount,
  mintTo,
} from "@solana/spl-token";
import { Localnet, freePort } from "./harness";

const MEMO = new PublicKey("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");
const commitment: Commitment = "confirmed";
let a: Localnet;
let b: Localnet;
let faucetPort: number;

const conn = (net: Localnet) => {
  const c = new Connection(net.info.rpc_url, { commitment, wsEndpoint: net.info.ws_url });
  connections.push(c);
  return c;
};

/** Every connection made, closed at the end: web3.js reconnects its websocket forever otherwise. */
const connections: Connection[] = [];

/** Resolves with the first value `subscribe` hands its callback that `wanted` accepts, or rejects after `ms`. */
function first<T>(what: string, subscribe: (cb: (v: T) => void) => number, unsubscribe: (id: number) => Promise<void>, wanted: (v: T) => boolean = () => true, ms = 30_000): { id: number; value: Promise<T> } {
  let id = -1;
  const value = new Promise<T>((ok, fail) => {
    const timer = setTimeout(() => {
      void unsubscribe(id);
      fail(new Error(`no ${what} notification in ${ms} ms`));
    }, ms);
    id = subscribe((v) => {
      if (!wanted(v)) return;
      clearTimeout(timer);
      void unsubscribe(id);
      ok(v);
    });
  });
  return { id, value };
}

async function airdrop(c: Connection, to: PublicKey, sol: number) {
  const sig = await c.requestAirdrop(to, sol * LAMPORTS_PER_SOL);
  const latest = await c.getLatestBlockhash();
  await c.confirmTransaction({ signature: sig, ...latest }, commitment);
  return sig;
}

/**
 * `getTransaction` once the history has it: the validator writes a transaction's status to its
 * history after the bank commits it, so right after `confirmed` it may still answer null.
 */
async function transaction(c: Connection, signature: string) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const tx = await c.getTransaction(signature, { commitment: "confirmed", maxSupportedTransactionVersion: 0 });
    if (tx || Date.now() > deadline) return tx;
    await new Promise((r) => setTimeout(r, 200));
  }
}

before(async () => {
  faucetPort = await freePort();
  [a, b] = await Localnet.startAll([
    ["std-a", []],
    ["std-b", ["--faucet-port", String(faucetPort)]],
  ]);
});

after(async () => {
  for (const c of connections) (c as unknown as { _rpcWebSocket: { close(): void } })._rpcWebSocket.close();
  await Promise.all([a?.stop(), b?.stop()]);
});

test("two chains bind disjoint ports, each reported in localnet.json", () => {
  const ports = (net: Localnet) => {
    const p = net.info.ports;
    return [p.rpc, p.websocket, p.faucet, p.gossip, p.tpu, p.tpu_forwards, p.tpu_vote, p.tvu, p.repair, p.blob_store ?? 0];
  };
  for (const net of [a, b]) {
    const p = ports(net);
    assert.ok(p.every((x) => x > 0), `every port is known: ${p}`);
    assert.equal(new URL(net.info.rpc_url).port, String(net.info.ports.rpc));
    assert.equal(net.info.ports.websocket, net.info.ports.rpc + 1);
  }
  assert.equal(b.info.ports.faucet, faucetPort, "the faucet port given on the command line");
  const shared = ports(a).filter((x) => ports(b).includes(x));
  assert.deepEqual(shared, [], "no port is bound by both chains");
});

test("requestAirdrop lands on each chain from its own faucet, and gives nothing over the cap", async () => {
  const [ca, cb] = [conn(a), conn(b)];
  const who = Keypair.generate().publicKey;
  await airdrop(ca, who, 2);
  assert.equal(await ca.getBalance(who), 2 * LAMPORTS_PER_SOL);
  assert.equal(await cb.getBalance(who), 0, "the other chain is another chain");
  await airdrop(cb, who, 0.5);
  assert.equal(await cb.getBalance(who), 0.5 * LAMPORTS_PER_SOL);
  // over the cap, Solana's faucet (as on solana-test-validator) answers with a memo that moves nothing
  const refused = await airdrop(ca, who, 1_001);
  const tx = await transaction(ca, refused);
  assert.ok(tx?.meta?.logMessages?.some((l) => l.includes("request too large")), "the faucet says why");
  assert.equal(await ca.getBalance(who), 2 * LAMPORTS_PER_SOL, "a refused airdrop moves nothing");
});

test("the common read methods answer as on solana-test-validator", async () => {
  const c = conn(a);
  const version = await c.getVersion();
  assert.ok(version["solana-core"], "getVersion names the core version");
  // web3.js has no getHealth: the plain JSON-RPC call, as a load balancer would send it
  const health = await fetch(a.info.rpc_url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "getHealth" }),
  }).then((r) => r.json());
  assert.equal(health.result, "ok");
  assert.ok((await c.getSlot()) > 0);
  assert.ok((await c.getBlockHeight()) > 0);
  const epoch = await c.getEpochInfo();
  assert.ok(epoch.slotsInEpoch > 0);
  assert.ok((await c.getMinimumBalanceForRentExemption(165)) > 0);
  const { blockhash } = await c.getLatestBlockhash();
  assert.equal(await c.isBlockhashValid(blockhash).then((r) => r.value), true);
  assert.ok((await c.getGenesisHash()).length > 30);
  const fees = await c.getRecentPrioritizationFees();
  assert.ok(Array.isArray(fees));
});

test("SPL Token, Token-2022, Associated Token and Memo are deployed and work", async () => {
  const c = conn(a);
  for (const id of [TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID, ASSOCIATED_TOKEN_PROGRAM_ID, MEMO]) {
    const info = await c.getAccountInfo(id);
    assert.ok(info?.executable, `${id.toBase58()} is an executable program`);
  }
  const payer = Keypair.generate();
  await airdrop(c, payer.publicKey, 10);
  for (const program of [TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID]) {
    const mint = await createMint(c, payer, payer.publicKey, null, 6, undefined, undefined, program);
    const account = await getOrCreateAssociatedTokenAccount(c, payer, mint, payer.publicKey, false, undefined, undefined, program);
    await mintTo(c, payer, mint, account.address, payer, 1_500_000, [], undefined, program);
    const balance = await c.getTokenAccountBalance(account.address);
    assert.equal(balance.value.uiAmountString, "1.5");
    const owned = await c.getTokenAccountsByOwner(payer.publicKey, { programId: program });
    assert.equal(owned.value.length, 1);
  }
});

test("websocket subscriptions: slot, account, program, signature and logs with mentions", async () => {
  const c = conn(a);
  const payer = Keypair.generate();
  await airdrop(c, payer.publicKey, 5);
  const target = Keypair.generate().publicKey;

  const slot = first<{ slot: number }>("slotSubscribe", (cb) => c.onSlotChange(cb), (id) => c.removeSlotChangeListener(id));
  assert.ok((await slot.value).slot > 0);

  const account = first<{ lamports: number }>("accountSubscribe", (cb) => c.onAccountChange(target, cb, { commitment }), (id) => c.removeAccountChangeListener(id));
  const program = first<{ accountId: PublicKey }>(
    "programSubscribe",
    (cb) => c.onProgramAccountChange(SystemProgram.programId, cb, { commitment, filters: [{ dataSize: 0 }] }),
    (id) => c.removeProgramAccountChangeListener(id),
    // the validator's own system accounts change every slot too
    (v) => v.accountId.equals(target),
  );
  const logs = first<{ logs: string[]; signature: string }>("logsSubscribe", (cb) => c.onLogs(MEMO, cb, commitment), (id) => c.removeOnLogsListener(id));
  // let the subscriptions register before the transaction lands
  await new Promise((r) => setTimeout(r, 1_000));

  const tx = new Transaction().add(
    SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: target, lamports: LAMPORTS_PER_SOL }),
    new TransactionInstruction({ programId: MEMO, keys: [{ pubkey: payer.publicKey, isSigner: true, isWritable: false }], data: Buffer.from("cmkt drop-in") }),
  );
  const latest = await c.getLatestBlockhash();
  tx.recentBlockhash = latest.blockhash;
  tx.feePayer = payer.publicKey;
  tx.sign(payer);
  const signature = first<{ err: unknown }>("signatureSubscribe", (cb) => c.onSignature(bs58encode(tx.signature!), cb, commitment), (id) => c.removeSignatureListener(id));
  const sent = await c.sendRawTransaction(tx.serialize());
  await c.confirmTransaction({ signature: sent, ...latest }, commitment);

  assert.equal((await account.value).lamports, LAMPORTS_PER_SOL);
  const changed = await program.value;
  assert.equal(changed.accountId.toBase58(), target.toBase58());
  const seen = await logs.value;
  assert.equal(seen.signature, sent);
  assert.ok(seen.logs.some((l) => l.includes("cmkt drop-in")), `the memo is in the logs: ${seen.logs.join(" | ")}`);
  assert.equal((await signature.value).err, null);

  // and the transaction is in the history, as getSignaturesForAddress and getTransaction see it
  const got = await transaction(c, sent);
  assert.ok(got?.meta?.logMessages?.some((l) => l.includes("cmkt drop-in")));
  const history = await c.getSignaturesForAddress(target);
  assert.ok(history.some((h) => h.signature === sent));
  // sendAndConfirmTransaction, the helper most scripts use, works too
  await sendAndConfirmTransaction(c, new Transaction().add(SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: target, lamports: 1 })), [payer]);
  assert.equal(await c.getBalance(target), LAMPORTS_PER_SOL + 1);
});

const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/** Base58, as signatures and addresses are written. */
function bs58encode(bytes: Uint8Array): string {
  let n = BigInt("0x" + Buffer.from(bytes).toString("hex"));
  let out = "";
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = "1" + out;
  }
  return out;
}
