//! What the metering pass reads of a module before rewriting it, and what it refuses.

use super::{Refused, FUEL_EXPORT, INTERRUPT_EXPORT};
use wasmparser::{Operator, Parser, Payload};

/// What the pass needs to know of the module before rewriting it.
#[derive(Default)]
pub(super) struct Shape {
    /// Globals and memories, imported and defined: the new ones get the next indices.
    pub(super) globals: u32,
    pub(super) memories: u32,
    /// The function indices of the `cmkt.sha256` import (a module may import it more than
    /// once, under several indices).
    pub(super) sha256: Vec<u32>,
    pub(super) has_globals: bool,
    pub(super) has_memories: bool,
    pub(super) has_exports: bool,
}

pub(super) fn shape(wasm: &[u8]) -> Result<Shape, Refused> {
    let rewrite = |e: wasmparser::BinaryReaderError| Refused::Rewrite(e.to_string());
    let unsupported = |s: &str| Err(Refused::Unsupported(s.into()));
    // functions named outside of code (exports, tables, global initialisers): what `ref.func`
    // may name too
    let mut referenced = Vec::new();
    let mut s = Shape::default();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(rewrite)? {
            Payload::ImportSection(reader) => {
                let mut functions = 0;
                for import in reader.into_imports() {
                    let import = import.map_err(rewrite)?;
                    match import.ty {
                        wasmparser::TypeRef::Func(_) => {
                            if (import.module, import.name) == ("cmkt", "sha256") {
                                s.sha256.push(functions);
                            }
                            functions += 1;
                        }
                        wasmparser::TypeRef::Global(_) => s.globals += 1,
                        wasmparser::TypeRef::Memory(m) if m.memory64 => {
                            return unsupported("a 64-bit memory")
                        }
                        wasmparser::TypeRef::Memory(_) => s.memories += 1,
                        wasmparser::TypeRef::Table(t) if t.table64 => {
                            return unsupported("a 64-bit table")
                        }
                        _ => {}
                    }
                }
            }
            Payload::TableSection(reader) => {
                for t in reader {
                    if t.map_err(rewrite)?.ty.table64 {
                        return unsupported("a 64-bit table");
                    }
                }
            }
            Payload::MemorySection(reader) => {
                s.has_memories = true;
                for m in reader {
                    if m.map_err(rewrite)?.memory64 {
                        return unsupported("a 64-bit memory");
                    }
                    s.memories += 1;
                }
            }
            Payload::GlobalSection(reader) => {
                s.has_globals = true;
                s.globals += reader.count();
                for g in reader {
                    referenced.extend(const_refs(&g.map_err(rewrite)?.init_expr)?);
                }
            }
            Payload::ElementSection(reader) => {
                for e in reader {
                    match e.map_err(rewrite)?.items {
                        wasmparser::ElementItems::Functions(f) => {
                            for i in f {
                                referenced.push(i.map_err(rewrite)?);
                            }
                        }
                        wasmparser::ElementItems::Expressions(_, exprs) => {
                            for expr in exprs {
                                referenced.extend(const_refs(&expr.map_err(rewrite)?)?);
                            }
                        }
                    }
                }
            }
            Payload::ExportSection(reader) => {
                s.has_exports = true;
                for e in reader {
                    let e = e.map_err(rewrite)?;
                    if e.name == FUEL_EXPORT || e.name == INTERRUPT_EXPORT {
                        return unsupported("it exports a name the runtime reserves");
                    }
                    if e.kind == wasmparser::ExternalKind::Func {
                        referenced.push(e.index);
                    }
                }
            }
            Payload::StartSection { .. } => {
                return unsupported("a start function (a job starts at `_start`)")
            }
            _ => {}
        }
    }
    if s.memories > 1 {
        return unsupported("more than one memory");
    }
    if s.sha256.iter().any(|f| referenced.contains(f)) {
        return unsupported(
            "cmkt.sha256 is named other than by a `call` (a table, an export, a `ref.func`)",
        );
    }
    Ok(s)
}

/// The functions a constant expression names (`ref.func`).
fn const_refs(expr: &wasmparser::ConstExpr) -> Result<Vec<u32>, Refused> {
    let mut refs = Vec::new();
    for op in expr.get_operators_reader() {
        if let Operator::RefFunc { function_index } =
            op.map_err(|e| Refused::Rewrite(e.to_string()))?
        {
            refs.push(function_index);
        }
    }
    Ok(refs)
}
