//! `hsmd health`: a node checks itself the way a client would, by asking its own API
//! (`ClusterStatus`) over mutual TLS with its own node certificate, within a time bound.
//! It reads the node's config and TLS files only; it never reads the unseal secret and
//! never prints key material. The rules that turn the answer into a verdict live in
//! `verdict`; the exit code and output line are left to `main`.

mod verdict;

use std::error::Error as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use keyhold_proto::v1::cluster_service_client::ClusterServiceClient;
use keyhold_proto::v1::{ClusterStatusRequest, ClusterStatusResponse};
use tonic::transport::Endpoint;

pub use verdict::{Healthy, Mode, Unhealthy, judge};

use crate::config::Config;
use crate::tls::TlsMaterial;

/// Default bound on one check: connect, TLS handshake and the call together.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(3000);

/// A check of one node, built from that node's config.
#[derive(Debug)]
pub struct HealthCheck {
    node_id: u64,
    address: SocketAddr,
    tls: TlsMaterial,
    timeout: Duration,
}

impl HealthCheck {
    /// Reads the TLS files named in `config`; dials the node's own API listener.
    pub fn new(config: &Config, timeout: Duration) -> Result<Self, Unhealthy> {
        let tls = TlsMaterial::load(&config.tls)?;
        Ok(HealthCheck {
            node_id: config.node_id,
            address: dial_address(config)?,
            tls,
            timeout,
        })
    }

    /// The address the check dials.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Asks the node for its status and judges the answer in `mode`.
    pub async fn run(&self, mode: Mode) -> Result<Healthy, Unhealthy> {
        let ask = tokio::time::timeout(self.timeout, self.ask());
        let Ok(answer) = ask.await else {
            return Err(Unhealthy::Timeout {
                address: self.address.to_string(),
                millis: self.timeout.as_millis() as u64,
            });
        };
        judge(self.node_id, &answer?, mode)
    }

    async fn ask(&self) -> Result<ClusterStatusResponse, Unhealthy> {
        let unreachable = |reason: String| Unhealthy::Unreachable {
            address: self.address.to_string(),
            reason,
        };
        // The API listener requires a certificate of the cluster CA and does not tell node
        // certificates from client ones, so the node's own identity is a valid client
        // here. The server must present `node-<own id>`: the check talks to this node, not
        // to whatever else answers at the address.
        let endpoint = Endpoint::from_shared(format!("https://{}", self.address))
            .map_err(|e| unreachable(chain(&e)))?
            .tls_config(self.tls.peer_client_config(self.node_id))
            .map_err(|e| Unhealthy::TlsSetup { reason: chain(&e) })?
            .connect_timeout(self.timeout)
            .timeout(self.timeout);
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| unreachable(chain(&e)))?;
        let mut client = ClusterServiceClient::new(channel);
        let answer = client.cluster_status(ClusterStatusRequest {}).await;
        let status = answer.map_err(|s| unreachable(status_text(&s)))?;
        Ok(status.into_inner())
    }
}

/// The API listen address, with an unspecified IP (`0.0.0.0`, `[::]`) replaced by the
/// loopback address of its family. The listener is what this process owns; an advertised
/// name may be a proxy, a NAT or a DNS name that resolves only once the node is ready.
pub fn dial_address(config: &Config) -> Result<SocketAddr, Unhealthy> {
    let listen: SocketAddr =
        config
            .api_addr
            .parse()
            .map_err(|_| crate::config::ConfigError::Invalid {
                field: "api_addr",
                reason: "must be an IP:port socket address".into(),
            })?;
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(SocketAddr::new(ip, listen.port()))
}

/// Joins an error and its sources on one line, skipping repeats.
fn chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    one_line(&parts.join(": "))
}

fn status_text(status: &tonic::Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    if let Some(source) = status.source() {
        text = format!("{text}: {}", chain(source));
    }
    one_line(&text)
}

/// `text` on one line, every run of whitespace (newlines included) a single space: TOML
/// parse errors span several lines, and a health check prints exactly one.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn config_with_api_addr(api_addr: &str) -> Config {
        let text = format!(
            "node_id = 1\navailability_zone = \"az-a\"\napi_addr = \"{api_addr}\"\n\
             raft_addr = \"127.0.0.1:7200\"\ndata_dir = \"data\"\n\
             [tls]\nca = \"ca.pem\"\ncert = \"node.pem\"\nkey = \"node.key\"\n\
             [unseal]\nsecret_file = \"unseal.secret\"\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hsmd.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path, &Overrides::default()).unwrap()
    }

    #[test]
    fn a_wildcard_listener_is_dialled_on_loopback() {
        let v4 = dial_address(&config_with_api_addr("0.0.0.0:7100")).unwrap();
        assert_eq!(v4.to_string(), "127.0.0.1:7100");
        let v6 = dial_address(&config_with_api_addr("[::]:7100")).unwrap();
        assert_eq!(v6.to_string(), "[::1]:7100");
    }

    #[test]
    fn a_specific_listener_is_dialled_as_configured() {
        let addr = dial_address(&config_with_api_addr("10.1.2.3:7101")).unwrap();
        assert_eq!(addr.to_string(), "10.1.2.3:7101");
    }

    #[test]
    fn missing_tls_files_are_named_not_panicked_on() {
        let config = config_with_api_addr("127.0.0.1:7100");
        let err = HealthCheck::new(&config, DEFAULT_TIMEOUT).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("config: cannot read "), "{text}");
        assert!(text.contains("ca.pem"), "{text}");
    }

    #[test]
    fn multi_line_messages_become_one_line() {
        let text = "TOML parse error at line 1\n  |\n1 | x =\n  |    ^\nexpected a value\n";
        assert_eq!(
            one_line(text),
            "TOML parse error at line 1 | 1 | x = | ^ expected a value"
        );
    }
}
