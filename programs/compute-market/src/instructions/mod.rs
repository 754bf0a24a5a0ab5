//! One file per instruction, named resource-first.

pub mod job_cancel;
pub mod job_claim;
pub mod job_commit;
pub mod job_expire_claim;
pub mod job_finalize;
pub mod job_post;
pub mod job_reveal;
pub mod market_init;
pub mod market_sweep_surplus;
pub mod market_update;
pub mod provider_close;
pub mod provider_publish_offer;
pub mod provider_register;
pub mod provider_request_unstake;
pub mod provider_stake;
pub mod provider_update;
pub mod provider_withdraw_stake;

pub use job_cancel::*;
pub use job_claim::*;
pub use job_commit::*;
pub use job_expire_claim::*;
pub use job_finalize::*;
pub use job_post::*;
pub use job_reveal::*;
pub use market_init::*;
pub use market_sweep_surplus::*;
pub use market_update::*;
pub use provider_close::*;
pub use provider_publish_offer::*;
pub use provider_register::*;
pub use provider_request_unstake::*;
pub use provider_stake::*;
pub use provider_update::*;
pub use provider_withdraw_stake::*;
