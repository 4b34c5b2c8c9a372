//! Where objects come from. `dir:` reads a local copy of a bucket; the SQS and S3 sources of
//! later stages implement the same [`crate::pipeline::Source`] trait. [`notification`] reads
//! SQS message bodies (S3, SNS and EventBridge notifications) into the objects they name.

pub mod dir;
pub mod notification;
