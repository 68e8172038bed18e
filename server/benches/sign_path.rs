//! Signing hot path: a parsed key kept in the node's cache versus unwrapping (AES-GCM)
//! and parsing the PKCS#8 on every signature. Measured side by side in one run; prints
//! operations per second and the ratio. Run with `cargo bench -p keyhold-server`.

#![allow(clippy::unwrap_used)] // a benchmark fails by panicking

use std::time::{Duration, Instant};

use keyhold_server::crypto::{self, KeyMaterial, PrivateKey, SignInput};
use keyhold_server::keys::{Algorithm, SignScheme};
use keyhold_server::seal::{ClusterKey, WrapContext};

const RUN: Duration = Duration::from_secs(2);

fn rate(mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < RUN {
        op();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    println!(
        "{:<10} {:>14} {:>18} {:>8}",
        "algorithm", "cached sign/s", "unwrap+parse/s", "ratio"
    );
    let cluster_key = ClusterKey::generate().unwrap();
    let cases = [
        (Algorithm::EcP256, SignScheme::EcdsaSha256),
        (Algorithm::Ed25519, SignScheme::Ed25519),
        (Algorithm::Rsa2048, SignScheme::RsaPssSha256),
    ];
    for (algorithm, scheme) in cases {
        let (material, _) = crypto::generate(algorithm).unwrap();
        let ctx = WrapContext {
            key_id: "k-0000000000000001",
            version: 1,
            algorithm,
        };
        let wrapped = cluster_key.wrap(&ctx, material.as_der()).unwrap();
        let cached = PrivateKey::from_material(algorithm, &material).unwrap();
        let message = b"a TLS 1.3 CertificateVerify input is about this long......";

        let with_cache = rate(|| {
            cached.sign(scheme, SignInput::Message(message)).unwrap();
        });
        let without_cache = rate(|| {
            let der = cluster_key.unwrap_key(&ctx, &wrapped).unwrap();
            let key = PrivateKey::from_material(algorithm, &KeyMaterial::from_der(der)).unwrap();
            key.sign(scheme, SignInput::Message(message)).unwrap();
        });
        println!(
            "{:<10} {:>14.0} {:>18.0} {:>7.2}x",
            algorithm.name(),
            with_cache,
            without_cache,
            with_cache / without_cache
        );
    }
}
