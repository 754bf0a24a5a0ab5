//! What the metering pass writes into a function: its fuel charges and checks.

use super::{BYTES_PER_FUEL, FUEL_PER_PAGE};
use wasm_encoder::{BlockType, Function, Instruction, MemArg, MemArgTarget};

/// The touches of the interrupt page in a function that read a byte of their own (the page has
/// 65 536: the byte the touches after these share and the fences' byte come after them).
pub const UNIQUE_TOUCHES: u32 = (1 << 16) - 2;

pub(super) struct Meter {
    pub(super) global: u32,
    pub(super) local: u32,
    pub(super) interrupt: u32,
    /// The function's touches of the interrupt page so far.
    pub(super) touches: std::cell::Cell<u32>,
    /// The touches that read a byte of their own (at most [`UNIQUE_TOUCHES`]); the rest read
    /// the byte at this offset.
    pub(super) unique: u32,
}

impl Meter {
    /// The local's fuel into the global.
    pub(super) fn flush(&self, f: &mut Function) {
        f.instruction(&Instruction::LocalGet(self.local))
            .instruction(&Instruction::GlobalSet(self.global));
    }

    /// Takes the fuel of a `cmkt.sha256` call whose arguments `data, len, out` are on the stack
    /// (left there), and traps if that is more than is left, before the hash.
    pub(super) fn charge_sha256(&self, f: &mut Function, len_local: u32, out_local: u32) {
        f.instruction(&Instruction::LocalSet(out_local));
        self.charge_len(f, len_local, LenPrice::SHA256);
        f.instruction(&Instruction::LocalGet(out_local));
    }

    /// Traps, with the (negative) fuel left in the global, when the local's (on top of the
    /// stack) is below zero.
    pub(super) fn trap_if_empty(&self, f: &mut Function) {
        f.instruction(&Instruction::I64Const(0));
        self.trap_if_below(f);
    }

    /// Traps, with the fuel left in the global, when the fuel under the top of the stack is
    /// below the top.
    pub(super) fn trap_if_below(&self, f: &mut Function) {
        f.instruction(&Instruction::I64LtS)
            .instruction(&Instruction::If(BlockType::Empty));
        self.flush(f);
        f.instruction(&Instruction::Unreachable)
            .instruction(&Instruction::End);
    }

    /// Takes `units` of fuel.
    pub(super) fn charge(&self, f: &mut Function, units: u32) {
        f.instruction(&Instruction::LocalGet(self.local))
            .instruction(&Instruction::I64Const(units.into()))
            .instruction(&Instruction::I64Sub)
            .instruction(&Instruction::LocalSet(self.local));
    }

    /// Traps, with the fuel left in the global, when the fuel is below zero; then touches the
    /// interrupt page, which faults once the run is interrupted.
    pub(super) fn checks(&self, f: &mut Function) {
        f.instruction(&Instruction::LocalGet(self.local));
        self.trap_if_empty(f);
        self.touch(f);
    }

    /// Reads a byte of the interrupt page, which faults (a trap) once the executor has made the
    /// page inaccessible because the run's time is up ([`super::INTERRUPT_EXPORT`]). Each touch
    /// of a function reads a byte of its own, up to [`Meter::unique`]: Cranelift, which does
    /// not know that the page can change, would give a touch the value of an earlier read of
    /// the same byte (and drop the load), so a loop after another would never fault. Beyond
    /// that, touches share a byte and [`Meter::fence`] stores before every loop.
    pub(super) fn touch(&self, f: &mut Function) {
        let n = self.touches.get();
        self.touches.set(n.saturating_add(1));
        f.instruction(&Instruction::I32Const(0))
            .instruction(&Instruction::I32Load8U(
                self.interrupt_page(u64::from(n.min(self.unique))),
            ))
            .instruction(&Instruction::Drop);
    }

    /// Before a loop (and a counted loop's condition) whose touch shares its byte with others:
    /// a store to the interrupt page, which makes Cranelift read the shared byte again at the
    /// loop's touches. Nothing before the touches run out.
    pub(super) fn fence(&self, f: &mut Function) {
        if self.touches.get() >= self.unique {
            f.instruction(&Instruction::I32Const(0))
                .instruction(&Instruction::I32Const(0))
                .instruction(&Instruction::I32Store8(
                    self.interrupt_page(u64::from(UNIQUE_TOUCHES + 1)),
                ));
        }
    }

    fn interrupt_page(&self, offset: u64) -> MemArg {
        MemArg {
            offset,
            align: 0,
            target: MemArgTarget::Memory(self.interrupt),
            ordering: None,
        }
    }

    /// Takes `price`'s fuel for `len`, the `i32` on top of the stack (left there), and traps if
    /// that is more than is left.
    pub(super) fn charge_len(&self, f: &mut Function, len_local: u32, price: LenPrice) {
        use Instruction::*;
        f.instruction(&LocalTee(len_local))
            .instruction(&LocalGet(self.local))
            .instruction(&LocalGet(len_local))
            .instruction(&I64ExtendI32U);
        if price.pad != 0 {
            f.instruction(&I64Const(price.pad.into()))
                .instruction(&I64Add);
        }
        f.instruction(&I64Const(price.shr.into()))
            .instruction(&I64ShrU)
            .instruction(&I64Const(price.shl.into()))
            .instruction(&I64Shl);
        if price.base != 0 {
            f.instruction(&I64Const(price.base.into()))
                .instruction(&I64Add);
        }
        f.instruction(&I64Sub).instruction(&LocalTee(self.local));
        // before the instruction does the work it is charged for
        self.trap_if_empty(f);
    }
}

/// The fuel of an instruction that works on `len` units (bytes, pages, elements) given at run
/// time: `((len + pad) >> shr << shl) + base`.
#[derive(Clone, Copy)]
pub(super) struct LenPrice {
    pub(super) pad: u32,
    pub(super) shr: u32,
    pub(super) shl: u32,
    pub(super) base: u32,
}

impl LenPrice {
    /// `memory.fill`, `memory.copy`, `memory.init`: a unit per [`BYTES_PER_FUEL`] bytes.
    pub(super) const BULK_MEMORY: LenPrice = LenPrice {
        pad: 0,
        shr: BYTES_PER_FUEL.trailing_zeros(),
        shl: 0,
        base: 0,
    };
    /// `memory.grow`: [`FUEL_PER_PAGE`] per page.
    pub(super) const MEMORY_GROW: LenPrice = LenPrice {
        pad: 0,
        shr: 0,
        shl: FUEL_PER_PAGE.trailing_zeros(),
        base: 0,
    };
    /// Bulk table instructions: a unit per element.
    pub(super) const BULK_TABLE: LenPrice = LenPrice {
        pad: 0,
        shr: 0,
        shl: 0,
        base: 0,
    };
    /// `cmkt.sha256`: [`crate::SHA256_FUEL_PER_CALL`], and [`crate::SHA256_FUEL_PER_BLOCK`]
    /// per 64-byte block, the padding's (9 bytes at least) included.
    const SHA256: LenPrice = LenPrice {
        pad: 9 + 63,
        shr: 6,
        shl: crate::SHA256_FUEL_PER_BLOCK.trailing_zeros(),
        base: crate::SHA256_FUEL_PER_CALL as u32,
    };
}

// the prices are powers of two, as the shifts take them
const _: () = assert!(
    BYTES_PER_FUEL.is_power_of_two()
        && FUEL_PER_PAGE.is_power_of_two()
        && crate::SHA256_FUEL_PER_BLOCK.is_power_of_two()
        && crate::SHA256_FUEL_PER_CALL <= u32::MAX as u64
);
