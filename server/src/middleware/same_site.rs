//! Server functions (`/fn/*`) exist for this site's own pages. A page on another site could
//! otherwise make a visitor's browser post to them (a form to `/fn/login` needs no CORS), so a
//! request that says it comes from elsewhere is refused with 403 `cross_site` (by the edge). Their
//! answers may carry tokens: the edge marks them never cached (RFC 6749 §5.1).

use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};

/// `Sec-Fetch-Site: cross-site`, or an `Origin` that is neither the issuer's origin nor the
/// host the request was sent to (`null` included). No `Origin` at all is a non-browser
/// client (curl), which no other site can drive.
pub fn is_cross_site(headers: &HeaderMap, own_origin: &str) -> bool {
    if headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site")) {
        return true;
    }
    let Some(origin) = headers.get(ORIGIN) else { return false };
    let Ok(origin) = origin.to_str() else { return true };
    if origin.eq_ignore_ascii_case(own_origin) {
        return false;
    }
    let authority = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    !matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        map
    }

    #[test]
    fn another_sites_origin_or_fetch_metadata_is_cross_site() {
        let own = "https://auth.example";
        assert!(is_cross_site(&headers(&[("origin", "https://evil.example"), ("host", "auth.example")]), own));
        assert!(is_cross_site(&headers(&[("origin", "null"), ("host", "auth.example")]), own));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")]), own));
        assert!(is_cross_site(
            &headers(&[("origin", "https://auth.example.evil.example"), ("host", "auth.example")]),
            own
        ));
    }

    #[test]
    fn own_pages_and_non_browsers_are_not() {
        let own = "https://auth.example";
        assert!(!is_cross_site(&headers(&[]), own), "curl sends no Origin");
        assert!(!is_cross_site(&headers(&[("origin", "https://auth.example")]), own));
        assert!(!is_cross_site(&headers(&[("origin", "http://localhost:3000"), ("host", "localhost:3000")]), own));
        assert!(!is_cross_site(&headers(&[("sec-fetch-site", "same-origin")]), own));
        assert!(!is_cross_site(&headers(&[("sec-fetch-site", "same-site")]), own));
    }
}
