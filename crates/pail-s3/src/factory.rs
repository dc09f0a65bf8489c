//! How a command gets its store: one [`StoreFactory`] injected at the top (the real one
//! connects with aws-sdk-s3; tests hand in in-memory buckets), so that every command, the
//! daemon included, runs unchanged against a fake.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::aws::{AwsStore, S3Config};
use crate::error::Result;
use crate::store::ObjectStore;

/// Makes the store of one bucket. Called once per command and pair.
#[async_trait]
pub trait StoreFactory: Send + Sync + std::fmt::Debug {
    /// Connects to the bucket `cfg` names (credentials resolved, no request made yet).
    async fn connect(&self, cfg: &S3Config) -> Result<Arc<dyn ObjectStore>>;
}

/// The real factory: aws-sdk-s3 with the default credential chain (or the profile / keys of
/// the config).
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsStoreFactory;

#[async_trait]
impl StoreFactory for AwsStoreFactory {
    async fn connect(&self, cfg: &S3Config) -> Result<Arc<dyn ObjectStore>> {
        Ok(Arc::new(AwsStore::connect(cfg).await?))
    }
}

/// A factory that hands out the stores it was given, by bucket name (tests, tools): every
/// connection to one bucket sees the same objects, as two devices would.
#[derive(Debug, Default, Clone)]
pub struct FixedStoreFactory {
    stores: Arc<Mutex<HashMap<String, Arc<dyn ObjectStore>>>>,
}

impl FixedStoreFactory {
    /// A factory serving `store` for `bucket`.
    pub fn new(bucket: &str, store: Arc<dyn ObjectStore>) -> FixedStoreFactory {
        let f = FixedStoreFactory::default();
        f.insert(bucket, store);
        f
    }

    /// Serves `store` for `bucket` from now on.
    pub fn insert(&self, bucket: &str, store: Arc<dyn ObjectStore>) {
        self.stores
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(bucket.to_owned(), store);
    }
}

#[async_trait]
impl StoreFactory for FixedStoreFactory {
    async fn connect(&self, cfg: &S3Config) -> Result<Arc<dyn ObjectStore>> {
        let stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        stores
            .get(&cfg.bucket)
            .cloned()
            .ok_or_else(|| crate::StoreError::NoSuchBucket {
                bucket: cfg.bucket.clone(),
            })
    }
}
