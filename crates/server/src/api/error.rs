//! Every REST error is `{code, message}` with the HTTP status its code implies.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use switchboard_core::project_admin::ProjectError;
use switchboard_core::StoreError;
use switchboard_protocol::api::{ApiError, ApiErrorCode};
use switchboard_protocol::ProtocolError;

/// A refused or failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub ApiError);

pub type ApiResult<T> = Result<T, Refusal>;

impl Refusal {
    pub fn new(code: ApiErrorCode, message: impl Into<String>) -> Self {
        Refusal(ApiError {
            code,
            message: message.into(),
        })
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ApiErrorCode::InvalidField, message)
    }

    pub fn unknown_session(id: &str) -> Self {
        Self::new(ApiErrorCode::UnknownSession, format!("no session {id:?}"))
    }

    pub fn unknown_project(id: &str) -> Self {
        Self::new(ApiErrorCode::UnknownProject, format!("no project {id:?}"))
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(ApiErrorCode::Internal, message.to_string())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(message = %self.0.message, "REST request failed");
        }
        (status, Json(self.0)).into_response()
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::internal(e)
    }
}

impl From<ProtocolError> for Refusal {
    fn from(e: ProtocolError) -> Self {
        Refusal::new(e.code.into(), e.message)
    }
}

impl From<ProjectError> for Refusal {
    fn from(e: ProjectError) -> Self {
        let code = match &e {
            ProjectError::InvalidPath(_) | ProjectError::InvalidName(_) => {
                ApiErrorCode::InvalidField
            }
            ProjectError::Unknown(_) => ApiErrorCode::UnknownProject,
            ProjectError::Busy { .. } => ApiErrorCode::ProjectBusy,
            ProjectError::Store(_) => ApiErrorCode::Internal,
        };
        Refusal::new(code, e.to_string())
    }
}
