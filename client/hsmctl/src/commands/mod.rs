//! The commands that talk to a cluster (and the PKI commands' printing): each turns parsed
//! arguments into calls and returns a result that renders as text or JSON.

pub(crate) mod audit;
pub(crate) mod cert;
pub(crate) mod cluster;
pub(crate) mod crypto;
pub(crate) mod drill;
pub(crate) mod key;
pub(crate) mod pki;

use std::path::Path;

use keyhold_client::{Client, ClientConfig};

use crate::error::CliError;

/// Loads the client config file and connects (lazily) to the cluster it names.
pub(crate) async fn connect(config_path: &Path) -> Result<Client, CliError> {
    let config = ClientConfig::from_file(config_path).map_err(|source| CliError::ClientConfig {
        path: config_path.to_path_buf(),
        source,
    })?;
    Ok(Client::connect(config).await?)
}
