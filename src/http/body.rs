//! `JsonBody<T>`: the request-body extractor. Wrong content types, malformed JSON and invalid
//! fields all come back as our JSON errors, with one FastAPI-style entry per bad field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde_json::{Map, Value};

use super::error::{ApiError, FieldError};
use crate::domain::Invalid;

/// A request type read field by field from a JSON object.
pub trait FromJson: Sized {
    /// Reads every field (so every problem is reported at once); `None` if any was invalid.
    fn from_json(fields: &mut Fields<'_>) -> Option<Self>;
}

/// The fields of a JSON object body, collecting the errors met while reading them.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    /// The string field `name`, or an error if it is missing or not a string.
    pub fn string(&mut self, name: &'static str) -> Option<&'a str> {
        match self.map.get(name) {
            None => {
                self.errors
                    .push(FieldError::body(&[name], "missing", "Field required"));
                None
            }
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.errors.push(FieldError::body(
                    &[name],
                    "string_type",
                    "Input should be a valid string",
                ));
                None
            }
        }
    }

    /// The optional string field `name` (absent or `null`: `Some(None)`), parsed into a
    /// domain value; `None` if it is there and invalid.
    pub fn optional<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&'a str) -> Result<T, Invalid>,
    ) -> Option<Option<T>> {
        match self.map.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(_) => self.parse(name, parse).map(Some),
        }
    }

    /// Records an error that is about the fields together rather than one of them.
    pub fn refuse(&mut self, name: &'static str, invalid: Invalid) {
        self.errors
            .push(FieldError::body(&[name], invalid.kind, invalid.message));
    }

    /// The string field `name`, parsed into a domain value.
    pub fn parse<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&'a str) -> Result<T, Invalid>,
    ) -> Option<T> {
        let raw = self.string(name)?;
        match parse(raw) {
            Ok(value) => Some(value),
            Err(invalid) => {
                self.errors
                    .push(FieldError::body(&[name], invalid.kind, invalid.message));
                None
            }
        }
    }
}

/// A JSON request body, checked and parsed into `T`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: FromJson,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(ApiError::Status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::Status(status, "Request body is too large")
            } else {
                ApiError::Status(
                    StatusCode::BAD_REQUEST,
                    "The request body could not be read",
                )
            }
        })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::Validation(vec![FieldError::body(
                &[],
                "json_invalid",
                format!("JSON decode error: {e}"),
            )])
        })?;
        let Value::Object(map) = value else {
            return Err(ApiError::Validation(vec![FieldError::body(
                &[],
                "model_attributes_type",
                "Input should be a valid dictionary or object to extract fields from",
            )]));
        };
        let mut fields = Fields {
            map: &map,
            errors: Vec::new(),
        };
        match T::from_json(&mut fields) {
            Some(value) if fields.errors.is_empty() => Ok(JsonBody(value)),
            _ => Err(ApiError::Validation(fields.errors)),
        }
    }
}

/// `application/json`, with or without parameters, or any `application/*+json` type.
fn is_json(req: &Request) -> bool {
    let Some(content_type) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}
