//! What the end of a gateway run means, and when to try again: exponential backoff after a
//! crash, and giving up ("needs attention") after a configuration error or too many crashes
//! in a window. Pure: time comes in as arguments.

use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, Instant};

/// First pause before restarting a crashed gateway; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_mins(1);
/// This many crashes within [`CRASH_WINDOW`] stop the automatic restarts.
pub(crate) const CRASH_LIMIT: usize = 5;
const CRASH_WINDOW: Duration = Duration::from_mins(10);
/// A run that stayed up this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_mins(1);
/// OpenClaw's exit code for a configuration it refuses (EX_CONFIG).
const EXIT_CONFIG: i32 = 78;

/// How one run of the gateway process ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The owner (or clawhost's shutdown) stopped it.
    Stopped,
    /// It cannot work until the owner changes something.
    Attention(String),
    /// It exited or never became ready: restart after a pause.
    Crashed(String),
}

/// What an exit (`code` or `signal`) `when` (e.g. "while running") means.
pub(crate) fn after_exit(
    code: Option<i32>,
    signal: Option<i32>,
    when: &str,
    config_file: &Path,
) -> Ended {
    match (code, signal) {
        (Some(EXIT_CONFIG), _) => Ended::Attention(format!(
            "OpenClaw refused its configuration (exit 78) {when}; see the log lines below, fix {} and start again",
            config_file.display()
        )),
        (Some(code), _) => Ended::Crashed(format!("the gateway exited with code {code} {when}")),
        (None, Some(signal)) => {
            Ended::Crashed(format!("the gateway was killed by signal {signal} {when}"))
        }
        _ => Ended::Crashed(format!("the gateway ended {when}")),
    }
}

/// What Node prints when V8's heap reaches `--max-old-space-size`, just before it aborts.
pub(crate) const HEAP_EXHAUSTED: &str = "JavaScript heap out of memory";
/// How many of the last log lines are looked at for it.
pub(crate) const HEAP_LINES: usize = 40;
pub(crate) const SIGKILL: i32 = 9;

/// Whether a run ended because memory ran out, and so needs the owner rather than a restart
/// that would run out again.
pub(crate) struct OutOfMemory {
    /// Killed (SIGKILL) while the cgroup's OOM-kill count went up.
    pub(crate) oom_killed: bool,
    /// Node said its heap was exhausted.
    pub(crate) heap_exhausted: bool,
    /// `gateway.node_heap_mb` (0: Node's own limit).
    pub(crate) heap_mb: u32,
}

impl OutOfMemory {
    pub(crate) fn reason(&self, when: &str) -> Option<String> {
        if self.oom_killed {
            return Some(format!(
                "The gateway ran out of memory: the kernel stopped it {when} to keep the server running. Give the server more memory (or swap), then start it again."
            ));
        }
        if self.heap_exhausted {
            let limit = if self.heap_mb > 0 {
                format!("gateway.node_heap_mb, {} MiB", self.heap_mb)
            } else {
                "Node's default".to_string()
            };
            return Some(format!(
                "The gateway ran out of memory: its JavaScript heap reached its limit ({limit}) {when}. Raise gateway.node_heap_mb if the server has the memory, then start it again."
            ));
        }
        None
    }
}

/// The restart policy's memory: recent crashes and the current backoff.
pub(crate) struct Restarts {
    crashes: VecDeque<Instant>,
    backoff: Duration,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterCrash {
    RestartIn(Duration),
    GiveUp,
}

impl Restarts {
    pub(crate) fn new() -> Self {
        Self {
            crashes: VecDeque::new(),
            backoff: FIRST_BACKOFF,
        }
    }

    /// A run that began at `began` crashed at `now`.
    pub(crate) fn crashed(&mut self, began: Instant, now: Instant) -> AfterCrash {
        self.crashes.push_back(now);
        while self
            .crashes
            .front()
            .is_some_and(|at| now.duration_since(*at) > CRASH_WINDOW)
        {
            self.crashes.pop_front();
        }
        if self.crashes.len() >= CRASH_LIMIT {
            return AfterCrash::GiveUp;
        }
        if now.duration_since(began) >= STABLE_AFTER {
            self.backoff = FIRST_BACKOFF;
        }
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        AfterCrash::RestartIn(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_memory_says_which_memory() {
        let killed = OutOfMemory {
            oom_killed: true,
            heap_exhausted: false,
            heap_mb: 1024,
        };
        let reason = killed.reason("while running").expect("a reason");
        assert!(
            reason.starts_with("The gateway ran out of memory"),
            "{reason}"
        );
        assert!(reason.contains("more memory"), "{reason}");
        let heap = OutOfMemory {
            oom_killed: false,
            heap_exhausted: true,
            heap_mb: 1024,
        };
        let reason = heap.reason("while running").expect("a reason");
        assert!(
            reason.contains("gateway.node_heap_mb, 1024 MiB"),
            "{reason}"
        );
        let neither = OutOfMemory {
            oom_killed: false,
            heap_exhausted: false,
            heap_mb: 0,
        };
        assert_eq!(neither.reason("while running"), None);
    }

    #[test]
    fn backoff_doubles_to_a_minute_and_five_fast_crashes_give_up() {
        let mut restarts = Restarts::new();
        let start = Instant::now();
        let mut now = start;
        let mut waits = Vec::new();
        for _ in 0..4 {
            match restarts.crashed(now, now + Duration::from_secs(1)) {
                AfterCrash::RestartIn(wait) => waits.push(wait.as_secs()),
                AfterCrash::GiveUp => panic!("gave up too early"),
            }
            now += Duration::from_secs(5);
        }
        assert_eq!(waits, [1, 2, 4, 8]);
        assert_eq!(restarts.crashed(now, now), AfterCrash::GiveUp);
    }

    #[test]
    fn crashes_spread_out_never_give_up_and_stable_runs_reset_the_backoff() {
        let mut restarts = Restarts::new();
        let mut now = Instant::now();
        for _ in 0..8 {
            restarts.crashed(now, now);
            now += Duration::from_secs(200);
        }
        // Only crashes within 10 minutes count: never five at once here.
        let began = now;
        now += Duration::from_mins(2);
        assert_eq!(
            restarts.crashed(began, now),
            AfterCrash::RestartIn(FIRST_BACKOFF)
        );
        let mut fresh = Restarts::new();
        let t = Instant::now();
        for _ in 0..3 {
            fresh.crashed(t, t);
        }
        let mut later = t;
        for _ in 0..10 {
            later += CRASH_WINDOW + Duration::from_secs(1);
            fresh.crashed(later, later);
        }
        assert_eq!(fresh.backoff, MAX_BACKOFF);
    }

    #[test]
    fn a_refused_configuration_needs_the_owner_and_anything_else_is_retried() {
        let file = Path::new("/data/openclaw/openclaw.json");
        assert!(matches!(
            after_exit(Some(78), None, "while running", file),
            Ended::Attention(reason) if reason.contains("/data/openclaw/openclaw.json")
        ));
        assert_eq!(
            after_exit(Some(1), None, "while running", file),
            Ended::Crashed("the gateway exited with code 1 while running".into())
        );
        assert_eq!(
            after_exit(None, Some(9), "before it was ready", file),
            Ended::Crashed("the gateway was killed by signal 9 before it was ready".into())
        );
    }
}
