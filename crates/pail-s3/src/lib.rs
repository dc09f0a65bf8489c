//! pail's S3 layer: the [`ObjectStore`] trait (exactly the calls pail needs, bound to one
//! bucket), its aws-sdk-s3 implementation [`AwsStore`], the capability [`probe()`], the
//! [`RetryingStore`] wrapper that retries transient failures, the [`StoreFactory`] that
//! commands get their store from, and, behind the `fake` feature, an in-memory `MemStore` and
//! the fault-injecting `FaultyStore`.
//!
//! ETags are opaque change tokens, passed around quoted exactly as the server returned them.
//! Content identity is the blake3 hash in the `pail-blake3` user metadata ([`ObjectMeta`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod aws;
pub mod error;
pub mod factory;
#[cfg(any(test, feature = "fake"))]
pub mod faulty;
mod lifecycle_json;
#[cfg(any(test, feature = "fake"))]
pub mod mem;
pub mod probe;
pub mod queue;
mod requests;
pub mod retrying;
pub mod store;
pub mod types;

pub use aws::{AwsStore, S3Config, StaticCredentials};
pub use error::{Result, StoreError};
pub use factory::{AwsStoreFactory, FixedStoreFactory, StoreFactory};
#[cfg(any(test, feature = "fake"))]
pub use faulty::FaultyStore;
#[cfg(any(test, feature = "fake"))]
pub use mem::{Conditionals, MemStore};
pub use probe::probe;
pub use retrying::{RetryPolicy, RetryingStore};
pub use store::{ArchiveRestore, GetObject, ObjectStore, Op, list_all, list_all_versions};
pub use types::{
    Capabilities, Condition, DeleteResult, Head, ListPage, ListedObject, ObjectMeta, ObjectVersion,
    Presigned, PutResult, Versioning, VersionsPage,
};
