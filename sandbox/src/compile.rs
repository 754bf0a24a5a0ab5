//! Compiling a module for an [`Executor`]: the rewrites of its runtime (NaNs canonicalised
//! where seen, the metering), wasmtime's compile (or its disk cache), the frame check, and the
//! checks that the module can run here.

use crate::{
    frame_check, host, meter, nan, Executor, Module, Options, Refusal, RunState, RUNTIME, RUNTIMES,
    RUNTIME_V2, RUNTIME_V3,
};
use wasmtime::{Engine, Linker};

impl Executor {
    /// Compiles a module and checks that it can run here: every import is a WASI preview 1
    /// function of the right type (and not `poll_oneoff` under `wasi-p1` and `wasi-p1v2`,
    /// whose sleeps no timeout stops) and `_start` is a function of no arguments and no
    /// results.
    /// An invalid module is refused before a worker claims its job.
    pub fn compile(&self, module: &[u8]) -> Result<Module, Refusal> {
        self.compile_inner(module, self.full_nan.is_some(), self.options.inline_leaves)
    }

    /// [`Executor::compile`] for `runtime`: an executor of runtime `wasi-p1v2` serves
    /// `wasi-p1` too (it holds the fully canonicalising engine that runtime runs on), any
    /// other only the runtime its options are.
    pub fn compile_for(&self, runtime: &str, module: &[u8]) -> Result<Module, Refusal> {
        let own = Some(self.options) == Options::for_runtime(runtime);
        let first_on_v2 =
            runtime == RUNTIME && Some(self.options) == Options::for_runtime(RUNTIME_V2);
        if !own && !first_on_v2 {
            return Err(Refusal::InvalidModule(format!(
                "runtime {runtime} is not one of {RUNTIMES:?}, or not this executor's"
            )));
        }
        self.compile_inner(module, runtime != RUNTIME, self.options.inline_leaves)
    }

    /// Compiles `module`, rewritten to canonicalise NaNs only where seen if `lazy` (and this
    /// executor has the engine for that), else for Cranelift's canonicalisation, and with
    /// metering its small leaves inlined if `inline_leaves`.
    fn compile_inner(
        &self,
        module: &[u8],
        lazy: bool,
        inline_leaves: bool,
    ) -> Result<Module, Refusal> {
        let invalid = |e: wasmtime::Error| Refusal::InvalidModule(format!("{e:#}"));
        let o = self.options;
        let shortcuts = meter::Shortcuts {
            counted_loops: o.counted_loops,
            inline_leaves,
            unique_touches: o.unique_touches,
        };
        let instrument = |module: &[u8]| {
            meter::instrument_rooms(module, shortcuts)
                .map_err(|e| Refusal::InvalidModule(e.to_string()))
        };
        let original = module;
        // the bytes to compile and their engine, and with metering the rooms of the frames
        let (engine, module, rooms): (_, std::borrow::Cow<[u8]>, _) = match (&self.full_nan, lazy) {
            (Some(full), true) => match nan::canonicalize(module) {
                Ok((bytes, _)) => (&self.engine, bytes.into(), None),
                // SIMD under wasi-p1v3: metered first, so the vector canonicalisations are
                // free (and with its metering switched off, as a measurement, not metered)
                Err(_) if o.inline_meter && o.lazy_vector_nan => {
                    let (metered, rooms): (std::borrow::Cow<[u8]>, _) = match o.meters_itself() {
                        true => instrument(module).map(|(m, r)| (m.into(), Some(r)))?,
                        false => (module.into(), None),
                    };
                    match nan::canonicalize_vectors(&metered) {
                        Ok((bytes, _)) => (&self.engine, bytes.into(), rooms),
                        Err(_) => (full, metered, rooms),
                    }
                }
                Err(_) => (full, module.into(), None),
            },
            (Some(full), false) => (full, module.into(), None),
            (None, _) => (&self.engine, module.into(), None),
        };
        let (module, rooms) = match rooms {
            None if o.meters_itself() => {
                let (metered, rooms) = instrument(&module)?;
                (metered.into(), Some(rooms))
            }
            _ => (module, rooms),
        };
        let module = Module::new(engine, &module).map_err(invalid)?;
        if let (Some(rooms), true) = (rooms, o.frame_check) {
            match frame_check::check(&module, &rooms) {
                Ok(()) => {}
                // the leaves' values made a caller's frame outgrow its room: the module as it
                // is (the same counts and outcomes)
                Err((true, _)) if inline_leaves => {
                    return self.compile_inner(original, lazy, false)
                }
                Err((true, why)) => {
                    return Err(Refusal::InvalidModule(format!(
                        "runtime {RUNTIME_V3}: {why}"
                    )))
                }
                Err((false, why)) => return Err(Refusal::Internal(why)),
            }
        }
        if !self.options.inline_meter && sleeps(&module) {
            return Err(Refusal::InvalidModule(format!(
                "the module imports poll_oneoff, which under {RUNTIME} and {RUNTIME_V2} sleeps \
                 the worker's thread for as long as the module asks, beyond any timeout; post \
                 it under {RUNTIME_V3}, whose poll_oneoff never waits"
            )));
        }
        let linker = self.linker(engine)?;
        linker.instantiate_pre(&module).map_err(invalid)?;
        match module.get_export("_start") {
            Some(wasmtime::ExternType::Func(f))
                if f.params().len() == 0 && f.results().len() == 0 =>
            {
                Ok(module)
            }
            _ => Err(Refusal::InvalidModule(
                "no `_start` function of type () -> () exported".into(),
            )),
        }
    }

    /// What a module of this executor's runtime may import: WASI preview 1, and under
    /// `wasi-p1v3` the runtime's own functions ([`host::add_functions`]).
    pub(crate) fn linker(&self, engine: &Engine) -> Result<Linker<RunState>, Refusal> {
        let internal = |e: wasmtime::Error| Refusal::Internal(format!("{e:#}"));
        let mut linker: Linker<RunState> = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut RunState| &mut s.wasi)
            .map_err(internal)?;
        if self.options.inline_meter {
            host::add_functions(&mut linker).map_err(internal)?;
        }
        Ok(linker)
    }
}

/// Whether `module` imports WASI's `poll_oneoff`, which can sleep the thread of a run as long
/// as the module asks (for ever), where neither fuel nor the timeout reaches: refused by the
/// runtimes whose `poll_oneoff` is WASI's own (`wasi-p1v3` has one that never waits).
fn sleeps(module: &Module) -> bool {
    module
        .imports()
        .any(|i| i.module() == "wasi_snapshot_preview1" && i.name() == "poll_oneoff")
}
