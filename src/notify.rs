//! systemd's readiness protocol: under `Type=notify` the unit is started once clawhost says
//! `READY=1` (it listens and its gateway supervisor runs), and stopping once it says
//! `STOPPING=1`. A datagram to `$NOTIFY_SOCKET`, a path or (`@…`) an abstract name; without
//! the variable (not under systemd) nothing is sent.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends `state` (`READY=1`, `STOPPING=1`, `STATUS=…`, one per line) to the service manager.
pub(crate) fn notify(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let socket = socket.to_string_lossy().into_owned();
    let address = match socket.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(&socket),
    };
    let sent = address.and_then(|address| {
        let datagram = UnixDatagram::unbound()?;
        datagram.send_to_addr(state.as_bytes(), &address)
    });
    if let Err(error) = sent {
        tracing::warn!(%error, socket, "cannot tell the service manager '{state}'");
    }
}
