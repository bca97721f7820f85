//! A gateway that runs out of memory: clawhost runs in a memory cgroup with a ceiling (as the
//! shipped unit's MemoryMax gives it), the gateway grows past it, and the kernel's OOM killer
//! takes the gateway (its first choice), not clawhost, which says why and does not start it
//! again into the same wall.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::gateway::wait_for_state;
use crate::harness::{Options, TestServer};

/// A memory cgroup under this process's own, removed when dropped.
struct MemoryCgroup(PathBuf);

impl MemoryCgroup {
    /// A child of this process's memory cgroup (v1, or v2 with the memory controller)
    /// limited to `bytes`.
    fn new(bytes: u64) -> Result<Self, String> {
        let cgroups = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
        let name = format!("clawhost-oom-{}", std::process::id());
        for line in cgroups.lines() {
            let mut fields = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let path = path.trim_end_matches('/');
            let (dir, limit) = if controllers.split(',').any(|c| c == "memory") {
                (
                    format!("/sys/fs/cgroup/memory{path}"),
                    "memory.limit_in_bytes",
                )
            } else if controllers.is_empty() {
                (format!("/sys/fs/cgroup{path}"), "memory.max")
            } else {
                continue;
            };
            let dir = Path::new(&dir).join(&name);
            if std::fs::create_dir(&dir).is_err() {
                continue;
            }
            let group = Self(dir);
            if std::fs::write(group.0.join(limit), bytes.to_string()).is_ok() {
                return Ok(group);
            }
        }
        Err(format!("no memory cgroup could be made under {cgroups}"))
    }

    fn enter(&self, pid: u32) {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string()).expect("move into cgroup");
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // Its processes are gone by now (the server is stopped first); the kernel may take a
        // moment to let the directory go.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A stand-in for the gateway that passes the configuration check and then only grows.
fn memory_hog(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("hungry-gateway");
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         if [ \"$1\" = config ]; then echo '{\"valid\":true,\"warnings\":[]}'; exit 0; fi\n\
         exec python3 -c 'import time\nheld = []\nwhile True:\n    held.append(bytearray(16 << 20))\n    time.sleep(0.01)'\n",
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

#[tokio::test]
async fn a_gateway_out_of_memory_is_named_and_clawhost_survives() {
    if !nix::unistd::geteuid().is_root() {
        // Making a memory cgroup needs root (CI runs as root).
        return;
    }
    let cgroup = MemoryCgroup::new(256 << 20).expect("a memory cgroup (CI runs as root)");
    let dir = tempfile::tempdir().expect("dir");
    let hog = memory_hog(dir.path());
    let mut server = TestServer::start_with(Options {
        env: vec![("CLAWHOST_GATEWAY_COMMAND".into(), hog.display().to_string())],
        ..Options::default()
    });
    cgroup.enter(server.pid());
    let owner = server.claimed().await;
    let saved = owner
        .put(
            "/api/gateway/settings",
            &json!({"provider": "openai-compatible", "api_key": "sk-test-oom", "base_url": "http://127.0.0.1:9/v1", "model": "m"}),
        )
        .await;
    assert_eq!(saved.status(), 200);
    server.secret("sk-test-oom");
    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);

    let status = wait_for_state(&owner, "needs_attention").await;
    let reason = status["attention"]["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("The gateway ran out of memory"),
        "{reason}"
    );
    // clawhost itself was spared and still answers.
    assert_eq!(owner.get("/healthz").await.status(), 200);
    assert!(server.stop().success());
    drop(cgroup);
}
