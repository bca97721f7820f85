//! The OpenClaw gateway: its runtime, its config, the supervised process, its logs, and a
//! small RPC client to ask it how it is.

pub mod keycheck;
pub mod logs;
pub mod openclaw_config;
pub mod providers;
pub mod rpc;
pub mod runtime;
pub mod settings;
pub mod supervisor;
