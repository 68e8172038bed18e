//! Throwaway TLS material for unit tests: a CA and a client certificate it signed.

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use crate::config::ClientConfig;

/// A config with fresh, valid TLS material and the given endpoints.
pub(crate) fn config(endpoints: Vec<String>) -> ClientConfig {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["client".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let key_pem = key.serialize_pem().into_bytes();
    ClientConfig::new(
        endpoints,
        ca_cert.pem().into_bytes(),
        cert.pem().into_bytes(),
        key_pem,
    )
}
