//! The timeout of runs that meter themselves ([`crate::meter`]): the executor's ticker makes the
//! interrupt page of every run past its deadline inaccessible, so the module's next check (at a
//! function entry or loop header) faults on it, which wasmtime turns into a trap (the address
//! lies in one of the instance's memories).

#[cfg(not(unix))]
compile_error!("the timeout of wasi-p1v3 runs makes a page inaccessible (mprotect): a Unix system");

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// The bytes of the interrupt page (one wasm page).
pub(crate) const PAGE: usize = 1 << 16;

/// The runs being watched.
#[derive(Default)]
pub(crate) struct Watchdog {
    runs: Mutex<Vec<Run>>,
    next: AtomicU64,
}

struct Run {
    id: u64,
    deadline: Option<Instant>,
    /// The address of the run's interrupt page.
    page: usize,
    fired: bool,
}

/// A run being watched; it is no longer watched once dropped.
pub(crate) struct Watch {
    dog: Arc<Watchdog>,
    /// `None` once no longer watched.
    id: Option<u64>,
}

impl Watchdog {
    /// Watches the run whose interrupt page is at `page` for `timeout`.
    ///
    /// # Safety
    /// `page` must be the base of a wasm page ([`PAGE`] bytes) that only wasm code reads (the
    /// interrupt memory of a store, which its module's code alone names) and that stays
    /// mapped (the store lives) until the returned [`Watch`] is dropped.
    #[allow(unsafe_code)]
    pub(crate) unsafe fn watch(self: &Arc<Self>, page: usize, timeout: Duration) -> Watch {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        // a timeout too long to add up is none
        let deadline = Instant::now().checked_add(timeout);
        self.lock().push(Run {
            id,
            deadline,
            page,
            fired: false,
        });
        Watch {
            dog: self.clone(),
            id: Some(id),
        }
    }

    /// Interrupts every run past its deadline.
    #[allow(unsafe_code)]
    pub(crate) fn tick(&self) {
        let now = Instant::now();
        for run in self
            .lock()
            .iter_mut()
            .filter(|r| !r.fired && r.deadline.is_some_and(|d| d <= now))
        {
            // SAFETY: the run is still watched, so its page is mapped (see `watch`), and no
            // Rust code holds a reference into it: only the module's code reads it, and a read
            // that faults is a trap of the run.
            let protected = unsafe {
                rustix::mm::mprotect(
                    run.page as *mut std::ffi::c_void,
                    PAGE,
                    rustix::mm::MprotectFlags::empty(),
                )
            };
            run.fired = protected.is_ok();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Run>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Watch {
    /// Stops watching; whether the run was interrupted.
    pub(crate) fn finish(mut self) -> bool {
        self.remove()
    }

    fn remove(&mut self) -> bool {
        let Some(id) = self.id.take() else {
            return false;
        };
        let mut runs = self.dog.lock();
        let i = runs.iter().position(|r| r.id == id);
        i.map(|i| runs.swap_remove(i).fired).unwrap_or(false)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.remove();
    }
}
