//! The `/ws` endpoint: per connection, one task reads and dispatches client messages and one
//! writer task sends everything, including the journaled frames of the sessions it follows.

mod connection;
mod writer;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::Response;

pub use connection::serve_connection;

use crate::app::AppState;

pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    // The transport limit sits above the protocol limit, so a frame between the two gets a
    // `frame-too-large` error frame and the connection lives; only a grossly oversized frame
    // closes it (with 1009).
    let transport_limit = state.max_frame_bytes.saturating_mul(4).max(1 << 20);
    ws.max_message_size(transport_limit)
        .max_frame_size(transport_limit)
        .on_upgrade(move |socket| {
            let (sink, stream) = futures_util::StreamExt::split(socket);
            serve_connection(sink, stream, state)
        })
}
