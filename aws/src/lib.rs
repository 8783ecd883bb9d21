#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod classify;
mod client;

pub use client::{ChaosHttpClient, ChaosHttpClientBuilder};
