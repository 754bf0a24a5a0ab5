//! What the module rewrites ([`crate::nan`], [`crate::meter`]) share.

use wasm_encoder::reencode::{Error, Reencode};
use wasmparser::{CompositeInnerType, FunctionBody, Parser, Payload};

/// The number of parameters of every function the module defines, in order.
pub(crate) fn param_counts(wasm: &[u8]) -> Result<Vec<u32>, Error<String>> {
    let (mut types, mut params) = (Vec::new(), Vec::new());
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for ty in group?.into_types() {
                        types.push(match &ty.composite_type.inner {
                            CompositeInnerType::Func(f) => f.params().len() as u32,
                            _ => 0,
                        });
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    let ty = ty? as usize;
                    params.push(*types.get(ty).ok_or_else(|| {
                        Error::UserError(format!("function of unknown type {ty}"))
                    })?);
                }
            }
            _ => {}
        }
    }
    Ok(params)
}

/// Locals as a function body declares them: runs of a count and a type.
pub(crate) type Locals = Vec<(u32, wasm_encoder::ValType)>;

/// A function body's declared locals, re-encoded, and the index of the first local after them
/// and its `params` parameters (`None`: more bodies than the module has functions).
pub(crate) fn declared_locals<R: Reencode<Error = String> + ?Sized>(
    reencoder: &mut R,
    params: Option<u32>,
    func: &FunctionBody<'_>,
) -> Result<(Locals, u32), Error<String>> {
    let params =
        params.ok_or_else(|| Error::UserError("more function bodies than functions".into()))?;
    let mut locals = Vec::new();
    let mut declared = 0u32;
    for pair in func.get_locals_reader()? {
        let (count, ty) = pair?;
        declared = declared.saturating_add(count);
        locals.push((count, reencoder.val_type(ty)?));
    }
    Ok((locals, params.saturating_add(declared)))
}
