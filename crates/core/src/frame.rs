//! A journaled frame: its seq and the bytes every socket sends, serialized once.

use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub seq: u64,
    /// A complete JSON text frame.
    pub bytes: Bytes,
}

impl Frame {
    pub fn new(seq: u64, bytes: impl Into<Bytes>) -> Self {
        Self {
            seq,
            bytes: bytes.into(),
        }
    }
}
