//! The runtimes this crate implements and the engine settings behind them.

/// The first runtime id (the manifest's `runtime`): [`Options::default`].
pub const RUNTIME: &str = "wasi-p1";
/// The runtime id of `wasi-p1` with NaN canonicalisation only where seen.
pub const RUNTIME_V2: &str = "wasi-p1v2";
/// The runtime id of `wasi-p1v2` with fuel metering and the timeout compiled into the module
/// ([`crate::meter`]) instead of wasmtime's fuel and epoch checks.
pub const RUNTIME_V3: &str = "wasi-p1v3";
/// Every runtime id this crate implements.
pub const RUNTIMES: [&str; 3] = [RUNTIME, RUNTIME_V2, RUNTIME_V3];

/// Engine settings. [`Options::for_runtime`] gives the ones whose results count (runtime
/// `wasi-p1` is [`Options::default`]): every other combination exists to measure what each
/// safeguard costs (`cmkt bench`), changes fuel counts or float bits, and must never produce a
/// committed result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Fuel metering (`max_fuel`, and the `fuel_used` in every result).
    pub fuel: bool,
    /// Every float result's NaN replaced by the canonical NaN (otherwise NaN bits depend on the
    /// host CPU).
    pub nan_canonicalization: bool,
    /// Linear memory without a virtual-memory reservation and guard pages, so that every access
    /// is bounds-checked by an explicit compare (wasi-p1 reserves 4 GiB plus guards and lets
    /// the guard pages catch out-of-bounds accesses, with no check in the code).
    pub explicit_bounds_checks: bool,
    /// With `nan_canonicalization`: canonicalise only the NaNs whose bits can be seen
    /// ([`crate::nan::canonicalize`] rewrites the module; SIMD modules keep Cranelift's
    /// canonicalisation) instead of every float result. The same results bit for bit, other
    /// fuel counts.
    pub lazy_nan: bool,
    /// Fuel metering and the timeout compiled into the module ([`crate::meter::instrument`])
    /// instead of wasmtime's fuel and epoch checks: other fuel counts, the same outputs.
    /// Without `fuel` this means neither metering nor a timeout (a measurement only).
    pub inline_meter: bool,
    /// With `inline_meter`: a loop whose trip count is known when it starts takes the fuel of
    /// the whole trip then, when the fuel left covers it, instead of per iteration
    /// ([`crate::meter`]'s counted loops). The same fuel counts and outcomes; off only to
    /// measure what it buys.
    pub counted_loops: bool,
    /// With `inline_meter`: small leaf functions inlined at their direct calls
    /// ([`crate::meter`]'s `inline.rs`). The same fuel counts and outcomes; off only to measure
    /// what it buys.
    pub inline_leaves: bool,
    /// With `inline_meter` and `lazy_nan`: SIMD modules canonicalised only where seen too
    /// ([`crate::nan::canonicalize_vectors`], after the metering, so that what it adds is not
    /// charged; without `fuel`, unmetered), instead of by Cranelift after every float result.
    /// The same results bit for bit and the same fuel counts; off only to measure what it buys.
    pub lazy_vector_nan: bool,
    /// With `inline_meter`: a module with a native frame larger than its call-depth weight
    /// allows is refused at compile time (`frame_check.rs`), so that no run reaches the native
    /// stack limit before the budget; off only to test the refusal of such a run.
    pub frame_check: bool,
    /// With `inline_meter`: how many checks of a function read a byte of the interrupt page of
    /// their own ([`crate::meter::UNIQUE_TOUCHES`]; the rest share one). Any number gives the
    /// same counts and outcomes; fewer only to test the shared byte.
    pub unique_touches: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fuel: true,
            nan_canonicalization: true,
            explicit_bounds_checks: false,
            lazy_nan: false,
            inline_meter: false,
            counted_loops: false,
            inline_leaves: false,
            lazy_vector_nan: false,
            frame_check: false,
            unique_touches: crate::meter::UNIQUE_TOUCHES,
        }
    }
}

impl Options {
    /// Whether the module meters its own fuel and timeout ([`crate::meter`]).
    pub fn meters_itself(&self) -> bool {
        self.fuel && self.inline_meter
    }

    /// Whether wasmtime meters fuel (and its epochs the timeout): the runtimes before
    /// `wasi-p1v3`.
    pub fn wasmtime_meters(&self) -> bool {
        self.fuel && !self.inline_meter
    }

    /// The options of runtime `id`, if this crate implements it.
    pub fn for_runtime(id: &str) -> Option<Options> {
        match id {
            RUNTIME => Some(Options::default()),
            RUNTIME_V2 => Some(Options {
                lazy_nan: true,
                ..Options::default()
            }),
            RUNTIME_V3 => Some(Options {
                lazy_nan: true,
                inline_meter: true,
                counted_loops: true,
                inline_leaves: true,
                lazy_vector_nan: true,
                frame_check: true,
                ..Options::default()
            }),
            _ => None,
        }
    }
}
