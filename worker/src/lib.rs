pub mod executor;
pub mod fetch;
