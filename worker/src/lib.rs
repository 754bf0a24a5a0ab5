pub mod executor;
pub mod fetch;
pub mod journal;
pub mod server;
