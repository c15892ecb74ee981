//! The screen token: when `SCREEN_TOKEN` is set, the screens, their event stream and the screen
//! API answer only requests that carry it, as `Authorization: Bearer <token>`, as `?token=` (on
//! the page's URL, typed once on a kitchen screen), or as the cookie that a `?token=` request
//! sets, so that the page's own `EventSource` and `fetch` calls need no change.

use super::error::ApiError;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shared_utils::secret::Secret;
use std::sync::Arc;

/// The cookie a `?token=` request sets.
pub(crate) const COOKIE: &str = "kitchen_screen_token";

/// The token, and the cookie's value derived from it (so that the cookie never holds the token
/// itself, and holds only characters a cookie may).
#[derive(Debug, Clone)]
pub(crate) struct ScreenToken(Arc<ScreenTokenInner>);

#[derive(Debug)]
struct ScreenTokenInner {
    token: Secret,
    cookie: Secret,
}

impl ScreenToken {
    pub(crate) fn new(token: Secret) -> Self {
        let cookie = token.derived("kitchen screen cookie");
        Self(Arc::new(ScreenTokenInner { token, cookie }))
    }
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Lets a request through when it carries the token; answers 401 otherwise. A request that
/// brought it as `?token=` gets the cookie (HttpOnly, SameSite=Strict) for the calls that follow.
pub(crate) async fn require_screen_token(
    State(expected): State<ScreenToken>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let by_header = bearer(headers).is_some_and(|given| expected.0.token.matches(given));
    let by_cookie = cookie(headers).is_some_and(|given| expected.0.cookie.matches(given));
    let by_query = Query::<TokenQuery>::try_from_uri(request.uri())
        .ok()
        .and_then(|Query(query)| query.token)
        .is_some_and(|given| expected.0.token.matches(given.as_bytes()));
    if !(by_header || by_cookie || by_query) {
        tracing::debug!(path = %request.uri().path(), "screen request refused: no valid screen token");
        return ApiError::Unauthorized.into_response();
    }
    let mut response = next.run(request).await;
    if by_query && !by_cookie {
        let cookie = format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
            expected.0.cookie.expose()
        );
        if let Ok(cookie) = HeaderValue::from_str(&cookie) {
            let headers = response.headers_mut();
            headers.append(header::SET_COOKIE, cookie);
            // The page's URL holds the token: it goes to no other site as a referrer.
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
        }
    }
    response
}

fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(header::AUTHORIZATION)?
        .as_bytes()
        .strip_prefix(b"Bearer ")
}

fn cookie(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|value| value.as_bytes().split(|byte| *byte == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            pair.strip_prefix(COOKIE.as_bytes())?.strip_prefix(b"=")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; kitchen_screen_token=abc; b=2"),
        );
        assert_eq!(cookie(&headers), Some(&b"abc"[..]));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("kitchen_screen_token_x=abc"),
        );
        assert_eq!(cookie(&headers), None);
    }

    #[test]
    fn the_bearer_scheme_is_required() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&headers), Some(&b"abc"[..]));
    }
}
