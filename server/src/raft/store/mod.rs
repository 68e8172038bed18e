//! redb-backed Raft log and state machine.

/// Placeholder until the store lands.
#[derive(Clone, Debug)]
pub struct StateMachineStore;
