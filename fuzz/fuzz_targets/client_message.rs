//! The client-message parser on arbitrary frames: it must never panic, and every refusal
//! carries one of the protocol's error codes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_protocol::client::ClientMessage;
use switchboard_protocol::ErrorCode;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(failure) = ClientMessage::parse(text) {
            assert!(ErrorCode::ALL.contains(&failure.error.code));
        }
    }
});
