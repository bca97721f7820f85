//! The OpenClaw gateway: its runtime, the owner's provider settings, the supervised process
//! and what it shows of itself (status, progress, logs), and a small RPC client to ask it
//! how it is.
//!
//! - [`supervisor`]: the handle the rest of clawhost uses, and the actor behind it;
//! - [`run`]: one run of the process, from preparing it to its end;
//! - [`restart_policy`]: what an exit means and when to start again;
//! - [`launch`]: everything one start is made of, read fresh each time;
//! - [`process`]: the child process itself (spawn, readiness, stop, leftovers, memory);
//! - [`procfs`]: what `/proc` says of its process group (members, memory, listening socket);
//! - [`status`]: the types the supervisor reports in;
//! - [`settings`], [`providers`], [`provider_key`], [`keycheck`]: the owner's choice of LLM
//!   provider, checked, stored with its key sealed, and tested;
//! - [`first_run`]: how far the owner's first run has come;
//! - [`install_report`]: an install's progress and failure as the owner reads them;
//! - [`config_history`]: the versions of `openclaw.json` clawhost replaced;
//! - [`openclaw_config`], [`runtime`], [`paths`], [`logs`], [`rpc`]: OpenClaw's own files,
//!   install, output and protocol.

pub(crate) mod config_history;
pub(crate) mod first_run;
pub(crate) mod install_report;
pub(crate) mod keycheck;
pub(crate) mod launch;
pub(crate) mod logs;
pub(crate) mod openclaw_config;
pub(crate) mod paths;
pub(crate) mod process;
pub(crate) mod procfs;
pub(crate) mod provider_key;
pub(crate) mod providers;
pub(crate) mod restart_policy;
pub(crate) mod rpc;
pub(crate) mod run;
pub(crate) mod runtime;
pub(crate) mod settings;
pub(crate) mod status;
pub(crate) mod supervisor;
pub(crate) mod token_channels;
