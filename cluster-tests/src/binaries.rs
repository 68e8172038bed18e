//! Locates `hsmd` and `hsmctl`, building them once per test process so that
//! `cargo test --workspace` alone is enough.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Paths of the two binaries under test.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// The node.
    pub hsmd: PathBuf,
    /// The operator CLI.
    pub hsmctl: PathBuf,
}

/// Builds (if needed) and returns the binaries of this workspace's profile.
pub fn binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(|| {
        cargo_build(
            &["--bins", "-p", "keyhold-server", "-p", "keyhold-hsmctl"],
            "hsmd and hsmctl",
        );
        let dir = target_dir();
        let bins = Binaries {
            hsmd: dir.join("hsmd"),
            hsmctl: dir.join("hsmctl"),
        };
        assert!(bins.hsmd.exists(), "missing {}", bins.hsmd.display());
        assert!(bins.hsmctl.exists(), "missing {}", bins.hsmctl.display());
        bins
    })
}

/// `cargo build --quiet ARGS` in this workspace, with the cargo that runs the tests;
/// panics naming `what` if it fails.
pub(crate) fn cargo_build(args: &[&str], what: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(cargo)
        .current_dir(&workspace)
        .args(["build", "--quiet"])
        .args(args)
        .status()
        .unwrap_or_else(|err| panic!("cargo build of {what} could not start: {err}"));
    assert!(status.success(), "cargo build of {what} failed");
}

/// target/<profile>: the test executable lives in target/<profile>/deps.
pub(crate) fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}
