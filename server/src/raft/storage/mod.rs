//! Durable Raft storage in one redb database per node: the log store and the state
//! machine store (key store in memory, snapshots persisted). redb commits are durable
//! (fsync) before they return, and nothing is acknowledged before its commit returns.

mod db;
mod log_store;
mod state_machine;
#[cfg(test)]
mod tests;

pub use db::{StoreError, open_database};
pub use log_store::LogStore;
pub use state_machine::{ApplyObserver, StateMachineStore};
