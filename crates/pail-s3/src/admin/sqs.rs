//! The SQS queue a bucket sends its object events to: found by name (and account), created with
//! pail's attributes, and its access policy read and replaced. Failures say which permission
//! is missing and what to do instead.

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_runtime_api::http::Response as HttpResponse;

use super::{AdminError, AdminResult, AwsAdmin, QUEUE_RETENTION_SECS, QUEUE_WAIT_SECS, QueueInfo};

impl AwsAdmin {
    pub(super) async fn find_queue(
        &self,
        name: &str,
        owner: Option<&str>,
    ) -> AdminResult<Option<QueueInfo>> {
        let found = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .set_queue_owner_aws_account_id(owner.map(str::to_owned))
            .send()
            .await;
        let url = match found {
            Ok(o) => o.queue_url.ok_or_else(|| AdminError::Queue {
                queue: name.to_owned(),
                message: "the server named no queue URL".into(),
            })?,
            Err(e) if no_such_queue(&e) => return Ok(None),
            Err(e) => return Err(self.queue_error("get_queue_url", "sqs:GetQueueUrl", name, e)),
        };
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .attribute_names(QueueAttributeName::Policy)
            .send()
            .await
            .map_err(|e| {
                self.queue_error("get_queue_attributes", "sqs:GetQueueAttributes", name, e)
            })?
            .attributes
            .unwrap_or_default();
        let arn = attrs
            .get(&QueueAttributeName::QueueArn)
            .cloned()
            .ok_or_else(|| AdminError::Queue {
                queue: name.to_owned(),
                message: "the server did not tell the queue's ARN".into(),
            })?;
        Ok(Some(QueueInfo {
            url,
            arn,
            policy: attrs
                .get(&QueueAttributeName::Policy)
                .filter(|p| !p.trim().is_empty())
                .cloned(),
        }))
    }

    pub(super) async fn make_queue(&self, name: &str) -> AdminResult<()> {
        let r = self
            .sqs
            .create_queue()
            .queue_name(name)
            .attributes(
                QueueAttributeName::MessageRetentionPeriod,
                QUEUE_RETENTION_SECS.to_string(),
            )
            .attributes(
                QueueAttributeName::ReceiveMessageWaitTimeSeconds,
                QUEUE_WAIT_SECS.to_string(),
            )
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            // Made meanwhile by someone else, with other attributes: it is there, which is
            // all that is needed.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_queue_name_exists()) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_queue_deleted_recently()) => {
                Err(AdminError::Queue {
                    queue: name.to_owned(),
                    message: "a queue of this name was deleted less than a minute ago and SQS does not allow the name again yet: wait a minute and run setup again".into(),
                })
            }
            Err(e) => Err(self.queue_error("create_queue", "sqs:CreateQueue", name, e)),
        }
    }

    pub(super) async fn write_queue_policy(&self, q: &QueueInfo, policy: &str) -> AdminResult<()> {
        self.sqs
            .set_queue_attributes()
            .queue_url(&q.url)
            .attributes(QueueAttributeName::Policy, policy)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                self.queue_error("set_queue_attributes", "sqs:SetQueueAttributes", &q.arn, e)
            })
    }

    /// An SQS failure as one line with the fix: a missing permission names the action, a
    /// server without SQS is "not supported".
    fn queue_error<E>(
        &self,
        op: &'static str,
        action: &'static str,
        queue: &str,
        err: SdkError<E, HttpResponse>,
    ) -> AdminError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = err.code().unwrap_or_default().to_owned();
        let status = err.raw_response().map(|r| r.status().as_u16());
        let server_message = err.message().unwrap_or_default().to_owned();
        // S3-compatible servers without SQS answer its requests with 404, 405 (Ceph RGW,
        // MethodNotAllowed) or 501.
        let no_sqs = matches!(status, Some(404 | 405 | 501))
            || matches!(
                code.as_str(),
                "MethodNotAllowed" | "NotImplemented" | "InvalidAction"
            );
        if self.custom_endpoint && no_sqs {
            return AdminError::NotSupported {
                op,
                detail: format!("no SQS at {}", self.endpoint),
            };
        }
        let queue = queue.to_owned();
        if code.contains("AccessDenied") || status == Some(403) {
            let instead = match action {
                "sqs:CreateQueue" => {
                    "; or create the queue yourself and pass its ARN to --notify-queue"
                }
                "sqs:SetQueueAttributes" => {
                    "; or add to the queue's policy a statement that lets s3.amazonaws.com send it messages from this bucket"
                }
                _ => "",
            };
            return AdminError::Queue {
                queue,
                message: format!(
                    "these credentials may not call {action} ({}): grant them {action} on the queue{instead}",
                    if code.is_empty() {
                        "access denied"
                    } else {
                        &code
                    }
                ),
            };
        }
        let detail = crate::error::without_debug_dump(
            &aws_sdk_sqs::error::DisplayErrorContext(&err).to_string(),
        )
        .to_owned();
        AdminError::Queue {
            queue,
            message: match (code.is_empty(), server_message.is_empty()) {
                (false, false) => format!("{op} failed: {code}: {server_message}"),
                (false, true) => format!("{op} failed: {code}"),
                _ => format!("{op} failed: {detail}"),
            },
        }
    }
}

/// GetQueueUrl's "no such queue", as SQS's JSON protocol names it and as its query protocol
/// did (moto answers either way).
fn no_such_queue<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    matches!(
        e.code(),
        Some("QueueDoesNotExist" | "AWS.SimpleQueueService.NonExistentQueue")
    )
}
