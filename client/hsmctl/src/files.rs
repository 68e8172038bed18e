//! File helpers shared by the commands: private files created with mode 0600 from the
//! start (never widened then narrowed), public files, and reads whose errors name the path.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// An I/O failure on a named file.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub(crate) struct FileError {
    /// What was being done: "read", "write", "create directory", ...
    pub(crate) action: &'static str,
    /// The file.
    pub(crate) path: PathBuf,
    /// The I/O error.
    #[source]
    pub(crate) source: io::Error,
}

impl FileError {
    /// A closure that wraps an `io::Error` for `path`.
    pub(crate) fn on(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> FileError {
        let path = path.to_path_buf();
        move |source| FileError {
            action,
            path,
            source,
        }
    }
}

/// Writes a file only its owner may read (mode 0600), replacing any existing file.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    // Remove first: opening an existing file keeps its old, possibly wider, mode.
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(FileError::on("replace", path)(err)),
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(FileError::on("create", path))?;
    file.write_all(bytes)
        .map_err(FileError::on("write", path))?;
    file.sync_all().map_err(FileError::on("write", path))
}

/// Writes a file anyone may read (certificates, configs), replacing any existing file.
pub(crate) fn write_public(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    fs::write(path, bytes).map_err(FileError::on("write", path))
}

/// Reads a whole file.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, FileError> {
    fs::read(path).map_err(FileError::on("read", path))
}

/// Creates a directory and its parents.
pub(crate) fn create_dir(path: &Path) -> Result<(), FileError> {
    fs::create_dir_all(path).map_err(FileError::on("create directory", path))
}

/// The permission bits of a file.
#[cfg(test)]
pub(crate) fn mode(path: &Path) -> Result<u32, FileError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(FileError::on("inspect", path))?;
    Ok(meta.permissions().mode() & 0o777)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn private_file_is_owner_only_even_when_replacing_a_wider_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();

        write_private(&path, b"new").unwrap();

        assert_eq!(mode(&path).unwrap(), 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn read_error_names_the_path() {
        let err = read(Path::new("/nonexistent/keyhold/file.pem")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("cannot read /nonexistent/keyhold/file.pem: "),
            "{text}"
        );
    }
}
