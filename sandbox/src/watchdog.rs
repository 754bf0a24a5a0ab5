//! The timeout of runs that meter themselves ([`crate::meter`]): the executor's ticker writes
//! the interrupt word (the floor of the module's fuel checks) of every run past its deadline,
//! and the module traps at its next function entry or loop header.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// The runs being watched.
#[derive(Default)]
pub(crate) struct Watchdog {
    runs: Mutex<Vec<Run>>,
    next: AtomicU64,
}

struct Run {
    id: u64,
    deadline: Option<Instant>,
    /// The address of the run's interrupt word.
    word: usize,
    fired: bool,
}

/// A run being watched; it is no longer watched once dropped.
pub(crate) struct Watch {
    dog: Arc<Watchdog>,
    /// `None` once no longer watched.
    id: Option<u64>,
}

impl Watchdog {
    /// Watches the run whose interrupt word is at `word` for `timeout`.
    ///
    /// # Safety
    /// `word` must point to 8 writable, aligned bytes that stay valid (the interrupt memory of
    /// a store that lives) until the returned [`Watch`] is dropped.
    #[allow(unsafe_code)]
    pub(crate) unsafe fn watch(self: &Arc<Self>, word: usize, timeout: Duration) -> Watch {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        // a timeout too long to add up is none
        let deadline = Instant::now().checked_add(timeout);
        self.lock().push(Run {
            id,
            deadline,
            word,
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
            .filter(|r| r.deadline.is_some_and(|d| d <= now))
        {
            // SAFETY: the run is still watched, so its word is valid (see `watch`); wasm reads
            // it with plain loads while this thread writes it, as wasmtime's epoch counter is
            // read by compiled code while the host bumps it.
            unsafe {
                (*(run.word as *const AtomicU64))
                    .store(crate::meter::INTERRUPTED as u64, Ordering::Relaxed)
            };
            run.fired = true;
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
