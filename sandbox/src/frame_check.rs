//! The call-depth rule's check of the compiled code (runtime `wasi-p1v3`, see
//! `meter/frames.rs`): a run stops at the depth the module's weights give only while every
//! native frame fits in its function's room, [`BYTES_PER_UNIT`] bytes a unit. Cranelift keeps
//! frames well within that, but a module can make one outgrow it (Cranelift computes equal
//! pure expressions once, so a function can hold a thousand values across a call for a weight
//! of 26 units). Such a run would reach wasmtime's native stack limit at a depth that depends
//! on the machine, and be refused ([`crate::Refusal::StackLimit`]) after its job was claimed,
//! losing the claim's collateral.
//!
//! So [`check`] reads each function's frame from its prologue, where Cranelift compares the
//! stack pointer with wasmtime's stack limit plus every byte the function will push (its
//! spills, saved registers, outgoing arguments, and its callees' return addresses and frame
//! pointers), and the executor refuses at compile time a module with a frame larger than its
//! room. A worker compiles a job's module before it claims the job, so it skips such a job
//! instead.
//!
//! The prologue is read on x86-64, in the shape the pinned wasmtime emits. Every executor of
//! `wasi-p1v3` first compiles a probe, a function that calls, and refuses to start if its
//! prologue is not of that shape (so a wasmtime upgrade that changes it fails loudly instead of
//! reading every frame as empty). On other CPUs the check is skipped, and a run reaching the
//! native limit is refused as before.

use crate::meter::BYTES_PER_UNIT;
use wasmtime::{Engine, Module};

/// `push rbp; mov rbp, rsp`: every function's first instructions (wasmtime keeps frame
/// pointers).
const FRAME_SETUP: [u8; 4] = [0x55, 0x48, 0x89, 0xe5];
/// `mov r10, [rdi + 8]; mov r10, [r10 + 0x18]`: the stack limit, from the store's limits.
const LIMIT_LOAD: [u8; 8] = [0x4c, 0x8b, 0x57, 0x08, 0x4d, 0x8b, 0x52, 0x18];
/// `cmp r10, rsp; ja <trap>` (a 32-bit displacement follows).
const COMPARE: [u8; 5] = [0x4c, 0x3b, 0xd4, 0x0f, 0x87];
/// `add r10, imm8` (sign-extended).
const ADD_IMM8: [u8; 3] = [0x49, 0x83, 0xc2];
/// `add r10, imm32`.
const ADD_IMM32: [u8; 3] = [0x49, 0x81, 0xc2];

/// What a function's prologue shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prologue {
    /// A stack check for this many bytes.
    Checked(u32),
    /// No stack check: Cranelift omits it only in a function that calls nothing (in the code
    /// it kept) and has no stack of its own.
    Unchecked,
    /// Not the code shape this module knows.
    Unknown,
}

/// Reads the x86-64 prologue at the start of `code`.
pub(crate) fn prologue(code: &[u8]) -> Prologue {
    let Some(code) = code.strip_prefix(&FRAME_SETUP) else {
        return Prologue::Unknown;
    };
    let Some(mut code) = code.strip_prefix(&LIMIT_LOAD) else {
        return Prologue::Unchecked;
    };
    // a frame of 32 KiB or more is first compared with the limit itself (so that adding to it
    // cannot wrap), and a frame of no bytes only so
    let mut compared = false;
    if let Some(rest) = code.strip_prefix(&COMPARE) {
        let Some(rest) = rest.get(4..) else {
            return Prologue::Unknown;
        };
        (code, compared) = (rest, true);
    }
    let (bytes, rest) = if let Some(rest) = code.strip_prefix(&ADD_IMM8) {
        match rest.split_first() {
            Some((&b, rest)) if b < 0x80 => (u32::from(b), rest),
            _ => return Prologue::Unknown,
        }
    } else if let Some(rest) = code.strip_prefix(&ADD_IMM32) {
        match rest.split_first_chunk::<4>() {
            Some((b, rest)) if i32::from_le_bytes(*b) >= 0 => (u32::from_le_bytes(*b), rest),
            _ => return Prologue::Unknown,
        }
    } else if compared {
        return Prologue::Checked(0);
    } else {
        return Prologue::Unknown;
    };
    if rest.starts_with(&COMPARE) {
        Prologue::Checked(bytes)
    } else {
        Prologue::Unknown
    }
}

/// Checks that every function of `module` (compiled from a module whose functions may take
/// `rooms` stack units, in order) has a native frame within its room. `Err` holds why not, and
/// whether the module is at fault (`true`) or the compiled code is not what this check reads.
pub(crate) fn check(module: &Module, rooms: &[u32]) -> Result<(), (bool, String)> {
    if !cfg!(target_arch = "x86_64") {
        return Ok(());
    }
    let functions = module.functions();
    if functions.len() != rooms.len() {
        return Err((
            false,
            format!(
                "the compiled module has {} functions, the metered one {}",
                functions.len(),
                rooms.len()
            ),
        ));
    }
    let text = module.text();
    for (f, &room) in functions.zip(rooms) {
        let index = f.index.as_u32();
        let allowed = u64::from(room) * BYTES_PER_UNIT as u64;
        match prologue(text.get(f.offset..f.offset + f.len).unwrap_or_default()) {
            Prologue::Checked(bytes) if u64::from(bytes) > allowed => {
                return Err((
                    true,
                    format!(
                        "function {index}'s native frame takes {bytes} bytes on this machine, \
                         more than the {allowed} its {room} stack units allow, so where a deep \
                         recursion stopped would depend on the machine"
                    ),
                ))
            }
            Prologue::Checked(_) | Prologue::Unchecked => {}
            Prologue::Unknown => {
                return Err((false, format!("function {index}: {UNKNOWN_SHAPE}")));
            }
        }
    }
    Ok(())
}

const UNKNOWN_SHAPE: &str = "the compiled code does not begin as the prologue frame_check.rs \
    reads (it must follow wasmtime's, for runtime wasi-p1v3's call-depth rule)";

/// Compiles a function that calls with `engine` and checks that its prologue is the shape
/// [`prologue`] reads, with a stack check.
pub(crate) fn probe(engine: &Engine) -> Result<(), String> {
    if !cfg!(target_arch = "x86_64") {
        return Ok(());
    }
    // (a module in the binary format: `(func $f (param i32) (result i32) (call $f
    // (local.get 0)))`)
    const PROBE: &[u8] = &[
        0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, // magic, version
        1, 6, 1, 0x60, 1, 0x7f, 1, 0x7f, // type 0: (i32) -> i32
        3, 2, 1, 0, // function 0 of type 0
        10, 8, 1, 6, 0, 0x20, 0, 0x10, 0, 0x0b, // its body
    ];
    let module = Module::new(engine, PROBE).map_err(|e| format!("compiling the probe: {e:#}"))?;
    let f = module
        .functions()
        .next()
        .ok_or("the probe has no function")?;
    match prologue(&module.text()[f.offset..f.offset + f.len]) {
        Prologue::Checked(_) => Ok(()),
        _ => Err(UNKNOWN_SHAPE.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prologue up to its stack check, then `check` (the bytes that follow it).
    fn code(check: &[u8]) -> Vec<u8> {
        [&FRAME_SETUP[..], &LIMIT_LOAD, check, &COMPARE, &[0; 4]].concat()
    }

    #[test]
    fn reads_each_shape_of_the_stack_check() {
        assert_eq!(
            prologue(&code(&[0x49, 0x83, 0xc2, 0x20])),
            Prologue::Checked(32)
        );
        assert_eq!(
            prologue(&code(&[0x49, 0x81, 0xc2, 0x70, 0x1f, 0, 0])),
            Prologue::Checked(0x1f70)
        );
        // 32 KiB and more: compared with the limit first
        let large = [&COMPARE[..], &[0; 4], &[0x49, 0x81, 0xc2, 0, 0x90, 0, 0]].concat();
        assert_eq!(prologue(&code(&large)), Prologue::Checked(0x9000));
        // no bytes: the comparison alone
        assert_eq!(
            prologue(&[&FRAME_SETUP[..], &LIMIT_LOAD, &COMPARE, &[0; 4]].concat()),
            Prologue::Checked(0)
        );
        // no check: the body follows the frame setup
        assert_eq!(
            prologue(&[&FRAME_SETUP[..], &[0x48, 0x83, 0xaf, 0x70]].concat()),
            Prologue::Unchecked
        );
    }

    #[test]
    fn refuses_to_guess() {
        // no frame setup, a negative or cut immediate, no comparison after the addition
        assert_eq!(prologue(&[0x90; 16]), Prologue::Unknown);
        assert_eq!(
            prologue(&code(&[0x49, 0x83, 0xc2, 0xf0])),
            Prologue::Unknown
        );
        assert_eq!(
            prologue(&[&FRAME_SETUP[..], &LIMIT_LOAD, &[0x49, 0x81, 0xc2, 0]].concat()),
            Prologue::Unknown
        );
        assert_eq!(
            prologue(
                &[
                    &FRAME_SETUP[..],
                    &LIMIT_LOAD,
                    &[0x49, 0x83, 0xc2, 0x20, 0x90]
                ]
                .concat()
            ),
            Prologue::Unknown
        );
        assert_eq!(
            prologue(&[&FRAME_SETUP[..], &LIMIT_LOAD, &[0x90; 8]].concat()),
            Prologue::Unknown
        );
    }
}
