//! AWS SDK clients for the SQS and S3 sources.
//!
//! Credentials come from the standard chain (environment, profile, SSO, container and instance
//! roles), optionally wrapped in an assumed role with an external ID for cross-account
//! buckets. `--aws-endpoint` (or `AWS_ENDPOINT_URL`) points every client at an S3-compatible
//! store or at moto; with a custom endpoint S3 is addressed path-style, since virtual-host
//! names (`bucket.127.0.0.1`) do not resolve.
//!
//! Buckets may live in other regions than the queue: S3 clients are made per region, on
//! first use, from the region the notification names.

use parking_lot::Mutex;
use std::collections::HashMap;

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// What the operator said about reaching AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// Region of the queue (and of buckets whose region no notification names).
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
}

/// Loads the shared configuration: region, endpoint and credentials.
pub async fn load(opts: &AwsOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = &opts.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(e) = &opts.endpoint {
        loader = loader.endpoint_url(e);
    }
    let base = loader.load().await;
    let Some(arn) = &opts.role_arn else {
        return base;
    };
    let mut role = aws_config::sts::AssumeRoleProvider::builder(arn.clone())
        .session_name("logferry")
        .configure(&base);
    if let Some(id) = &opts.external_id {
        role = role.external_id(id.clone());
    }
    let provider = role.build().await;
    base.into_builder()
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(provider))
        .build()
}

/// The region in an SQS queue URL (`https://sqs.eu-west-1.amazonaws.com/123/q`), for when no
/// region is configured: the queue URL already says where the queue is.
pub fn region_of_queue_url(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let mut parts = host.split('.');
    match (parts.next(), parts.next()) {
        (Some("sqs"), Some(region)) if region.contains('-') => Some(region.to_string()),
        _ => None,
    }
}

/// S3 clients by region, made on first use.
pub struct S3Clients {
    config: SdkConfig,
    path_style: bool,
    by_region: Mutex<HashMap<String, aws_sdk_s3::Client>>,
}

impl S3Clients {
    pub fn new(config: SdkConfig) -> Self {
        let path_style = config.endpoint_url().is_some();
        S3Clients {
            config,
            path_style,
            by_region: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `region`, or for the configured region when the notification names
    /// none.
    pub fn get(&self, region: Option<&str>) -> aws_sdk_s3::Client {
        let key = region.unwrap_or("").to_string();
        let mut map = self.by_region.lock();
        map.entry(key)
            .or_insert_with(|| {
                let mut b = aws_sdk_s3::config::Builder::from(&self.config)
                    .force_path_style(self.path_style);
                if let Some(r) = region {
                    b = b.region(Region::new(r.to_string()));
                }
                aws_sdk_s3::Client::from_conf(b.build())
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_url_region() {
        assert_eq!(
            region_of_queue_url("https://sqs.eu-west-1.amazonaws.com/123456789012/q").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region_of_queue_url("http://127.0.0.1:5000/123456789012/q"),
            None
        );
        assert_eq!(region_of_queue_url("not a url"), None);
    }
}
