//! The cluster key: wrapping, sealing at rest, handoff between nodes.
