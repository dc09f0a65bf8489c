//! End-to-end tests: the real binary against real S3 servers.
