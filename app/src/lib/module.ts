/**
 * The checks of a job's module that the browser can make before a post, so that a requester
 * does not escrow a reward for a module every provider's worker would skip. `cmkt job post`
 * compiles the module the way a worker does (`compute_sandbox::Executor::compile_for`); a
 * browser cannot, so this reads the module's sections and checks what a wrong build gets wrong:
 * not wasm at all, a component instead of a core module, imports other than WASI preview 1 (a
 * `wasm32-unknown-unknown` build, JavaScript bindings), WASI functions the runtime does not
 * define or with another type (`wasi-p1.json`, which `sandbox/tests/wasi_table.rs` writes from
 * what the sandbox links and checks is current), no `_start` of type () -> () (a library), and
 * what runtime `wasi-p1v3` refuses (a start function, a 64-bit or a second memory, the names
 * the runtime reserves). What it leaves to the worker: `wasi-p1v3`'s native frame check, and
 * proposals the browser's validator accepts but the workers' wasmtime does not enable.
 */
import { RUNTIME_WASI_P1V3 } from "./manifest";
import linked from "./wasi-p1.json";

const WASI = "wasi_snapshot_preview1";
/** The exports the metering of `wasi-p1v3` adds (`compute_sandbox::meter`). */
const RESERVED_EXPORTS = ["cmkt:fuel", "cmkt:interrupt"];

/** A function type: its parameters' and results' value types (`i32`, `f64`, ...). */
export type Signature = [string[], string[]];

export interface Import {
  module: string;
  name: string;
  kind: "func" | "table" | "memory" | "global" | "tag";
  /** A function's type, if the type section could be read. */
  signature?: Signature;
}

/** What each module the runtimes link defines: name -> type. */
const LINKED = linked as unknown as Record<string, Record<string, Signature>>;
const VALUE_TYPES: Record<number, string> = { 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128", 0x70: "funcref", 0x6f: "externref" };

/** What the checks read of a module's sections. */
export interface ModuleShape {
  imports: Import[];
  /** Every function's type (imported ones first); null if the type section uses encodings this
   * reader does not follow (the GC proposal's). */
  functionTypes: Signature[] | null;
  exports: { name: string; kind: number; index: number }[];
  memories: { memory64: boolean }[];
  hasStart: boolean;
}

const UTF8 = new TextDecoder();

class Reader {
  at = 0;
  constructor(private readonly b: Uint8Array, readonly end = b.length) {}
  byte(): number {
    if (this.at >= this.end) throw new Error("the module ends in the middle of a section");
    return this.b[this.at++];
  }
  /** An unsigned LEB128 of up to 32 bits (or a signed one's bytes, skipped). */
  u32(): number {
    let n = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte();
      n += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return n;
    }
    throw new Error("a number in the module is too long");
  }
  name(): string {
    const len = this.u32();
    if (this.at + len > this.end) throw new Error("a name runs past its section");
    const s = UTF8.decode(this.b.subarray(this.at, this.at + len));
    this.at += len;
    return s;
  }
  /** A value or reference type (the typed references' `ref null? ht` included). */
  valType(): string {
    const t = this.byte();
    if (t === 0x63 || t === 0x64) this.u32();
    return VALUE_TYPES[t] ?? "ref";
  }
  /** Limits; returns whether they are 64-bit. */
  limits(): boolean {
    const flags = this.byte();
    this.u32();
    if (flags & 0x01) this.u32();
    return (flags & 0x04) !== 0;
  }
}

/** Reads a core module's sections; throws on what is not one. */
export function moduleShape(bytes: Uint8Array): ModuleShape {
  const shape: ModuleShape = { imports: [], functionTypes: [], exports: [], memories: [], hasStart: false };
  let types: Signature[] | null = [];
  const functions: number[] = [];
  const r = new Reader(bytes);
  r.at = 8;
  while (r.at < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.at + size;
    if (end > bytes.length) throw new Error("a section runs past the end of the module");
    const s = new Reader(bytes, end);
    s.at = r.at;
    const count = () => s.u32();
    switch (id) {
      case 1: // types
        for (let i = count(); i > 0 && types; i--) {
          if (s.byte() !== 0x60) {
            types = null;
            break;
          }
          const list = () => Array.from({ length: s.u32() }, () => s.valType());
          const params = list();
          types.push([params, list()]);
        }
        break;
      case 2: // imports
        for (let i = count(); i > 0; i--) {
          const module = s.name();
          const name = s.name();
          const kind = s.byte();
          if (kind === 0x00) {
            functions.push(s.u32());
            shape.imports.push({ module, name, kind: "func" });
          } else if (kind === 0x01) {
            s.valType();
            s.limits();
            shape.imports.push({ module, name, kind: "table" });
          } else if (kind === 0x02) {
            shape.memories.push({ memory64: s.limits() });
            shape.imports.push({ module, name, kind: "memory" });
          } else if (kind === 0x03) {
            s.valType();
            s.byte();
            shape.imports.push({ module, name, kind: "global" });
          } else if (kind === 0x04) {
            s.byte();
            s.u32();
            shape.imports.push({ module, name, kind: "tag" });
          } else {
            throw new Error(`import ${module}.${name} has an unknown kind ${kind}`);
          }
        }
        break;
      case 3: // functions
        for (let i = count(); i > 0; i--) functions.push(s.u32());
        break;
      case 5: // memories
        for (let i = count(); i > 0; i--) shape.memories.push({ memory64: s.limits() });
        break;
      case 7: // exports
        for (let i = count(); i > 0; i--) {
          const name = s.name();
          const kind = s.byte();
          shape.exports.push({ name, kind, index: s.u32() });
        }
        break;
      case 8:
        shape.hasStart = true;
        break;
    }
    r.at = end;
  }
  const unknown: Signature = [["?"], ["?"]];
  shape.functionTypes = types && functions.map((t) => types?.[t] ?? unknown);
  // the imported functions are the first of `functions`, in the imports' order
  let k = 0;
  for (const i of shape.imports) if (i.kind === "func") i.signature = types?.[functions[k++]];
  return shape;
}

/** What would make every provider's worker skip a job of `runtime` with this module; none if
 * the browser sees nothing wrong. */
export function moduleProblems(bytes: Uint8Array, runtime: string): string[] {
  const magic = [0x00, 0x61, 0x73, 0x6d];
  if (bytes.length < 8 || magic.some((b, i) => bytes[i] !== b)) {
    return ["The module is not a WebAssembly file (it does not start with \\0asm): choose the .wasm a build for wasm32-wasip1 wrote."];
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    return ["The module is a WebAssembly component (a wasip2 build), not a core module: jobs run modules built for wasm32-wasip1."];
  }
  if (!WebAssembly.validate(bytes as BufferSource)) {
    return ["The module is not valid WebAssembly: your browser's validator refuses it."];
  }
  try {
    return shapeProblems(moduleShape(bytes), runtime);
  } catch (e) {
    return [`The module cannot be read: ${(e as Error).message}.`];
  }
}

/** {@link moduleProblems} of a valid module, from its shape. */
export function shapeProblems(shape: ModuleShape, runtime: string): string[] {
  const problems: string[] = [];
  const v3 = runtime === RUNTIME_WASI_P1V3;
  const allowed = (i: Import) =>
    i.kind === "func" && (i.module === WASI || (v3 && i.module === "cmkt" && i.name === "sha256"));
  const foreign = shape.imports.filter((i) => !allowed(i));
  if (foreign.length > 0) {
    const named = foreign.slice(0, 3).map((i) => `${i.module}.${i.name} (${i.kind})`);
    const more = foreign.length > 3 ? ` and ${foreign.length - 3} more` : "";
    problems.push(
      `The module imports ${named.join(", ")}${more}: a job may import only WASI preview 1 functions (${WASI})` +
        `${v3 ? " and cmkt.sha256" : ""}. Was it built for wasm32-unknown-unknown, or with JavaScript bindings?`,
    );
  }
  const show = ([p, r]: Signature) => `(${p.join(", ")}) -> (${r.join(", ")})`;
  for (const i of shape.imports.filter(allowed)) {
    const has = LINKED[i.module]?.[i.name];
    if (!has) {
      problems.push(`The module imports ${i.module}.${i.name}, which WASI preview 1 does not define (an extension of another runtime?).`);
    } else if (i.signature && show(i.signature) !== show(has)) {
      problems.push(`The module imports ${i.module}.${i.name} as ${show(i.signature)}; the runtime's is ${show(has)}.`);
    }
  }
  if (!v3 && shape.imports.some((i) => i.module === WASI && i.name === "poll_oneoff")) {
    problems.push(`The module imports poll_oneoff, which under ${runtime} sleeps the worker's thread beyond any timeout: post it under ${RUNTIME_WASI_P1V3}.`);
  }
  const start = shape.exports.find((e) => e.name === "_start");
  if (!start || start.kind !== 0) {
    problems.push("The module exports no _start function: build a program (with a main), not a library, for wasm32-wasip1.");
  } else {
    const ty = shape.functionTypes?.[start.index];
    if (ty && (ty[0].length !== 0 || ty[1].length !== 0)) problems.push("The module's _start must take no arguments and return nothing.");
  }
  if (v3) {
    const refuse = (why: string) => problems.push(`Runtime ${runtime} does not run a module with ${why}.`);
    if (shape.hasStart) refuse("a start function (a job starts at _start)");
    if (shape.memories.some((m) => m.memory64)) refuse("a 64-bit memory");
    if (shape.memories.length > 1) refuse("more than one memory");
    const reserved = shape.exports.filter((e) => RESERVED_EXPORTS.includes(e.name));
    if (reserved.length > 0) refuse(`an export named ${reserved.map((e) => e.name).join(" or ")}, which the runtime reserves`);
  }
  return problems;
}
