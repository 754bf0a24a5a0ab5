import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { moduleProblems, moduleShape, shapeProblems } from "../src/lib/module";
import { RUNTIME_WASI_P1V2, RUNTIME_WASI_P1V3 } from "../src/lib/manifest";

const utf8 = (s: string) => [...new TextEncoder().encode(s)];
const leb = (n: number): number[] => (n < 0x80 ? [n] : [(n & 0x7f) | 0x80, ...leb(n >>> 7)]);
const vec = (items: number[][]) => [...leb(items.length), ...items.flat()];
const name = (s: string) => [...leb(utf8(s).length), ...utf8(s)];
const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];

interface Parts {
  /** Function types as [params, results] of i32s. */
  types?: [number, number][];
  imports?: number[][];
  /** The defined functions' type indices (each gets an empty body). */
  functions?: number[];
  /** Memory limits' flag bytes (0: min only; 4: 64-bit). */
  memories?: number[];
  exports?: [string, number, number][];
  start?: number;
  version?: number[];
}

/** A module of `parts`, encoded by hand as the binary format has it. */
function module(p: Parts): Uint8Array {
  const i32s = (n: number) => vec(Array.from({ length: n }, () => [0x7f]));
  const types = (p.types ?? [[0, 0]]).map(([a, b]) => [0x60, ...i32s(a), ...i32s(b)]);
  const functions = p.functions ?? [0];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, ...(p.version ?? [1, 0, 0, 0])],
    ...section(1, vec(types)),
    ...(p.imports ? section(2, vec(p.imports)) : []),
    ...section(3, vec(functions.map((t) => leb(t)))),
    ...section(5, vec((p.memories ?? [0]).map((flags) => [flags, 1]))),
    ...section(7, vec((p.exports ?? [["_start", 0, 0]]).map(([n, kind, index]) => [...name(n), kind, ...leb(index)]))),
    ...(p.start !== undefined ? section(8, leb(p.start)) : []),
    ...section(10, vec(functions.map(() => [2, 0x00, 0x0b]))),
  ];
  return new Uint8Array(bytes);
}

const funcImport = (m: string, n: string, type = 0) => [...name(m), ...name(n), 0x00, ...leb(type)];
const memoryImport = (m: string, n: string) => [...name(m), ...name(n), 0x02, 0x00, 1];
const v3 = (bytes: Uint8Array) => moduleProblems(bytes, RUNTIME_WASI_P1V3);

describe("module check", () => {
  it("passes every sample job, as built", () => {
    const dir = new URL("../../examples/jobs/wasm/", import.meta.url);
    const samples = readdirSync(dir).filter((f) => f.endsWith(".wasm"));
    expect(samples.length).toBeGreaterThanOrEqual(6);
    for (const f of samples) {
      const bytes = new Uint8Array(readFileSync(new URL(f, dir)));
      expect(v3(bytes), f).toEqual([]);
      // they import WASI, and hash-chain-host the runtime's sha256
      const shape = moduleShape(bytes);
      expect(shape.imports.length, f).toBeGreaterThan(0);
      expect(shape.imports.some((i) => i.module === "cmkt"), f).toBe(f === "hash-chain-host.wasm");
    }
  });

  it("passes a minimal job and one importing WASI", () => {
    expect(v3(module({}))).toEqual([]);
    const imports = [funcImport("wasi_snapshot_preview1", "fd_write", 1)];
    const m = module({ types: [[0, 0], [4, 1]], imports, exports: [["_start", 0, 1], ["memory", 2, 0]] });
    expect(v3(m)).toEqual([]);
    expect(moduleShape(m).functionTypes).toEqual([[["i32", "i32", "i32", "i32"], ["i32"]], [[], []]]);
  });

  it("refuses WASI functions the runtime does not define, or with another type", () => {
    const imports = [funcImport("wasi_snapshot_preview1", "sock_open", 1), funcImport("wasi_snapshot_preview1", "fd_write")];
    const m = module({ types: [[0, 0], [4, 1]], imports, exports: [["_start", 0, 2]] });
    expect(v3(m)).toEqual([
      "The module imports wasi_snapshot_preview1.sock_open, which WASI preview 1 does not define (an extension of another runtime?).",
      "The module imports wasi_snapshot_preview1.fd_write as () -> (); the runtime's is (i32, i32, i32, i32) -> (i32).",
    ]);
    const sha = module({ types: [[0, 0], [3, 1]], imports: [funcImport("cmkt", "sha256", 1)], exports: [["_start", 0, 1]] });
    expect(v3(sha)).toEqual(["The module imports cmkt.sha256 as (i32, i32, i32) -> (i32); the runtime's is (i32, i32, i32) -> ()."]);
  });

  it("says what a file that is no job module is", () => {
    expect(v3(new TextEncoder().encode("the quick brown fox"))).toEqual([expect.stringMatching(/not a WebAssembly file/)]);
    expect(v3(module({ version: [0x0d, 0x00, 0x01, 0x00] }))).toEqual([expect.stringMatching(/component \(a wasip2 build\)/)]);
    expect(v3(module({}).subarray(0, 20))).toEqual([expect.stringMatching(/not valid WebAssembly/)]);
  });

  it("refuses imports other than WASI preview 1, and cmkt.sha256 outside wasi-p1v3", () => {
    const imports = [
      funcImport("env", "abort"),
      funcImport("__wbindgen_placeholder__", "__wbg_log"),
      funcImport("wasi_snapshot_preview1", "fd_write", 1),
      memoryImport("env", "memory"),
      funcImport("env", "now"),
    ];
    const m = module({ types: [[0, 0], [4, 1]], imports, memories: [], exports: [["_start", 0, 4]] });
    expect(v3(m)).toEqual([
      "The module imports env.abort (func), __wbindgen_placeholder__.__wbg_log (func), env.memory (memory) and 1 more: " +
        "a job may import only WASI preview 1 functions (wasi_snapshot_preview1) and cmkt.sha256. " +
        "Was it built for wasm32-unknown-unknown, or with JavaScript bindings?",
    ]);
    // WASI's name, but not a function
    const wasiMemory = module({ imports: [memoryImport("wasi_snapshot_preview1", "memory")], memories: [] });
    expect(v3(wasiMemory)).toEqual([expect.stringMatching(/^The module imports wasi_snapshot_preview1\.memory \(memory\): /)]);
    const sha = module({ types: [[0, 0], [3, 0]], imports: [funcImport("cmkt", "sha256", 1)], exports: [["_start", 0, 1]] });
    expect(v3(sha)).toEqual([]);
    expect(moduleProblems(sha, RUNTIME_WASI_P1V2)).toEqual([expect.stringMatching(/imports cmkt\.sha256 \(func\)/)]);
    const poll = module({
      types: [[0, 0], [4, 1]],
      imports: [funcImport("wasi_snapshot_preview1", "poll_oneoff", 1)],
      exports: [["_start", 0, 1]],
    });
    expect(v3(poll)).toEqual([]);
    expect(moduleProblems(poll, RUNTIME_WASI_P1V2)).toEqual([expect.stringMatching(/poll_oneoff.*post it under wasi-p1v3/)]);
  });

  it("refuses a module without a _start of type () -> ()", () => {
    expect(v3(module({ exports: [["main", 0, 0]] }))).toEqual([expect.stringMatching(/exports no _start function/)]);
    // a memory named _start
    expect(v3(module({ exports: [["_start", 2, 0]] }))).toEqual([expect.stringMatching(/exports no _start function/)]);
    expect(v3(module({ types: [[1, 0]] }))).toEqual(["The module's _start must take no arguments and return nothing."]);
  });

  it("refuses what runtime wasi-p1v3 does not run", () => {
    const started = module({ functions: [0, 0], exports: [["_start", 0, 0]], start: 1 });
    expect(v3(started)).toEqual(["Runtime wasi-p1v3 does not run a module with a start function (a job starts at _start)."]);
    expect(moduleProblems(started, RUNTIME_WASI_P1V2)).toEqual([]);
    const reserved = module({ exports: [["_start", 0, 0], ["cmkt:fuel", 0, 0]] });
    expect(v3(reserved)).toEqual([expect.stringMatching(/export named cmkt:fuel, which the runtime reserves/)]);
    // read from the sections (this Node's validator refuses both proposals; browsers may not)
    const two = moduleShape(module({ memories: [0, 0] }));
    expect(two.memories).toEqual([{ memory64: false }, { memory64: false }]);
    expect(shapeProblems(two, RUNTIME_WASI_P1V3)).toEqual(["Runtime wasi-p1v3 does not run a module with more than one memory."]);
    const wide = moduleShape(module({ memories: [4] }));
    expect(wide.memories).toEqual([{ memory64: true }]);
    expect(shapeProblems(wide, RUNTIME_WASI_P1V3)).toEqual(["Runtime wasi-p1v3 does not run a module with a 64-bit memory."]);
    expect(shapeProblems(wide, RUNTIME_WASI_P1V2)).toEqual([]);
    expect(moduleShape(module({ imports: [memoryImport("env", "m")], memories: [0] })).memories).toHaveLength(2);
  });
});
