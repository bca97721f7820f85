//! Where the gateway's files live: OpenClaw's state directory (its config, log and channel
//! credentials) inside clawhost's data directory, and the runtime.

use std::path::PathBuf;

pub(crate) struct Paths {
    pub(crate) data_dir: PathBuf,
    pub(crate) runtime_dir: PathBuf,
}

impl Paths {
    pub(crate) fn state_dir(&self) -> PathBuf {
        self.data_dir.join("openclaw")
    }

    pub(crate) fn config_file(&self) -> PathBuf {
        self.state_dir().join("openclaw.json")
    }

    pub(crate) fn log_file(&self) -> PathBuf {
        self.state_dir().join("logs/openclaw.log")
    }

    /// The running gateway's pid (= its process group), so a gateway left behind by a
    /// clawhost that was killed can be found and stopped at the next start.
    pub(crate) fn pid_file(&self) -> PathBuf {
        // In clawhost's own directory: OpenClaw manages its state directory itself.
        self.data_dir.join("gateway.pid")
    }
}
