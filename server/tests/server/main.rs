//! The plugin server's tests: in process, and as a real child process.

#![allow(clippy::unwrap_used)]

mod common;

mod hardening;
mod in_process;
mod plugin_process;
