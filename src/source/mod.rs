//! Where objects come from. `dir:` reads a local copy of a bucket; the SQS and S3 sources of
//! later stages implement the same [`crate::pipeline::Source`] trait.

pub mod dir;
