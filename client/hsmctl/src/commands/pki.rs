//! `hsmctl pki init` and `pki issue-client`: runs the PKI module and renders what it wrote.

use std::path::Path;

use serde_json::{Value, json};

use crate::output::Render;
use crate::pki::{self, InitOptions, Issued, PkiError, PkiReport};

impl Render for PkiReport {
    fn text(&self) -> String {
        let last = self.nodes.len();
        let mut text = format!("Wrote a development PKI to {}:\n", self.dir.display());
        text.push_str(&format!("  CA      {}\n", file_pair(&self.ca)));
        if last > 0 {
            text.push_str(&format!("  nodes   node-1 .. node-{last} (.pem, .key)\n"));
        }
        text.push_str(&format!(
            "  client  {} (CN {})",
            file_pair(&self.client),
            self.client.name
        ));
        text
    }

    fn json(&self) -> Value {
        json!({
            "dir": self.dir.to_string_lossy(),
            "ca": self.ca.json(),
            "nodes": self.nodes.iter().map(Render::json).collect::<Vec<_>>(),
            "client": self.client.json(),
        })
    }
}

impl Render for Issued {
    fn text(&self) -> String {
        format!(
            "Issued client certificate {}: {}",
            self.name,
            file_pair(self)
        )
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "cert": self.cert.to_string_lossy(),
            "key": self.key.to_string_lossy(),
        })
    }
}

/// `pki init`.
pub(crate) fn init(dir: &Path, options: &InitOptions) -> Result<PkiReport, PkiError> {
    pki::init(dir, options)
}

/// `pki issue-client`.
pub(crate) fn issue_client(dir: &Path, name: &str, force: bool) -> Result<Issued, PkiError> {
    pki::issue_client(dir, name, force)
}

fn file_pair(issued: &Issued) -> String {
    let name = |path: &Path| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    format!("{}, {}", name(&issued.cert), name(&issued.key))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn issued(stem: &str, name: &str) -> Issued {
        Issued {
            name: name.into(),
            cert: PathBuf::from(format!("/p/{stem}.pem")),
            key: PathBuf::from(format!("/p/{stem}.key")),
        }
    }

    fn report() -> PkiReport {
        PkiReport {
            dir: PathBuf::from("/p"),
            ca: issued("ca", "Keyhold development CA"),
            nodes: vec![issued("node-1", "node-1"), issued("node-2", "node-2")],
            client: issued("client", "hsmctl"),
        }
    }

    #[test]
    fn init_text_lists_ca_nodes_and_client() {
        let text = report().text();
        assert_eq!(
            text,
            "Wrote a development PKI to /p:\n  CA      ca.pem, ca.key\n  \
             nodes   node-1 .. node-2 (.pem, .key)\n  client  client.pem, client.key (CN hsmctl)"
        );
    }

    #[test]
    fn init_json_has_every_path() {
        let json = report().json();
        assert_eq!(json["dir"], "/p");
        assert_eq!(json["ca"]["key"], "/p/ca.key");
        assert_eq!(json["nodes"][1]["cert"], "/p/node-2.pem");
        assert_eq!(json["client"]["name"], "hsmctl");
    }
}
