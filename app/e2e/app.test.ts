/**
 * The web app in a real browser against a real local chain and worker: connect the Wallet
 * Standard test wallet, post a job, watch it settle live, download and verify the result (and see
 * a tampered download refused), see why an underpriced job is not taken and cancel it (which
 * leaves a settlement record), the
 * errors a person meets, and the auditor's page with its exports checked against `cmkt audit`.
 */
import assert from "node:assert/strict";
import { Connection, Keypair, PublicKey } from "@solana/web3.js";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Locator, Page } from "playwright-core";
import type { PreviewServer } from "vite";
import { parseUnits } from "../src/lib/units";
import {
  ROOT,
  launch,
  Localnet,
  screenshot,
  serveApp,
  testWalletScript,
  walletContext,
  watchConsole,
} from "./harness";

let net: Localnet;
let browser: Browser;
let app: { url: string; server: PreviewServer };
let walletJs: string;
let page: Page;
let consoleErrors: string[];
const files = mkdtempSync(join(tmpdir(), "cmkt-e2e-files-"));
const MODULE = join(ROOT, "examples", "jobs", "wasm", "word-freq.wasm");
const INPUT = join(files, "input.txt");
/** The worker claims nothing below 1 token, so a 0.5-token job stays unclaimed and can be cancelled. */
const MIN_REWARD_UNITS = 1_000_000;

const requester = () => Keypair.fromSecretKey(Uint8Array.from(net.secretKey("requester"))).publicKey;

/** The wallet's balance of the market's mint, in base units, read over JSON-RPC. */
async function tokens(owner: PublicKey): Promise<bigint> {
  const c = new Connection(net.info.rpc_url, "confirmed");
  const r = await c.getParsedTokenAccountsByOwner(owner, { mint: new PublicKey(net.info.mint) });
  return r.value.reduce((a, x) => a + BigInt(x.account.data.parsed.info.tokenAmount.amount), 0n);
}

const lamports = async (k: PublicKey) => BigInt(await new Connection(net.info.rpc_url, "confirmed").getBalance(k));

async function waitText(l: Locator, re: RegExp, timeoutMs = 30_000): Promise<string> {
  const t = Date.now();
  let last = "";
  for (;;) {
    if ((await l.count()) > 0) {
      last = (await l.first().textContent()) ?? "";
      if (re.test(last)) return last;
    }
    if (Date.now() - t > timeoutMs) throw new Error(`waited ${timeoutMs} ms for ${re}; last text: ${last.slice(0, 400)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const appUrl = (hash: string, rpc = net.info.rpc_url, blob = net.info.blob_url) =>
  `${app.url}?rpc=${encodeURIComponent(rpc)}&blob=${encodeURIComponent(blob)}#/${hash}`;

/** `ramp`: a rising offer's starting reward and ramp length (s); none is a fixed reward. */
async function fillJob(p: Page, reward: string, replicas = 1, quorum = 1, ramp?: { min: string; seconds: number }) {
  await p.getByLabel("module").setInputFiles(MODULE);
  await p.getByLabel("input", { exact: true }).setInputFiles(INPUT);
  await p.getByLabel("args").fill("5");
  await p.getByLabel("replicas").fill(String(replicas));
  await p.getByLabel("quorum").fill(String(quorum));
  await p.getByLabel("reward", { exact: true }).fill(reward);
  if (ramp) {
    await p.getByLabel("min reward").fill(ramp.min);
    await p.getByLabel("ramp", { exact: true }).fill(String(ramp.seconds));
  }
  await p.getByRole("button", { name: "Review fees and escrow" }).click();
  await p.getByTestId("review").waitFor();
}

before(async () => {
  writeFileSync(INPUT, "the quick brown fox jumps over the lazy dog the fox the end\n".repeat(50));
  net = await Localnet.start("app");
  await net.worker("provider-1", `[policy]\nmin_reward = ${MIN_REWARD_UNITS}\n`);
  app = await serveApp();
  walletJs = await testWalletScript();
  browser = await launch();
  const ctx = await walletContext(browser, net.secretKey("requester"), walletJs);
  page = await ctx.newPage();
  consoleErrors = watchConsole(page);
});

after(async () => {
  await browser?.close();
  await app?.server.close();
  await net?.stop();
  if (!process.env.CMKT_KEEP_E2E) rmSync(files, { recursive: true, force: true });
});

test("an unreachable RPC endpoint is explained, not a blank page", async () => {
  const p = await browser.newPage();
  await p.goto(appUrl("post", "http://127.0.0.1:9"));
  const msg = await waitText(p.getByTestId("cluster-error"), /Cannot reach the RPC endpoint http:\/\/127\.0\.0\.1:9/);
  assert.match(msg, /Is the validator running/);
  await screenshot(p, "error-rpc-unreachable");
  await p.close();
});

test("connects the Wallet Standard test wallet and shows the market", async () => {
  await page.goto(appUrl("post"));
  await waitText(page.getByTestId("health"), /connected/);
  const market = await page.getByLabel("market", { exact: true }).inputValue();
  assert.equal(market, net.info.market);
  await page.getByRole("button", { name: "Connect Test Wallet" }).click();
  await page.getByTestId("wallet-address").waitFor();
  assert.equal(await page.getByTestId("wallet-address").getAttribute("title"), requester().toBase58());
});

test("the review shows escrow, fee, terms and rent, and refuses an escrow the wallet cannot pay", async () => {
  await page.goto(appUrl("post"));
  await fillJob(page, "2000000", 2, 2);
  const review = await page.getByTestId("review").textContent();
  assert.match(review ?? "", /Escrow \(maximum reward × n\)4000000 tokens/);
  assert.match(review ?? "", /Insufficient funds: the escrow is 4000000 tokens and your wallet holds \d+/);
  // the terms the post will carry the hash of, as read for this review
  assert.match(review ?? "", /Market terms you accept[0-9a-f]{16}…/);
  assert.doesNotMatch(review ?? "", /strict majority/);
  assert.equal(await page.getByRole("button", { name: "Sign and post" }).isDisabled(), true);
  await screenshot(page, "post-insufficient-funds");
});

test("the review refuses a quorum that is not a strict majority of the replicas, and says why", async () => {
  await page.goto(appUrl("post"));
  await fillJob(page, "2", 2, 1);
  const review = (await page.getByTestId("review").textContent()) ?? "";
  assert.match(review, /must be a strict majority of the replicas n[\s\S]*For n = 2, k must be 2\./);
  assert.equal(await page.getByRole("button", { name: "Sign and post" }).isDisabled(), true);
});

test("the review refuses a module every provider's worker would skip, and says why", async () => {
  // what a wasm32-unknown-unknown build looks like: it imports env.abort, which no worker provides
  const foreign = join(files, "foreign.wasm");
  writeFileSync(foreign, Buffer.from("0061736d01000000010401600000020d0103656e760561626f7274000003020100070a01065f737461727400010a040102000b", "hex"));
  await page.goto(appUrl("post"));
  await fillJob(page, "2");
  await page.getByLabel("module").setInputFiles(foreign);
  await page.getByRole("button", { name: "Review fees and escrow" }).click();
  const review = await waitText(page.getByTestId("review"), /imports env\.abort/);
  assert.match(review, /a job may import only WASI preview 1 functions \(wasi_snapshot_preview1\) and cmkt\.sha256/);
  assert.equal(await page.getByRole("button", { name: "Sign and post" }).isDisabled(), true);
  await screenshot(page, "post-foreign-module");
});

let jobAddress = "";

test("a declined signature sends nothing; a signed rising offer is posted, claimed at the worker's floor, settles live and its result verifies", async () => {
  await page.goto(appUrl("post"));
  // from 0.5 to 2 tokens over 12 s: the worker (floor 1 token) claims once the price reaches 1
  await fillJob(page, "2", 1, 1, { min: "0.5", seconds: 12 });
  const review = (await page.getByTestId("review").textContent()) ?? "";
  assert.match(review, /Escrow \(maximum reward × n\)2 tokens/);
  assert.match(review, /rises from 0\.5 tokens at 0 s after posting to 2 tokens at 12 s/);
  // the deposit is sized for the most expired claims; the record keeps only its own rent
  const recordRent = /Settlement record rent[^)]*\)([\d.]+) SOL/.exec(review);
  assert.ok(recordRent, review);
  const lamportsBefore = await lamports(requester());
  await screenshot(page, "post-review");

  await page.evaluate(() => (window.__CMKT_TEST_WALLET__!.reject = true));
  await page.getByRole("button", { name: "Sign and post" }).click();
  await waitText(page.getByTestId("post-error"), /You declined the request in your wallet: nothing was sent/);
  const open = JSON.parse(net.cmkt("requester", ["--output", "json", "--market", net.info.market, "job", "list"]));
  assert.equal(open.length, 0, "nothing was posted after the wallet declined");

  await page.evaluate(() => (window.__CMKT_TEST_WALLET__!.reject = false));
  await page.getByRole("button", { name: "Sign and post" }).click();
  await page.waitForURL(/#\/job\//, { timeout: 60_000 });
  jobAddress = (await page.getByTestId("job-address").textContent()) ?? "";
  assert.match(jobAddress, /^[1-9A-HJ-NP-Za-km-z]{32,44}$/);
  // the live page draws the offer's price curve
  await waitText(page.getByTestId("price-curve").first(), /price rises from 0\.5 to 2 over 12 s/);
  // the page follows the job by subscription until its settlement appears
  await waitText(page.getByTestId("outcome"), /^verified$/, 120_000);
  // the worker waited for its floor: the locked price is at least 1 token and at most 2
  const settled = JSON.parse(net.cmkt("requester", ["--output", "json", "job", "status", jobAddress]));
  const price = BigInt(settled.verdicts[0].price);
  assert.ok(price >= BigInt(MIN_REWARD_UNITS) && price <= 2_000_000n, `locked price ${price}`);
  assert.equal(BigInt(settled.refund), 2_000_000n - price, "what the locked price did not use came back");
  assert.ok((await page.getByTestId("claim-mark").count()) >= 1, "the claim is drawn on the curve");
  // and its commit and reveal, from the job's events
  await waitText(page.getByTestId("history"), /ResultRevealed/, 30_000);
  for (const kind of ["commit-mark", "reveal-mark"]) {
    for (let t = Date.now(); (await page.getByTestId(kind).count()) === 0; ) {
      if (Date.now() - t > 30_000) throw new Error(`no ${kind} on the price curve`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  // its history, read from the events in its transactions' logs
  const history = await waitText(page.getByTestId("history"), /JobFinalized/, 30_000);
  for (const name of ["JobPosted", "JobClaimed", "ResultCommitted", "ResultRevealed", "JobFinalized"]) {
    assert.match(history, new RegExp(name), history);
  }
  await screenshot(page, "job-settled");
  // what the review said it costs in SOL is what it cost: the job's rent and the unused deposit
  // came back, the record's rent was kept (no claim expired), and one signature fee
  const spent = lamportsBefore - (await lamports(requester()));
  assert.equal(spent, parseUnits(recordRent[1], 9) + 5000n);

  await page.getByRole("button", { name: "Download and verify the result" }).click();
  const ok = await waitText(page.getByTestId("verified"), /Verified: \d+ bytes/, 30_000);
  assert.match(ok, /exited with code 0/);
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("save-result").click()]);
  const saved = readFileSync((await download.path())!);
  // the same bytes as the Rust client fetches and verifies
  const out = join(files, "cmkt-result.bin");
  net.cmkt("requester", ["job", "result", jobAddress, "--out", out]);
  assert.deepEqual(saved, readFileSync(out));
  assert.match(saved.toString("utf8"), /the\s+\d+/, "word-freq counted words");
  await screenshot(page, "job-verified");
});

test("a provider serving tampered bytes is shown as not verified", async () => {
  await page.goto(appUrl(`job/${jobAddress}`));
  await waitText(page.getByTestId("outcome"), /verified/);
  // flip one byte of the output on its way from the provider to the browser
  await page.route(/\/results\/[0-9a-f]{64}$/, async (route) => {
    const r = await route.fetch();
    const body = Buffer.from(await r.body());
    body[0] ^= 1;
    await route.fulfill({ response: r, body });
  });
  await page.getByRole("button", { name: "Download and verify the result" }).click();
  const bad = await waitText(page.getByTestId("not-verified"), /Not verified/);
  assert.match(bad, /the output bytes do not match the settled root/);
  await screenshot(page, "job-not-verified");
  await page.unrouteAll();
});

test("my jobs lists the settled job, and an unclaimed job can be cancelled for a refund and a record", async () => {
  await page.goto(appUrl("post"));
  await fillJob(page, "0.5");
  const before = await tokens(requester());
  await page.getByRole("button", { name: "Sign and post" }).click();
  await page.waitForURL(/#\/job\//, { timeout: 60_000 });
  const cancelled = (await page.getByTestId("job-address").textContent()) ?? "";
  // why nobody takes it: the one provider's worker published a floor of 1 token, above the 0.5
  // the job pays; the page names the price that would bring it and how to raise the maximum
  await waitText(page.getByTestId("why-table"), /its floor 1 is above the most the job pays, 0\.5/, 30_000);
  await waitText(page.getByTestId("why-groups"), /1 provider\(s\): price: 1/);
  await waitText(page.getByTestId("why-suggestion"), /at 1 per replica: raise the maximum with cmkt job extend \w+ --max-reward 1$/);
  // and whose turn it is: the seed (forecast from SlotHashes until a claim fixes it) and the
  // slot from which the provider may claim, recomputed in the browser
  await waitText(page.getByTestId("seed"), /^[0-9a-f]{64}$/);
  await waitText(page.getByTestId("turns"), /eligible now|in \d+ slots/);
  await screenshot(page, "job-why");
  await page.goto(appUrl("jobs"));
  await page.getByTestId("live").waitFor();
  await waitText(page.getByTestId("settled-jobs"), new RegExp(jobAddress.slice(0, 4)));
  await waitText(page.getByTestId("open-jobs"), /free/);
  await screenshot(page, "my-jobs");
  await page.getByRole("button", { name: "Cancel and refund" }).click();
  await waitText(page.getByTestId("open-jobs"), /^(?![\s\S]*free)/, 30_000);
  const open = JSON.parse(net.cmkt("requester", ["--output", "json", "--market", net.info.market, "job", "list"]));
  assert.equal(open.length, 0, "the cancelled job is closed on-chain");
  assert.equal(await tokens(requester()), before, "the escrow came back");
  // the cancellation left a settlement record, listed with the settled jobs and on the job's page
  await waitText(page.getByTestId("settled-jobs"), new RegExp(`${cancelled.slice(0, 4)}[\\s\\S]*cancelled \\(refunded\\)`));
  await page.goto(appUrl(`job/${cancelled}`));
  await waitText(page.getByTestId("outcome"), /^cancelled \(refunded\)$/);
  await waitText(page.getByTestId("history"), /JobCancelled/);
  await screenshot(page, "job-cancelled");
});

test("the auditor page: conservation, totals, filters and exports agree with cmkt audit", async () => {
  const p = await browser.newPage({ acceptDownloads: true, viewport: { width: 1400, height: 1000 } });
  const errors = watchConsole(p);
  await p.goto(appUrl("audit"));
  await waitText(p.getByTestId("conservation"), /Conservation holds/, 30_000);
  const cli = JSON.parse(net.cmkt("requester", ["--market", net.info.market, "audit", "--format", "json"]));
  assert.deepEqual(cli.violations, []);
  await p.getByLabel("filter market").selectOption(net.info.market);
  const count = Number(await p.getByTestId("total-count").textContent());
  assert.equal(count, cli.settlements);
  assert.ok(count >= 1);
  // the charts draw what the totals hold: the paid series ends at the total paid
  const paid = (await p.getByTestId("total-paid").textContent()) ?? "";
  assert.match((await p.getByTestId("chart-paid").textContent()) ?? "", new RegExp(`paid: ${paid.replace(/[.]/g, "\\.")}`));
  assert.ok((await p.getByTestId("provider-bars").locator("tbody tr").count()) >= 1);
  await screenshot(p, "audit");

  const [json] = await Promise.all([p.waitForEvent("download"), p.getByRole("button", { name: "Export JSON" }).click()]);
  const records = JSON.parse(readFileSync((await json.path())!, "utf8")) as { total_paid: string; fee: string; job: string }[];
  assert.equal(records.length, cli.settlements);
  assert.equal(records.reduce((a, r) => a + BigInt(r.total_paid), 0n), BigInt(cli.total_paid));
  assert.equal(records.reduce((a, r) => a + BigInt(r.fee), 0n), BigInt(cli.total_fees));
  assert.ok(records.some((r) => r.job === jobAddress));

  const [csv] = await Promise.all([p.waitForEvent("download"), p.getByRole("button", { name: "Export CSV" }).click()]);
  const lines = readFileSync((await csv.path())!, "utf8").trim().split("\n");
  assert.match(lines[0], /^settlement,market,job,requester,/);
  assert.equal(lines.length, 1 + cli.settlements);
  assert.ok(lines.some((l) => l.includes(jobAddress)));

  // the report export is `cmkt audit`'s report: the same fields and figures (amounts are exact
  // strings in the export, numbers in cmkt's JSON, so both are compared as strings)
  const [report] = await Promise.all([p.waitForEvent("download"), p.getByRole("button", { name: "Export report" }).click()]);
  const reports = JSON.parse(readFileSync((await report.path())!, "utf8")) as { market: string }[];
  assert.equal(reports.length, 1, "one report per market shown");
  const strings = (v: unknown) => JSON.parse(JSON.stringify(v, (_, x) => (typeof x === "number" ? String(x) : x)));
  assert.deepEqual(strings(reports[0]), strings(cli));

  // filters: no settlement has the outcome "no quorum", the cancelled job has its own; an unknown
  // requester matches nothing
  await p.getByLabel("filter outcome").selectOption("noQuorum");
  assert.equal(Number(await p.getByTestId("total-count").textContent()), cli.no_quorum);
  await p.getByLabel("filter outcome").selectOption("cancelled");
  assert.equal(Number(await p.getByTestId("total-count").textContent()), cli.cancelled);
  assert.ok(cli.cancelled >= 1, "the cancelled job's record is audited");
  await p.getByLabel("filter outcome").selectOption("");
  await p.getByLabel("filter requester").fill("11111111111111111111111111111111");
  assert.equal(Number(await p.getByTestId("total-count").textContent()), 0);
  assert.deepEqual(errors, []);
  await p.close();
});

test("the pages logged no errors", () => {
  // failed requests the tests provoked on purpose are not page errors
  assert.deepEqual(consoleErrors.filter((e) => !/Failed to load resource/.test(e)), []);
});
