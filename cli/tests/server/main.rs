//! `tower-chaos serve` driven over loopback: its HTTP API with a plain
//! HTTP client (status codes, bodies), and toxiproxy's own Rust client
//! (`toxiproxy_rust`) against proxies in front of an echo server.

mod binary;
mod http_api;
mod scenario;
mod support;
mod toxiproxy_client;
