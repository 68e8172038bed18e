//! A node's unseal secret, read from a file, an environment variable, or given as bytes
//! (tests, an operator typing it into the CLI). Only the secret lives here; deriving a key
//! from it is `params`' job.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use zeroize::Zeroizing;

use super::SealError;

/// Largest secret file accepted: a secret is a passphrase or a few random bytes, not data.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// A node's unseal secret. Zeroized on drop; `Debug` shows only its length.
pub struct UnsealSecret(Zeroizing<Vec<u8>>);

impl UnsealSecret {
    /// Reads the secret from `path`, dropping one trailing newline (`\n` or `\r\n`).
    /// Refuses an empty secret. Warns (without the content) when the file is readable or
    /// writable by group or others.
    pub fn from_file(path: &Path) -> Result<Self, SealError> {
        let file = File::open(path).map_err(|e| SealError::io(path, e))?;
        let metadata = file.metadata().map_err(|e| SealError::io(path, e))?;
        if metadata.mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{:o}", metadata.mode() & 0o777),
                "unseal secret file is accessible to group or others; use mode 0600"
            );
        }
        if metadata.len() > MAX_SECRET_FILE {
            let detail = format!("{} bytes, more than {MAX_SECRET_FILE}", metadata.len());
            return Err(SealError::Corrupt {
                what: "unseal secret file",
                detail,
            });
        }

        // Read into a buffer sized up front so that no reallocation leaves a copy behind.
        let mut bytes = Zeroizing::new(Vec::with_capacity(metadata.len() as usize + 1));
        file.take(MAX_SECRET_FILE)
            .read_to_end(&mut bytes)
            .map_err(|e| SealError::io(path, e))?;
        trim_one_newline(&mut bytes);
        Self::non_empty(bytes, || format!("file {}", path.display()))
    }

    /// Reads the secret from the environment variable `var` (taken as is, no trimming).
    /// Refuses a missing or empty variable.
    pub fn from_env(var: &str) -> Result<Self, SealError> {
        use std::os::unix::ffi::OsStringExt;

        let Some(value) = std::env::var_os(var) else {
            return Err(SealError::MissingEnv {
                var: var.to_owned(),
            });
        };
        // LIMITATION: the variable stays in the process environment (removing it needs
        // `unsafe` in edition 2024, which the workspace forbids), and std keeps its own copy.
        let bytes = Zeroizing::new(value.into_vec());
        Self::non_empty(bytes, || format!("environment variable {var}"))
    }

    /// Takes the secret as given (tests, CLI prompt). Emptiness is checked when sealing.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        UnsealSecret(Zeroizing::new(bytes))
    }

    /// The secret bytes, for key derivation inside this module.
    pub(super) fn expose(&self) -> &[u8] {
        &self.0
    }

    /// True when the secret has no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn non_empty(
        bytes: Zeroizing<Vec<u8>>,
        origin: impl FnOnce() -> String,
    ) -> Result<Self, SealError> {
        if bytes.is_empty() {
            return Err(SealError::EmptySecret { origin: origin() });
        }
        Ok(UnsealSecret(bytes))
    }
}

impl fmt::Debug for UnsealSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnsealSecret({} bytes, redacted)", self.0.len())
    }
}

fn trim_one_newline(bytes: &mut Vec<u8>) {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test fails by panicking
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn secret_file(dir: &tempfile::TempDir, content: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join("secret");
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    #[test]
    fn file_secret_loses_exactly_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&[u8], &[u8]); 4] = [
            (b"hunter2\n", b"hunter2"),
            (b"hunter2\r\n", b"hunter2"),
            (b"hunter2\n\n", b"hunter2\n"),
            (b" pass phrase ", b" pass phrase "),
        ];
        for (content, expected) in cases {
            let secret = UnsealSecret::from_file(&secret_file(&dir, content)).unwrap();
            assert_eq!(secret.expose(), expected);
        }
    }

    #[test]
    fn group_readable_secret_file_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = secret_file(&dir, b"hunter2\n");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(UnsealSecret::from_file(&path).unwrap().expose(), b"hunter2");
    }

    #[test]
    fn empty_file_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for content in [&b""[..], b"\n"] {
            let err = UnsealSecret::from_file(&secret_file(&dir, content)).unwrap_err();
            let origin_named =
                matches!(&err, SealError::EmptySecret { origin } if origin.contains("secret"));
            assert!(origin_named, "{err:?}");
        }
    }

    #[test]
    fn missing_secret_file_is_an_io_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent");
        let err = UnsealSecret::from_file(&path).unwrap_err();
        assert!(
            matches!(&err, SealError::Io { path: p, .. } if *p == path),
            "{err:?}"
        );
    }

    #[test]
    fn oversized_secret_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = secret_file(&dir, &vec![b'a'; MAX_SECRET_FILE as usize + 1]);
        let err = UnsealSecret::from_file(&path).unwrap_err();
        assert!(matches!(
            err,
            SealError::Corrupt {
                what: "unseal secret file",
                ..
            }
        ));
    }

    #[test]
    fn missing_environment_variable_is_refused() {
        // Setting a variable needs `unsafe` (forbidden here), so only absence is tested.
        let err = UnsealSecret::from_env("KEYHOLD_TEST_SURELY_UNSET_7f3a").unwrap_err();
        assert!(matches!(&err, SealError::MissingEnv { var } if var.ends_with("7f3a")));
    }

    #[test]
    fn environment_secret_is_taken_as_is() {
        // PATH is set in any test environment; reading it proves the lookup path works.
        let path = std::env::var_os("PATH").unwrap();
        let secret = UnsealSecret::from_env("PATH").unwrap();
        assert_eq!(secret.expose(), path.as_encoded_bytes());
    }

    #[test]
    fn debug_shows_only_the_length() {
        let secret = UnsealSecret::from_bytes(b"correct horse".to_vec());
        let text = format!("{secret:?} {secret:#?}");
        assert_eq!(format!("{secret:?}"), "UnsealSecret(13 bytes, redacted)");
        assert!(!text.contains("horse"));
    }
}
