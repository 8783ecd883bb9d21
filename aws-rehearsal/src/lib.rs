//! Holds the AWS SDK rehearsal tests (see `tests/dynamodb.rs`).
