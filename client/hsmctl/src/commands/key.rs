//! `hsmctl key ...`: generate, import, list, show, public, destroy.

use std::path::{Path, PathBuf};

use keyhold_client::Client;
use keyhold_client::v1::{
    DestroyKeyRequest, GenerateKeyRequest, GetKeyRequest, ImportKeyRequest, KeyInfo,
    KeyWriteResponse, ListKeysRequest,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::Usage;
use crate::error::CliError;
use crate::files;
use crate::output::{Render, base64, pem, table};

/// A generated or imported key and the log index of the write.
#[derive(Debug)]
pub(crate) struct Written {
    verb: &'static str,
    key: KeyInfo,
    index: u64,
}

/// A page of keys (or every page with `--all`).
#[derive(Debug)]
pub(crate) struct Listing {
    keys: Vec<KeyInfo>,
    next_page_token: String,
}

/// One key's metadata.
#[derive(Debug)]
pub(crate) struct Shown(KeyInfo);

/// A key's public key as PEM, printed or written to a file.
#[derive(Debug)]
pub(crate) struct Public {
    key: KeyInfo,
    out: Option<PathBuf>,
}

/// A destroyed key.
#[derive(Debug)]
pub(crate) struct Destroyed {
    key_id: String,
    index: u64,
}

/// `key generate`.
pub(crate) async fn generate(
    client: &Client,
    algorithm: &str,
    label: &str,
    usage: Usage,
) -> Result<Written, CliError> {
    let request = GenerateKeyRequest {
        algorithm: algorithm.to_string(),
        label: label.to_string(),
        usage: usage.as_str().to_string(),
    };
    written("Generated", client.generate_key(request).await?)
}

/// `key import`: the file's bytes go to the cluster as they are (the server parses them).
pub(crate) async fn import(
    client: &Client,
    file: &Path,
    label: &str,
    usage: Usage,
) -> Result<Written, CliError> {
    // The client library wipes the request's key bytes once the call is over.
    let request = ImportKeyRequest {
        private_key: files::read(file)?,
        label: label.to_string(),
        usage: usage.as_str().to_string(),
    };
    written("Imported", client.import_key(request).await?)
}

/// `key list`: one page, or with `all` every page.
pub(crate) async fn list(
    client: &Client,
    label: Option<String>,
    page_size: Option<u32>,
    page_token: Option<String>,
    all: bool,
) -> Result<Listing, CliError> {
    let mut request = ListKeysRequest {
        page_size: page_size.unwrap_or(0),
        page_token: page_token.unwrap_or_default(),
        label: label.unwrap_or_default(),
        min_index: 0,
    };
    let mut keys = Vec::new();
    loop {
        let page = client.list_keys(request.clone()).await?;
        keys.extend(page.keys);
        if !all || page.next_page_token.is_empty() {
            return Ok(Listing {
                keys,
                next_page_token: page.next_page_token,
            });
        }
        if page.next_page_token == request.page_token {
            return Err(CliError::PageLoop {
                token: page.next_page_token,
            });
        }
        request.page_token = page.next_page_token;
    }
}

/// `key show`.
pub(crate) async fn show(client: &Client, id: &str) -> Result<Shown, CliError> {
    Ok(Shown(fetch(client, id).await?))
}

/// `key public`: writes the PEM to `out` when given.
pub(crate) async fn public(
    client: &Client,
    id: &str,
    out: Option<PathBuf>,
) -> Result<Public, CliError> {
    let key = fetch(client, id).await?;
    if let Some(path) = &out {
        files::write_public(path, spki_pem(&key).as_bytes())?;
    }
    Ok(Public { key, out })
}

/// `key destroy`.
pub(crate) async fn destroy(client: &Client, id: &str) -> Result<Destroyed, CliError> {
    let response = client
        .destroy_key(DestroyKeyRequest {
            key_id: id.to_string(),
        })
        .await?;
    Ok(Destroyed {
        key_id: id.to_string(),
        index: response.index,
    })
}

async fn fetch(client: &Client, id: &str) -> Result<KeyInfo, CliError> {
    Ok(client
        .get_key(GetKeyRequest {
            key_id: id.to_string(),
            min_index: 0,
        })
        .await?)
}

fn written(verb: &'static str, response: KeyWriteResponse) -> Result<Written, CliError> {
    let key = response
        .key
        .ok_or(CliError::IncompleteAnswer { field: "key" })?;
    Ok(Written {
        verb,
        key,
        index: response.index,
    })
}

fn spki_pem(key: &KeyInfo) -> String {
    pem("PUBLIC KEY", &key.public_key_der)
}

/// Unix seconds as RFC 3339 UTC, or the number itself when out of range.
fn timestamp(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

fn key_json(key: &KeyInfo) -> Value {
    json!({
        "id": key.id,
        "label": key.label,
        "algorithm": key.algorithm,
        "usage": key.usage,
        "version": key.version,
        "imported": key.imported,
        "created_at": key.created_at,
        "created_index": key.created_index,
        "public_key_der_base64": base64(&key.public_key_der),
    })
}

impl Render for Written {
    fn text(&self) -> String {
        let key = &self.key;
        format!(
            "{} key {} ({}, {}, label {:?}) at index {}",
            self.verb, key.id, key.algorithm, key.usage, key.label, self.index
        )
    }

    fn json(&self) -> Value {
        json!({ "key": key_json(&self.key), "index": self.index })
    }
}

impl Render for Listing {
    fn text(&self) -> String {
        if self.keys.is_empty() {
            return "No keys.".to_string();
        }
        let rows: Vec<Vec<String>> = self
            .keys
            .iter()
            .map(|k| {
                let created = timestamp(k.created_at);
                let version = k.version.to_string();
                vec![
                    k.id.clone(),
                    k.algorithm.clone(),
                    k.usage.clone(),
                    version,
                    created,
                    k.label.clone(),
                ]
            })
            .collect();
        let mut text = table(
            &["ID", "ALGORITHM", "USAGE", "VERSION", "CREATED", "LABEL"],
            &rows,
        );
        if !self.next_page_token.is_empty() {
            text.push_str(&format!(
                "\nMore keys: --page-token {} (or --all)",
                self.next_page_token
            ));
        }
        text
    }

    fn json(&self) -> Value {
        let keys: Vec<Value> = self.keys.iter().map(key_json).collect();
        json!({ "keys": keys, "next_page_token": self.next_page_token })
    }
}

impl Render for Shown {
    fn text(&self) -> String {
        let key = &self.0;
        let imported = if key.imported { "yes" } else { "no" };
        [
            format!("id             {}", key.id),
            format!("label          {}", key.label),
            format!("algorithm      {}", key.algorithm),
            format!("usage          {}", key.usage),
            format!("version        {}", key.version),
            format!("imported       {imported}"),
            format!("created        {}", timestamp(key.created_at)),
            format!("created index  {}", key.created_index),
        ]
        .join("\n")
    }

    fn json(&self) -> Value {
        key_json(&self.0)
    }
}

impl Render for Public {
    fn text(&self) -> String {
        match &self.out {
            Some(path) => format!(
                "Wrote the public key of {} to {}",
                self.key.id,
                path.display()
            ),
            None => spki_pem(&self.key).trim_end().to_string(),
        }
    }

    fn json(&self) -> Value {
        json!({
            "key_id": self.key.id,
            "algorithm": self.key.algorithm,
            "public_key_pem": spki_pem(&self.key),
            "out": self.out.as_ref().map(|p| p.to_string_lossy()),
        })
    }
}

impl Render for Destroyed {
    fn text(&self) -> String {
        format!("Destroyed key {} (log index {})", self.key_id, self.index)
    }

    fn json(&self) -> Value {
        json!({ "key_id": self.key_id, "destroyed": true, "index": self.index })
    }
}

#[cfg(test)]
mod tests;
