//! Supervisor tests with a stand-in `hsmd`: a shell script of that name, so that the
//! process-name check sees "hsmd" without the real server.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use super::*;

/// A script named `hsmd` in `dir` with the given body.
fn fake_hsmd(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("hsmd");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

const SERVES_UNTIL_TERM: &str = "trap 'echo stopping; exit 0' TERM\n\
     echo \"started $*\"\nwhile :; do sleep 0.05; done";

fn node(dir: &Path, id: u64) -> NodeLayout {
    let node_dir = dir.join(format!("node-{id}"));
    std::fs::create_dir_all(&node_dir).unwrap();
    NodeLayout {
        id,
        az: "az-a".into(),
        api_addr: "127.0.0.1:1".into(),
        raft_addr: "127.0.0.1:2".into(),
        dir: node_dir,
    }
}

/// Starts a node, retrying while the just-written script is busy (ETXTBSY): another
/// test thread may have forked while our write handle was open.
fn start(supervisor: &mut Supervisor, hsmd: &Path, node: &NodeLayout) -> u32 {
    for _ in 0..50 {
        match supervisor.start(hsmd, node) {
            Ok(pid) => return pid,
            Err(DevError::Spawn { source, .. }) if source.raw_os_error() == Some(26) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(err) => panic!("{err}"),
        }
    }
    panic!("script stayed busy");
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn started_node_gets_its_config_a_log_and_a_pid_file_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let hsmd = fake_hsmd(tmp.path(), SERVES_UNTIL_TERM);
    let node = node(tmp.path(), 1);
    let mut supervisor = Supervisor::new();

    let pid = start(&mut supervisor, &hsmd, &node);
    assert_eq!(
        std::fs::read_to_string(node.pid_path()).unwrap(),
        format!("{pid}\n")
    );
    let log = || std::fs::read_to_string(node.log_path()).unwrap_or_default();
    wait_for("the start line", || log().contains("started")).await;
    let expected = format!("started --config {}", node.config_path().display());
    assert!(log().contains(&expected), "{}", log());
    assert!(is_running_hsmd(pid));

    let exits = supervisor.stop().await;
    assert_eq!(exits.len(), 1);
    assert!(exits[0].success, "{}", exits[0].status);
    assert_eq!(exits[0].status, "exit status 0");
    assert!(!node.pid_path().exists());
    assert!(log().contains("stopping"), "{}", log());
    assert_eq!(supervisor.running(), 0);
}

#[tokio::test]
async fn a_node_that_exits_on_its_own_is_reported_with_its_status() {
    let tmp = tempfile::tempdir().unwrap();
    let hsmd = fake_hsmd(tmp.path(), "echo 'cannot bind' >&2\nexit 3");
    let node = node(tmp.path(), 2);
    let mut supervisor = Supervisor::new();

    let pid = start(&mut supervisor, &hsmd, &node);
    let exit = supervisor.next_exit().await.unwrap();
    assert_eq!((exit.id, exit.pid, exit.success), (2, pid, false));
    assert_eq!(exit.status, "exit status 3");
    assert!(!node.pid_path().exists());
    assert!(
        std::fs::read_to_string(node.log_path())
            .unwrap()
            .contains("cannot bind")
    );
    assert!(supervisor.next_exit().await.is_none());
}

#[test]
fn hsmd_gets_its_config_and_no_overriding_variables() {
    let tmp = tempfile::tempdir().unwrap();
    let node = node(tmp.path(), 3);
    let command = hsmd_command(Path::new("/opt/hsmd"), &node);
    let command = command.as_std();

    assert_eq!(command.get_program(), "/opt/hsmd");
    let args: Vec<&std::ffi::OsStr> = command.get_args().collect();
    assert_eq!(
        args,
        vec![
            std::ffi::OsStr::new("--config"),
            node.config_path().as_os_str()
        ]
    );
    let removed: Vec<&std::ffi::OsStr> = command
        .get_envs()
        .filter(|(_, value)| value.is_none())
        .map(|(key, _)| key)
        .collect();
    for var in HSMD_OVERRIDE_ENV {
        assert!(
            removed.contains(&std::ffi::OsStr::new(var)),
            "{var} is not removed"
        );
    }
}

#[tokio::test]
async fn down_stops_a_running_hsmd_and_leaves_other_processes_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let hsmd = fake_hsmd(tmp.path(), SERVES_UNTIL_TERM);
    let (running, stale) = (node(tmp.path(), 1), node(tmp.path(), 2));
    let mut supervisor = Supervisor::new();
    let pid = start(&mut supervisor, &hsmd, &running);
    let log = || std::fs::read_to_string(running.log_path()).unwrap_or_default();
    wait_for("the start line", || log().contains("started")).await;
    // A pid file naming this test process, which is not an hsmd.
    std::fs::write(stale.pid_path(), format!("{}\n", std::process::id())).unwrap();

    let nodes = vec![(1, running.pid_path()), (2, stale.pid_path())];
    let report = stop_by_pid_files(&nodes).await;

    assert_eq!(
        report,
        vec![
            Stopped::Stopped {
                id: 1,
                pid,
                killed: false
            },
            Stopped::Stale {
                id: 2,
                pid: std::process::id()
            },
        ]
    );
    let exit = supervisor.next_exit().await.unwrap();
    assert!(exit.success, "{}", exit.status);
    assert!(!running.pid_path().exists() && !stale.pid_path().exists());
}

#[tokio::test]
async fn a_running_hsmd_in_the_pid_file_blocks_a_second_start() {
    let tmp = tempfile::tempdir().unwrap();
    let hsmd = fake_hsmd(tmp.path(), SERVES_UNTIL_TERM);
    let node = node(tmp.path(), 1);
    let mut supervisor = Supervisor::new();
    let pid = start(&mut supervisor, &hsmd, &node);

    let nodes = [node.clone()];
    let err = check_not_running(&nodes, tmp.path()).unwrap_err();
    assert!(
        matches!(err, DevError::AlreadyRunning { pid: p, .. } if p == pid),
        "{err}"
    );
    assert!(err.to_string().contains("hsmctl dev down"));

    supervisor.stop().await;
    std::fs::write(node.pid_path(), format!("{pid}\n")).unwrap();
    check_not_running(&nodes, tmp.path()).unwrap();
    assert!(!node.pid_path().exists(), "the stale pid file is removed");
}

#[test]
fn find_hsmd_prefers_the_given_path_and_says_where_it_looked() {
    let tmp = tempfile::tempdir().unwrap();
    let hsmd = fake_hsmd(tmp.path(), "exit 0");
    assert_eq!(find_hsmd(Some(&hsmd)).unwrap(), hsmd);

    let missing = tmp.path().join("nope/hsmd");
    let err = find_hsmd(Some(&missing)).unwrap_err();
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("--hsmd"), "{err}");
}

#[test]
fn this_test_process_is_not_an_hsmd() {
    assert!(!is_running_hsmd(std::process::id()));
    assert!(!is_running_hsmd(u32::MAX));
}
