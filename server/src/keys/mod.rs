//! Domain core of the key store: algorithms, records and commands. Imports nothing from
//! tonic or openraft; the network edges convert.

mod algorithm;
mod record;

pub use algorithm::{Algorithm, DecryptScheme, SignScheme, UnknownName, Usage};
#[allow(unused_imports)] // used by the raft and seal modules as they land
pub(crate) use record::b64;
pub use record::{Command, KeyRecord, KeyStoreState, Outcome, WrappedKey};
