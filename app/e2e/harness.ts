/**
 * What the browser tests run against, all real: `cmkt localnet` (validator, blob store, market),
 * a provider registered with `cmkt` and its `compute-worker` (`cmkt worker run`), the built app
 * served by `vite preview`, and Debian's Chromium driven by playwright-core.
 */
import { build as esbuild } from "esbuild";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { preview, type PreviewServer } from "vite";

export const APP = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const ROOT = resolve(APP, "..");
export const ARTIFACTS = join(APP, "e2e", "artifacts");

/** The `cmkt` the Rust build made: `$CMKT_BIN`, else `$CARGO_TARGET_DIR/debug/cmkt`, else `target/debug/cmkt`. */
export function cmktBin(): string {
  const candidates = [
    process.env.CMKT_BIN,
    process.env.CARGO_TARGET_DIR && join(process.env.CARGO_TARGET_DIR, "debug", "cmkt"),
    join(ROOT, "target", "debug", "cmkt"),
  ].filter((x): x is string => !!x);
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`no cmkt binary in ${candidates.join(", ")}: run cargo build -p cmkt first`);
  return found;
}

/** The Chromium to drive: `$CHROMIUM`, else Debian's. */
export function chromiumPath(): string {
  const p = process.env.CHROMIUM ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);
  if (!p || !existsSync(p)) throw new Error("no Chromium: apt-get install chromium (or set CHROMIUM)");
  return p;
}

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

/**
 * A port `p` with `p` and `p + 1` free: `cmkt localnet` binds its websocket to the RPC port plus
 * one (as `freePortPair` in localnet/src/ports.rs).
 */
export async function freePortPair(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const p = await freePort();
    if (p < 65535 && (await canListen(p + 1))) return p;
  }
  throw new Error("no two adjacent free ports on 127.0.0.1");
}

function canListen(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = createServer();
    s.once("error", () => ok(false));
    s.listen(port, "127.0.0.1", () => s.close(() => ok(true)));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LocalnetInfo {
  rpc_url: string;
  ws_url: string;
  blob_url: string;
  program_id: string;
  market: string;
  mint: string;
  authority_keypair: string;
  wallets: [string, string][];
  /** Every port the chain listens on. */
  ports: {
    rpc: number;
    websocket: number;
    faucet: number;
    gossip: number;
    tpu: number;
    tpu_forwards: number;
    tpu_vote: number;
    tvu: number;
    repair: number;
    dynamic_range: [number, number];
    blob_store?: number;
  };
}

export class Localnet {
  private children: ChildProcess[] = [];
  info!: LocalnetInfo;
  readonly bin = cmktBin();

  private constructor(readonly dir: string) {}

  get keys() {
    return join(this.dir, "keys");
  }

  wallet(name: string) {
    return join(this.keys, `${name}.json`);
  }

  secretKey(name: string): number[] {
    return JSON.parse(readFileSync(this.wallet(name), "utf8"));
  }

  /** Starts `cmkt localnet` on free ports (plus `extra` arguments) and waits for its `localnet.json`. */
  static async start(name: string, extra: string[] = []): Promise<Localnet> {
    const net = new Localnet(mkdtempSync(join(tmpdir(), `cmkt-${name}-`)));
    const [rpc, blob] = [await freePortPair(), await freePort()];
    const log = join(net.dir, "localnet.log");
    const child = net.spawn(
      ["localnet", "--ledger", join(net.dir, "ledger"), "--rpc-port", String(rpc), "--blob-port", String(blob), ...extra],
      log,
    );
    // off the default RPC port, `cmkt localnet` names the file after its port
    const info = join(net.keys, rpc === 8899 ? "localnet.json" : `localnet-${rpc}.json`);
    const t = Date.now();
    while (!existsSync(info)) {
      if (child.exitCode !== null) throw new Error(`cmkt localnet exited (${child.exitCode}); see ${log}`);
      if (Date.now() - t > 180_000) {
        await net.stop();
        throw new Error(`cmkt localnet did not come up in 180 s; see ${log}`);
      }
      await sleep(200);
    }
    await sleep(300);
    net.info = JSON.parse(readFileSync(info, "utf8"));
    return net;
  }

  private spawn(args: string[], log: string, env: Record<string, string> = {}): ChildProcess {
    const out = openLog(log);
    const child = spawn(this.bin, ["--localnet-dir", this.keys, ...args], {
      env: { ...process.env, RUST_LOG: "warn", ...env },
      stdio: ["ignore", out, out],
    });
    this.children.push(child);
    return child;
  }

  /** Runs `cmkt` as wallet `who` against this chain; throws with its stderr on failure. */
  cmkt(who: string, args: string[]): string {
    const r = spawnSync(
      this.bin,
      ["--url", this.info.rpc_url, "--config", "/nonexistent", "--keypair", this.wallet(who), "--localnet-dir", this.keys, ...args],
      { encoding: "utf8", env: { ...process.env, RUST_LOG: "off" } },
    );
    if (r.status !== 0) throw new Error(`cmkt ${args.join(" ")} failed: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** Registers and stakes `who` as a provider and starts its worker; resolves once it is healthy. */
  async worker(who: string, extraToml = ""): Promise<string> {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    this.cmkt(who, ["--market", this.info.market, "provider", "register", endpoint]);
    this.cmkt(who, ["--market", this.info.market, "provider", "stake", "1000"]);
    const config = join(this.dir, `${who}.toml`);
    writeFileSync(
      config,
      [
        `rpc_url = ${JSON.stringify(this.info.rpc_url)}`,
        `ws_url = ${JSON.stringify(this.info.ws_url)}`,
        `keypair = ${JSON.stringify(this.wallet(who))}`,
        `market = ${JSON.stringify(this.info.market)}`,
        `data_dir = ${JSON.stringify(join(this.dir, who))}`,
        `[server]`,
        `listen = "127.0.0.1:${port}"`,
        extraToml,
      ].join("\n"),
    );
    const child = this.spawn(["worker", "run"], join(this.dir, `${who}.log`), {
      COMPUTE_WORKER_CONFIG: config,
      COMPUTE_WORKER_SOLANA_CONFIG: "/nonexistent",
      RUST_LOG: "warn,compute_worker=info",
    });
    const t = Date.now();
    for (;;) {
      if (child.exitCode !== null) throw new Error(`worker ${who} exited (${child.exitCode})`);
      try {
        const r = await fetch(`${endpoint}/healthz`);
        if (r.ok) return endpoint;
      } catch {
        /* not up yet */
      }
      if (Date.now() - t > 120_000) throw new Error(`worker ${who} not healthy in 120 s`);
      await sleep(300);
    }
  }

  /**
   * Starts a chain for each of `specs` (name, extra arguments) at once; if any fails, stops the
   * ones that started (a chain left running would keep the test runner alive) and throws.
   */
  static async startAll(specs: [string, string[]][]): Promise<Localnet[]> {
    const started = await Promise.allSettled(specs.map(([name, extra]) => Localnet.start(name, extra)));
    const failed = started.find((s) => s.status === "rejected");
    if (failed) {
      await Promise.all(started.map((s) => (s.status === "fulfilled" ? s.value.stop() : undefined)));
      throw (failed as PromiseRejectedResult).reason;
    }
    return started.map((s) => (s as PromiseFulfilledResult<Localnet>).value);
  }

  async stop() {
    for (const c of this.children.reverse()) {
      if (c.exitCode !== null) continue;
      c.kill("SIGTERM");
      const t = Date.now();
      while (c.exitCode === null && Date.now() - t < 15_000) await sleep(100);
      if (c.exitCode === null) c.kill("SIGKILL");
    }
    if (!process.env.CMKT_KEEP_E2E) rmSync(this.dir, { recursive: true, force: true });
  }
}

const openLog = (path: string): number => openSync(path, "a");

/** The test wallet, bundled for injection into pages. */
export async function testWalletScript(): Promise<string> {
  const r = await esbuild({
    entryPoints: [join(APP, "e2e", "test-wallet.ts")],
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    target: "es2022",
    define: { global: "globalThis" },
    inject: [join(APP, "e2e", "buffer-shim.ts")],
    logLevel: "silent",
  });
  return r.outputFiles[0].text;
}

/** Serves the built app (`npm run build` makes `dist/`) on a free port. */
export async function serveApp(): Promise<{ url: string; server: PreviewServer }> {
  const built = join(APP, "dist", "index.html");
  if (!existsSync(built)) throw new Error("app/dist is missing: run npm run build");
  // the tests must not pass or fail on an old build
  const newest = Math.max(...readdirSync(join(APP, "src"), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => statSync(join(e.parentPath, e.name)).mtimeMs));
  if (newest > statSync(built).mtimeMs) throw new Error("app/dist is older than app/src: run npm run build (npm test does)");
  const port = await freePort();
  const server = await preview({ root: APP, logLevel: "warn", preview: { port, strictPort: true, host: "127.0.0.1" } });
  return { url: `http://127.0.0.1:${port}/`, server };
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // no background traffic: the machine's network is closed, and the tests need none of it
    args: [
      "--no-sandbox",
      "--disable-dev-shm-usage",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A browser context with the test wallet installed for `secretKey`, downloads allowed. */
export async function walletContext(browser: Browser, secretKey: number[] | null, script: string): Promise<BrowserContext> {
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 1000 } });
  if (secretKey) {
    await ctx.addInitScript({ content: `window.__CMKT_TEST_WALLET__ = ${JSON.stringify({ secretKey })};` });
    await ctx.addInitScript({ content: script });
  }
  return ctx;
}

/** Keeps a full-page screenshot as a test artifact (app/e2e/artifacts/NAME.png). */
export async function screenshot(page: Page, name: string) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Collects the page's console errors and uncaught exceptions, so a broken page fails the test. */
export function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  return errors;
}
