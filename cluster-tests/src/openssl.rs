//! Independent verification with the `openssl` command-line tool.

use std::path::Path;
use std::process::Command;

/// Writes a DER SubjectPublicKeyInfo as PEM with `openssl pkey`.
pub fn spki_to_pem(dir: &Path, name: &str, spki_der: &[u8]) -> std::path::PathBuf {
    let der = dir.join(format!("{name}.pub.der"));
    let pem = dir.join(format!("{name}.pub.pem"));
    std::fs::write(&der, spki_der).expect("write spki");
    run(Command::new("openssl")
        .args(["pkey", "-pubin", "-inform", "DER", "-in"])
        .arg(&der)
        .arg("-out")
        .arg(&pem));
    pem
}

/// True when openssl accepts `signature` over `message` for `scheme` (Keyhold's names).
pub fn verify(
    dir: &Path,
    public_pem: &Path,
    scheme: &str,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let msg = dir.join("msg.bin");
    let sig = dir.join("sig.bin");
    std::fs::write(&msg, message).expect("write message");
    std::fs::write(&sig, signature).expect("write signature");
    let mut cmd = Command::new("openssl");
    if scheme == "ed25519" {
        cmd.args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
            .arg(public_pem);
        cmd.arg("-in").arg(&msg).arg("-sigfile").arg(&sig);
    } else {
        let hash = &scheme[scheme.len() - 6..];
        cmd.args(["dgst", &format!("-{hash}"), "-verify"])
            .arg(public_pem);
        if scheme.starts_with("rsa-pss") {
            cmd.args([
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:-1",
            ]);
        }
        cmd.arg("-signature").arg(&sig).arg(&msg);
    }
    let out = cmd.output().expect("openssl runs");
    out.status.success()
}

/// Runs a command and panics with its output if it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True when openssl accepts an ECDSA `signature` over a precomputed `digest`.
pub fn verify_ecdsa_digest(dir: &Path, public_pem: &Path, digest: &[u8], signature: &[u8]) -> bool {
    let dig = dir.join("digest.bin");
    let sig = dir.join("digest.sig");
    std::fs::write(&dig, digest).expect("write digest");
    std::fs::write(&sig, signature).expect("write signature");
    let out = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(public_pem)
        .arg("-in")
        .arg(&dig)
        .arg("-sigfile")
        .arg(&sig)
        .output()
        .expect("openssl runs");
    out.status.success()
}
