//! Account layouts. One file per account.

pub mod delivery;
pub mod job;
pub mod ledger;
pub mod market;
pub mod provider;
pub mod settlement;
pub mod sortition;

pub use delivery::*;
pub use job::*;
pub use ledger::*;
pub use market::*;
pub use provider::*;
pub use settlement::*;
