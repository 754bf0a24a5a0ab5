//! Runs the compute-market program natively inside the real Solana runtime.
//!
//! The SBF toolchain cannot be installed on our machines, so instead of loading a compiled
//! `.so` the program's Rust entrypoint is registered as a native *builtin* of the runtime:
//! transactions, account ownership and signer checks, rent, CPI into the SPL token programs and
//! the system program all go through the real bank / SVM code. Two pieces of glue make that work
//! and live here, in the only module of the workspace allowed to use `unsafe`:
//!
//! 1. **Entry shim.** `solana_program_test::processor!` wants a
//!    `fn(&Pubkey, &[AccountInfo], &[u8])` pointer with independent lifetimes, while Anchor's
//!    generated `entry` ties the accounts to a single `'info`. [`entry_shim`] narrows the
//!    account lifetime for the duration of the call (no copy, no leak).
//! 2. **Syscall-stub bridge.** anchor-lang on its default `solana-v3` feature calls the
//!    `solana-sysvar` 3.x program stubs (CPI, sysvars, logging), while program-test 4.2.2
//!    installs its runtime-backed stubs into `solana-sysvar` 4.x only. [`install_syscall_stubs`]
//!    takes program-test's v4 stub object and makes both the v3 and the v4 hooks call it.
//!    program-test installs its stubs when a `ProgramTest` starts, so the first call starts a
//!    throw-away one.
//!
//! Users: the test suite ([`litesvm`]), the embedded local validator ([`builtin`] +
//! [`install_syscall_stubs`]).
#![allow(deprecated)]

use anchor_lang::solana_program::{
    account_info::AccountInfo, entrypoint::ProgramResult, pubkey::Pubkey,
};
use solana_program_runtime::invoke_context::BuiltinFunctionRegisterer;
use std::sync::Once;

pub use compute_market::ID as PROGRAM_ID;

/// Name under which the builtin is registered.
pub const PROGRAM_NAME: &str = "compute_market";

/// Calls the program's Anchor entrypoint from a plain function pointer.
fn entry_shim<'a, 'b>(
    program_id: &Pubkey,
    accounts: &'a [AccountInfo<'b>],
    data: &[u8],
) -> ProgramResult {
    // SAFETY: Anchor's `entry<'info>` wants the program id, the accounts and the data all
    // borrowed for one `'info`, and `AccountInfo<'info>` itself. Every argument is borrowed for
    // the whole call, so we pick `'a` (the slice borrow) as `'info` and narrow the rest to it:
    // - `program_id` and `data` are shared references used only during the call;
    // - the accounts' inner lifetime `'b` outlives `'a` (the slice borrows the infos). The only
    //   reason `AccountInfo` is invariant is the `RefCell<&mut [u8]>`/`RefCell<&mut u64>` it
    //   holds, and the program never stores a shorter-lived reference into those cells (data is
    //   reallocated by the runtime, not by swapping slices), so nothing with the narrower
    //   lifetime can outlive the call.
    unsafe {
        compute_market::entry(
            std::mem::transmute::<&Pubkey, &'a Pubkey>(program_id),
            std::mem::transmute::<&'a [AccountInfo<'b>], &'a [AccountInfo<'a>]>(accounts),
            std::mem::transmute::<&[u8], &'a [u8]>(data),
        )
    }
}

/// The program as a native builtin, for `LiteSVM::add_builtin`, `ProgramTest::add_program`
/// or `Bank::add_builtin`.
pub fn builtin() -> BuiltinFunctionRegisterer {
    solana_program_test::processor!(entry_shim).expect("processor! always yields a builtin")
}

mod bridge {
    use anchor_lang::solana_program::{
        account_info::AccountInfo, entrypoint::ProgramResult, instruction::Instruction,
    };
    use solana_sysvar_v3::program_stubs as v3;
    use solana_sysvar_v4::program_stubs as v4;
    use std::sync::Arc;

    type Stubs = Arc<Box<dyn v4::SyscallStubs>>;

    /// Placeholder swapped in for an instant to take program-test's stubs out.
    struct Empty;
    impl v4::SyscallStubs for Empty {}

    macro_rules! forward {
        ($ty:ident, $tr:path) => {
            struct $ty(Stubs);
            impl $tr for $ty {
                fn sol_log(&self, m: &str) {
                    self.0.sol_log(m)
                }
                fn sol_log_data(&self, f: &[&[u8]]) {
                    self.0.sol_log_data(f)
                }
                fn sol_invoke_signed(
                    &self,
                    ix: &Instruction,
                    infos: &[AccountInfo],
                    seeds: &[&[&[u8]]],
                ) -> ProgramResult {
                    self.0.sol_invoke_signed(ix, infos, seeds)
                }
                fn sol_get_stack_height(&self) -> u64 {
                    self.0.sol_get_stack_height()
                }
                fn sol_remaining_compute_units(&self) -> u64 {
                    self.0.sol_remaining_compute_units()
                }
                // Rent, Clock and EpochSchedule are #[repr(C)] with identical layouts in the
                // v3 and v4 crates, so the raw pointers can be handed through.
                fn sol_get_rent_sysvar(&self, d: *mut u8) -> u64 {
                    self.0.sol_get_rent_sysvar(d)
                }
                fn sol_get_clock_sysvar(&self, d: *mut u8) -> u64 {
                    self.0.sol_get_clock_sysvar(d)
                }
                fn sol_get_epoch_schedule_sysvar(&self, d: *mut u8) -> u64 {
                    self.0.sol_get_epoch_schedule_sysvar(d)
                }
                fn sol_get_sysvar(&self, id: *const u8, out: *mut u8, off: u64, len: u64) -> u64 {
                    self.0.sol_get_sysvar(id, out, off, len)
                }
            }
        };
    }
    forward!(V4Forward, v4::SyscallStubs);
    forward!(V3Forward, v3::SyscallStubs);

    /// Points both stub hooks at program-test's (already installed) v4 stubs.
    pub fn install() {
        let installed: Stubs = Arc::new(v4::set_syscall_stubs(Box::new(Empty)));
        v4::set_syscall_stubs(Box::new(V4Forward(installed.clone())));
        v3::set_syscall_stubs(Box::new(V3Forward(installed)));
    }
}

/// Installs program-test's runtime-backed syscall stubs and bridges anchor's v3 hooks to them.
/// Idempotent; call before the first transaction reaches the builtin.
pub fn install_syscall_stubs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // program-test installs its stubs (privately) when a ProgramTest starts.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime for the stub install");
        rt.block_on(async { solana_program_test::ProgramTest::default().start().await });
        bridge::install();
    });
}

/// A fresh LiteSVM with the SPL programs and the compute-market program as a native builtin.
pub fn litesvm() -> litesvm::LiteSVM {
    install_syscall_stubs();
    let mut svm = litesvm::LiteSVM::new();
    svm.add_builtin(PROGRAM_ID, builtin());
    svm
}
