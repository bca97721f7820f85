//! What `/proc` says about the gateway's process group: its members, their memory, and
//! whether the socket listening on the gateway's port is one of theirs. Linux only, read
//! without privileges (the group runs as clawhost's own user). Blocking: call it off the
//! async runtime.

use std::collections::HashSet;

/// The pids whose process group is `group`.
fn members(group: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // Fields after the command name (which may hold spaces): state ppid pgrp …
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(2))
                .and_then(|field| field.parse::<i32>().ok())
                == Some(group)
        })
        .collect()
}

/// Sums VmRSS over the processes of `group`.
pub(crate) fn group_rss_bytes(group: i32) -> Option<u64> {
    let sizes: Vec<u64> = members(group)
        .into_iter()
        .filter_map(|pid| rss_bytes(&pid.to_string()))
        .collect();
    (!sizes.is_empty()).then(|| sizes.iter().sum())
}

/// VmRSS of the process `pid` (a number, or `self`).
pub(crate) fn rss_bytes(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}

/// The inodes of the TCP sockets listening on `port` (IPv4 and IPv6, any address).
fn listening_on(port: u16) -> HashSet<u64> {
    let mut inodes = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let local_port = local
                .rsplit_once(':')
                .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok());
            // 0A: TCP_LISTEN.
            if local_port == Some(port)
                && *state == "0A"
                && let Ok(inode) = inode.parse::<u64>()
            {
                inodes.insert(inode);
            }
        }
    }
    inodes
}

/// The socket inodes the processes of `group` hold open.
fn sockets_of(group: i32) -> HashSet<u64> {
    members(group)
        .into_iter()
        .filter_map(|pid| std::fs::read_dir(format!("/proc/{pid}/fd")).ok())
        .flat_map(Iterator::flatten)
        .filter_map(|fd| {
            let target = std::fs::read_link(fd.path()).ok()?;
            let text = target.to_str()?;
            text.strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse::<u64>()
                .ok()
        })
        .collect()
}

/// Who listens on `port`: nobody (`None`), only processes of `group` (`Some(true)`), or
/// someone else too (`Some(false)`).
pub(crate) fn port_listener_is_group(port: u16, group: i32) -> Option<bool> {
    let listening = listening_on(port);
    if listening.is_empty() {
        return None;
    }
    let ours = sockets_of(group);
    Some(listening.iter().all(|inode| ours.contains(inode)))
}

/// How many processes the kernel's OOM killer has killed in clawhost's memory cgroup (the
/// service's under systemd, which the gateway shares): `oom_kill` in cgroup v2's
/// `memory.events`, or in v1's `memory.oom_control`. None when neither can be read.
pub(crate) fn oom_kills() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroups.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let path = path.trim_end_matches('/');
        let file = if controllers.is_empty() {
            format!("/sys/fs/cgroup{path}/memory.events")
        } else if controllers.split(',').any(|c| c == "memory") {
            format!("/sys/fs/cgroup/memory{path}/memory.oom_control")
        } else {
            return None;
        };
        let text = std::fs::read_to_string(file).ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix("oom_kill "))
            .and_then(|count| count.trim().parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_group_memory_is_found() {
        let me = nix::unistd::getpgrp().as_raw();
        assert!(group_rss_bytes(me).is_some_and(|bytes| bytes > 0));
        assert_eq!(group_rss_bytes(i32::MAX), None);
    }

    #[test]
    fn the_listener_on_a_port_is_told_apart() {
        let me = nix::unistd::getpgrp().as_raw();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        assert_eq!(port_listener_is_group(port, me), Some(true));
        assert_eq!(port_listener_is_group(port, i32::MAX), Some(false));
        drop(listener);
        assert_eq!(port_listener_is_group(port, me), None);
    }
}
