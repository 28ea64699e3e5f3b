//! labctl's integration tests, compiled as one binary (one link, shared helpers).
//!
//! - `mock_api`: request shapes and 403 handling against the fake API server (`support::fake_api`).
//! - `cli`: the real binary: help, bad flags, exit codes, output snapshots.
//! - `diagnose`: `labctl diagnose pvc` on the snapshot fixtures.
//! - `lint`: `labctl lint` on the shipped manifests and the broken copies in `fixtures/lint`.
//! - `data_plane`: real trainer → inference → nginx → dnsmasq → `labctl predict`/`verify`.
//! - `registry`: `images-match-node-arch` against the real registry (distribution), HTTPS and
//!   basic authentication with the pull secret's credentials.
//! - `runbooks`: every hint (checks, findings, lint rules) points at a runbook section.

#[path = "../support/mod.rs"]
mod support;

mod cli;
mod data_plane;
mod diagnose;
mod lint;
mod mock_api;
mod registry;
mod runbooks;
