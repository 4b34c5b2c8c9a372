pub mod ack;
pub mod batch;
pub mod json;
pub mod stats;
pub mod table;
pub mod decode;
pub mod frame;
