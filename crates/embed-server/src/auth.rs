//! API keys: `Authorization: Bearer <key>` compared in constant time against every configured
//! key. Applied to the embedding and model routes only; `/health` and `/metrics` stay open.
//! Keys are never logged.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::{ApiError, Shape};

/// Whether `presented` equals one of `keys`. Every key is compared (no early exit), each in
/// constant time for its length.
pub(crate) fn key_matches(keys: &[String], presented: &[u8]) -> bool {
    let mut found = subtle::Choice::from(0);
    for key in keys {
        found |= key.as_bytes().ct_eq(presented);
    }
    found.into()
}

/// Refuses requests without a configured key, in the error shape of the route.
pub(crate) async fn require_key(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let keys = &state.inner.config.api_keys;
    if keys.is_empty() {
        return next.run(request).await;
    }
    let shape = Shape::for_path(request.uri().path());
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
        .map(str::trim);
    match presented {
        None => {
            ApiError::unauthorized("missing API key: send `Authorization: Bearer <key>`").into_shaped_response(shape)
        }
        Some(key) if !key_matches(keys, key.as_bytes()) => {
            ApiError::unauthorized("incorrect API key provided").into_shaped_response(shape)
        }
        Some(_) => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::key_matches;

    #[test]
    fn keys_match_exactly() {
        let keys = vec!["alpha".to_string(), "beta-key".to_string()];
        assert!(key_matches(&keys, b"alpha"));
        assert!(key_matches(&keys, b"beta-key"));
        assert!(!key_matches(&keys, b"alph"));
        assert!(!key_matches(&keys, b"alphaa"));
        assert!(!key_matches(&keys, b""));
        assert!(!key_matches(&[], b"alpha"));
    }
}
