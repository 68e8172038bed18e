//! `hsmctl sign` and `hsmctl decrypt`: files in, files out. A plaintext from decrypt is
//! written mode 0600 and never printed.

use std::path::PathBuf;

use keyhold_client::Client;
use keyhold_client::v1::sign_request::Input;
use keyhold_client::v1::{DecryptRequest, SignRequest};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cli::{DecryptArgs, SignArgs};
use crate::error::CliError;
use crate::files;
use crate::output::{Render, base64};

/// A signature written to a file.
#[derive(Debug)]
pub(crate) struct Signed {
    key_id: String,
    scheme: String,
    node_id: u64,
    out: PathBuf,
    signature: Vec<u8>,
}

/// A plaintext written to a file (its bytes are not kept).
#[derive(Debug)]
pub(crate) struct Decrypted {
    key_id: String,
    scheme: String,
    node_id: u64,
    out: PathBuf,
    len: usize,
}

/// `sign`.
pub(crate) async fn sign(client: &Client, args: SignArgs) -> Result<Signed, CliError> {
    let bytes = files::read(&args.input)?;
    let input = if args.digest {
        Input::Digest(bytes)
    } else {
        Input::Message(bytes)
    };
    let request = SignRequest {
        key_id: args.key_id.clone(),
        scheme: args.scheme.clone(),
        input: Some(input),
        min_index: 0,
    };
    let response = client.sign(request).await?;
    files::write_public(&args.out, &response.signature)?;
    Ok(Signed {
        key_id: args.key_id,
        scheme: args.scheme,
        node_id: response.node_id,
        out: args.out,
        signature: response.signature,
    })
}

/// `decrypt`.
pub(crate) async fn decrypt(client: &Client, args: DecryptArgs) -> Result<Decrypted, CliError> {
    let request = DecryptRequest {
        key_id: args.key_id.clone(),
        scheme: args.scheme.clone(),
        ciphertext: files::read(&args.input)?,
        min_index: 0,
    };
    let response = client.decrypt(request).await?;
    let plaintext = Zeroizing::new(response.plaintext);
    files::write_private(&args.out, &plaintext)?;
    Ok(Decrypted {
        key_id: args.key_id,
        scheme: args.scheme,
        node_id: response.node_id,
        out: args.out,
        len: plaintext.len(),
    })
}

impl Render for Signed {
    fn text(&self) -> String {
        format!(
            "Signed with key {} ({}) on node {}: {} bytes written to {}",
            self.key_id,
            self.scheme,
            self.node_id,
            self.signature.len(),
            self.out.display()
        )
    }

    fn json(&self) -> Value {
        json!({
            "key_id": self.key_id,
            "scheme": self.scheme,
            "node_id": self.node_id,
            "out": self.out.to_string_lossy(),
            "bytes": self.signature.len(),
            "signature_base64": base64(&self.signature),
        })
    }
}

impl Render for Decrypted {
    fn text(&self) -> String {
        format!(
            "Decrypted with key {} ({}) on node {}: {} bytes written to {} (mode 0600)",
            self.key_id,
            self.scheme,
            self.node_id,
            self.len,
            self.out.display()
        )
    }

    fn json(&self) -> Value {
        json!({
            "key_id": self.key_id,
            "scheme": self.scheme,
            "node_id": self.node_id,
            "out": self.out.to_string_lossy(),
            "bytes": self.len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_json_carries_the_signature_in_base64() {
        let signed = Signed {
            key_id: "k-1".into(),
            scheme: "ed25519".into(),
            node_id: 2,
            out: PathBuf::from("sig.bin"),
            signature: vec![1, 2, 3, 255],
        };
        assert_eq!(
            signed.text(),
            "Signed with key k-1 (ed25519) on node 2: 4 bytes written to sig.bin"
        );
        let json = signed.json();
        assert_eq!(json["signature_base64"], "AQID/w==");
        assert_eq!(json["bytes"], 4);
        assert_eq!(json["node_id"], 2);
    }

    #[test]
    fn decrypted_output_never_holds_the_plaintext() {
        let done = Decrypted {
            key_id: "k-2".into(),
            scheme: "rsa-oaep-sha256".into(),
            node_id: 3,
            out: PathBuf::from("pt.bin"),
            len: 48,
        };
        assert_eq!(
            done.text(),
            "Decrypted with key k-2 (rsa-oaep-sha256) on node 3: 48 bytes written to pt.bin \
             (mode 0600)"
        );
        let json = done.json();
        assert_eq!(json["bytes"], 48);
        assert_eq!(json.as_object().map(|o| o.len()), Some(5));
    }
}
