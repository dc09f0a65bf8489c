//! Who may reach the bucket: Block Public Access, the bucket policy, and a write-and-delete
//! check that these credentials can still use the objects after a policy change.

use aws_sdk_s3::types::PublicAccessBlockConfiguration;

use super::workarounds::{unreadable_ok, xml_flag};
use super::{AdminResult, AwsAdmin, PublicAccessBlock};

impl AwsAdmin {
    pub(super) async fn read_public_access_block(&self) -> AdminResult<Option<PublicAccessBlock>> {
        let r = self
            .c()
            .get_public_access_block()
            .bucket(&self.bucket)
            .send()
            .await;
        match r {
            Ok(o) => Ok(o
                .public_access_block_configuration()
                .map(|c| PublicAccessBlock {
                    block_public_acls: c.block_public_acls().unwrap_or(false),
                    ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                    block_public_policy: c.block_public_policy().unwrap_or(false),
                    restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
                })),
            // Ceph 16 names the root BlockPublicAccessBlockConfiguration; the fields are S3's.
            Err(e) => match unreadable_ok(&e) {
                Some(b) if b.contains("<BlockPublicAcls>") => Ok(Some(PublicAccessBlock {
                    block_public_acls: xml_flag(&b, "BlockPublicAcls"),
                    ignore_public_acls: xml_flag(&b, "IgnorePublicAcls"),
                    block_public_policy: xml_flag(&b, "BlockPublicPolicy"),
                    restrict_public_buckets: xml_flag(&b, "RestrictPublicBuckets"),
                })),
                _ => self
                    .map(
                        "get_public_access_block",
                        e,
                        &["NoSuchPublicAccessBlockConfiguration"],
                    )
                    .map(|()| None),
            },
        }
    }

    pub(super) async fn write_public_access_block(&self, p: PublicAccessBlock) -> AdminResult<()> {
        let conf = PublicAccessBlockConfiguration::builder()
            .block_public_acls(p.block_public_acls)
            .ignore_public_acls(p.ignore_public_acls)
            .block_public_policy(p.block_public_policy)
            .restrict_public_buckets(p.restrict_public_buckets)
            .build();
        match self
            .c()
            .put_public_access_block()
            .bucket(&self.bucket)
            .public_access_block_configuration(conf)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => self.map("put_public_access_block", e, &[]),
        }
    }

    pub(super) async fn read_policy(&self) -> AdminResult<Option<String>> {
        match self
            .c()
            .get_bucket_policy()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(o) => Ok(o
                .policy()
                .map(str::to_owned)
                .filter(|p| !p.trim().is_empty())),
            Err(e) => self
                .map("get_bucket_policy", e, &["NoSuchBucketPolicy"])
                .map(|()| None),
        }
    }

    pub(super) async fn write_policy(&self, policy: &str) -> AdminResult<()> {
        match self
            .c()
            .put_bucket_policy()
            .bucket(&self.bucket)
            .policy(policy)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => self.map("put_bucket_policy", e, &[]),
        }
    }

    pub(super) async fn remove_policy(&self) -> AdminResult<()> {
        match self
            .c()
            .delete_bucket_policy()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => self.map("delete_bucket_policy", e, &["NoSuchBucketPolicy"]),
        }
    }

    pub(super) async fn probe_object_access(&self, key: &str) -> AdminResult<()> {
        let put = self
            .c()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b""))
            .send()
            .await;
        let version = match put {
            Ok(o) => o.version_id().map(str::to_owned),
            Err(e) => return self.map("put_object", e, &[]),
        };
        // By version id where there is one, so that no version or delete marker is left.
        match self
            .c()
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.filter(|v| v != "null"))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => self.map("delete_object", e, &[]),
        }
    }
}
