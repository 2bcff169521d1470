//! `/api/profiles`: read, validate, replace (all or one), delete — written atomically and
//! applied to new calls at once.

use super::{ApiError, ApiState};
use crate::profiles::{Profile, ProfileError, ProfileRegistry, ProfilesFile, RegistryError};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Body of PUT /api/profiles and POST /api/profiles/validate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilesInput {
    profiles: BTreeMap<String, serde_json::Value>,
}

fn registry(state: &ApiState) -> Result<&Arc<ProfileRegistry>, ApiError> {
    state.profiles.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "profiles are served only with the conversation handler",
        )
    })
}

fn invalid(errors: Vec<ProfileError>) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "valid": false, "errors": errors })),
    )
        .into_response()
}

/// Each profile's JSON as a [`Profile`] (unknown keys and wrong types are errors with the
/// key path, as in agent.toml).
fn parse_profiles(input: ProfilesInput) -> Result<ProfilesFile, Vec<ProfileError>> {
    let mut file = ProfilesFile::default();
    let mut errors = Vec::new();
    for (name, value) in input.profiles {
        match parse_one(&name, value) {
            Ok(p) => {
                file.profiles.insert(name, p);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(file)
    } else {
        Err(errors)
    }
}

fn parse_one(name: &str, value: serde_json::Value) -> Result<Profile, ProfileError> {
    serde_path_to_error::deserialize::<_, Profile>(value).map_err(|e| {
        let path = e.path().to_string();
        ProfileError {
            key: if path == "." {
                format!("profiles.{name}")
            } else {
                format!("profiles.{name}.{path}")
            },
            message: e.into_inner().to_string(),
        }
    })
}

async fn state_body(reg: &ProfileRegistry) -> Response {
    let snap = reg.current();
    let listeners: Vec<_> = reg
        .listeners()
        .await
        .into_iter()
        .map(|(p, a)| json!({ "profile": p, "listen": a.to_string() }))
        .collect();
    let mut r = Json(json!({
        "file": reg.path().display().to_string(),
        "version": snap.version(),
        "default_profile": snap.default_name(),
        "profiles": snap.file().profiles,
        "listeners": listeners,
    }))
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", snap.version())) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.trim() != "*")
        .map(str::to_string)
}

async fn apply(reg: &ProfileRegistry, file: ProfilesFile, headers: &HeaderMap) -> Response {
    match reg.apply(file, if_match(headers).as_deref()).await {
        Ok(_) => state_body(reg).await,
        Err(RegistryError::Invalid(errors)) => invalid(errors),
        Err(e @ RegistryError::Stale { .. }) => {
            ApiError::new(StatusCode::PRECONDITION_FAILED, e.to_string()).into_response()
        }
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

fn body<T: serde::de::DeserializeOwned>(
    b: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// `GET /api/profiles`.
pub async fn get_all(State(state): State<Arc<ApiState>>) -> Result<Response, ApiError> {
    Ok(state_body(registry(&state)?).await)
}

/// `POST /api/profiles/validate`.
pub async fn validate(
    State(state): State<Arc<ApiState>>,
    b: Result<Json<ProfilesInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let reg = registry(&state)?;
    let file = match parse_profiles(body(b)?) {
        Ok(f) => f,
        Err(errors) => return Ok(invalid(errors)),
    };
    let errors = reg.validate(&file);
    Ok(if errors.is_empty() {
        Json(json!({ "valid": true, "errors": [] })).into_response()
    } else {
        invalid(errors)
    })
}

/// `PUT /api/profiles`.
pub async fn put_all(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    b: Result<Json<ProfilesInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let reg = registry(&state)?;
    let file = match parse_profiles(body(b)?) {
        Ok(f) => f,
        Err(errors) => return Ok(invalid(errors)),
    };
    Ok(apply(reg, file, &headers).await)
}

/// `PUT /api/profiles/{name}`.
pub async fn put_one(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    b: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let reg = registry(&state)?;
    let profile = match parse_one(&name, body(b)?) {
        Ok(p) => p,
        Err(e) => return Ok(invalid(vec![e])),
    };
    let mut file = reg.current().file().clone();
    file.profiles.insert(name, profile);
    Ok(apply(reg, file, &headers).await)
}

/// `DELETE /api/profiles/{name}`.
pub async fn delete_one(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let reg = registry(&state)?;
    let mut file = reg.current().file().clone();
    if file.profiles.remove(&name).is_none() {
        return Err(ApiError::not_found(format!("no profile `{name}`")));
    }
    Ok(apply(reg, file, &headers).await)
}
