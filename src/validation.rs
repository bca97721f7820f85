//! What a check on one input says when it fails: which field, named as the request names
//! it, and what to write instead. Domain checks return these; the edge shows them as a
//! problem's `errors` or next to a form's field.

use serde::Serialize;

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) message: String,
}

impl FieldError {
    pub(crate) fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
