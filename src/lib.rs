//! Chaos engineering for tower services in ordinary tests.
#![cfg_attr(docsrs, feature(doc_cfg))]
