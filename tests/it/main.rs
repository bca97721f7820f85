//! The one integration-test binary: every test drives the real `clawhost` binary.

mod browser;
mod channels;
mod claim;
mod cli;
mod gateway;
mod harness;
mod llm;
mod login;
mod openapi;
mod pages;
mod proxy;
mod readme;
mod security;
mod sessions;
mod settings;
mod status;
