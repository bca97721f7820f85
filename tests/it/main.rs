//! The one integration-test binary: every test drives the real `clawhost` binary.

// A failed expectation is the test failing, with its message saying what broke; the
// harness's helpers are test code too. Modules share those helpers with `pub`: a test binary
// has no public API for `unreachable_pub` to protect. An end-to-end test is one scenario,
// read top to bottom, however long; helpers take their options by value so that a test
// writes them inline.
#![allow(
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::needless_pass_by_value,
    unreachable_pub
)]

mod acme;
mod backup;
mod browser;
mod certs;
mod channels;
mod claim;
mod cli;
mod deploy;
mod devices;
mod egress;
mod exchange;
mod gateway;
mod harness;
mod layout;
mod llm;
mod login;
mod metrics;
mod oidc;
mod oidc_owner;
mod oom;
mod openapi;
mod pages;
mod passkeys;
mod pebble;
mod proxy;
mod readme;
mod remote;
mod reverse_proxy;
mod security;
mod sessions;
mod settings;
mod status;
mod step_up;
mod telegram;
mod tls;
mod token_channels;
mod update;
