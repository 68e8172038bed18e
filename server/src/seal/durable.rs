//! Small private files written durably (temp file in the same directory, fsync, rename,
//! fsync of the directory) and read with a size bound. Knows nothing of their content.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::SealError;

/// Replaces `path` with `contents`, mode 0600. After it returns, the new content survives
/// a crash; before, the old content (or no file) does.
pub(super) fn write_private(path: &Path, contents: &[u8]) -> Result<(), SealError> {
    let dir = parent_dir(path);
    let temp = temp_path(path)?;
    let result = write_and_sync(&temp, contents).and_then(|()| {
        std::fs::rename(&temp, path).map_err(|e| SealError::io(path, e))?;
        // The rename is durable only once the directory entry is on disk.
        sync_dir(dir)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Reads `path` whole; `None` when it does not exist; an error when larger than `max`.
pub(super) fn read_bounded(
    path: &Path,
    max: u64,
    what: &'static str,
) -> Result<Option<Vec<u8>>, SealError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SealError::io(path, e)),
    };
    let mut contents = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut contents)
        .map_err(|e| SealError::io(path, e))?;
    if contents.len() as u64 > max {
        return Err(SealError::Corrupt {
            what,
            detail: format!("larger than {max} bytes"),
        });
    }
    Ok(Some(contents))
}

fn write_and_sync(temp: &Path, contents: &[u8]) -> Result<(), SealError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .map_err(|e| SealError::io(temp, e))?;
    file.write_all(contents)
        .map_err(|e| SealError::io(temp, e))?;
    file.sync_all().map_err(|e| SealError::io(temp, e))
}

fn sync_dir(dir: &Path) -> Result<(), SealError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SealError::io(dir, e))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// A fresh, unguessable sibling of `path`, so that concurrent writers never share one.
fn temp_path(path: &Path) -> Result<PathBuf, SealError> {
    let Some(name) = path.file_name() else {
        let source = io::Error::new(io::ErrorKind::InvalidInput, "path has no file name");
        return Err(SealError::io(path, source));
    };
    let mut suffix = [0u8; 8];
    aws_lc_rs::rand::fill(&mut suffix).map_err(|_| SealError::crypto("random file name"))?;
    let mut temp = std::ffi::OsString::from(".");
    temp.push(name);
    temp.push(format!(".tmp-{}", hex::encode(suffix)));
    Ok(parent_dir(path).join(temp))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test fails by panicking
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn write_replaces_the_file_with_mode_0600_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

        write_private(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f"]);
    }

    #[test]
    fn write_into_a_missing_directory_fails_and_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("f");
        let err = write_private(&path, b"x").unwrap_err();
        assert!(matches!(&err, SealError::Io { path: p, .. } if p.starts_with(dir.path())));
    }

    #[test]
    fn read_of_an_absent_file_is_none_and_oversized_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        assert!(read_bounded(&path, 4, "test file").unwrap().is_none());
        std::fs::write(&path, b"12345").unwrap();
        assert!(matches!(
            read_bounded(&path, 4, "test file"),
            Err(SealError::Corrupt { .. })
        ));
        assert_eq!(
            read_bounded(&path, 5, "test file").unwrap().unwrap(),
            b"12345"
        );
    }
}
