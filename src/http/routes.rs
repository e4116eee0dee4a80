//! The route patterns of the API, for the metrics' `route` label: a request's path mapped to
//! the pattern that serves it (`/api/auth/sessions/{id}`), so the label never carries a raw
//! path and its values stay few.

use std::collections::HashMap;

/// The patterns: those without parameters by their exact path (one hash lookup, the hot case:
/// `/api/auth/me`), the others split into segments, where `{…}` matches any one segment.
pub struct RouteTable {
    exact: HashMap<&'static str, &'static str>,
    templated: Vec<(&'static str, Vec<&'static str>)>,
}

impl RouteTable {
    /// The table of `patterns` (the OpenAPI paths). Their strings are kept for the life of the
    /// process: the label values must be `'static`, and there are a few dozen at most.
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a String>) -> Self {
        let mut table = Self {
            exact: HashMap::new(),
            templated: Vec::new(),
        };
        for pattern in patterns {
            let pattern: &'static str = Box::leak(pattern.clone().into_boxed_str());
            if pattern.contains('{') {
                table
                    .templated
                    .push((pattern, pattern.split('/').collect()));
            } else {
                table.exact.insert(pattern, pattern);
            }
        }
        table
    }

    /// The pattern that serves `path`: `docs` for the documentation pages, `other` for what no
    /// route serves (404s).
    pub fn route_of(&self, path: &str) -> &'static str {
        if let Some(pattern) = self.exact.get(path) {
            return pattern;
        }
        if super::docs::is_docs_path(path) || path == "/openapi.json" {
            return "docs";
        }
        let segments = path.split('/');
        self.templated
            .iter()
            .find(|(_, pattern)| {
                let mut path = segments.clone();
                pattern.iter().all(|p| {
                    path.next()
                        .is_some_and(|s| p == &s || (p.starts_with('{') && !s.is_empty()))
                }) && path.next().is_none()
            })
            .map_or("other", |(pattern, _)| pattern)
    }
}

/// The method as a label: the standard ones by name, anything else as `other`.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_their_patterns_and_nothing_else_leaks_into_the_label() {
        let patterns: Vec<String> = ["/api/auth/me", "/api/auth/sessions/{id}", "/health"]
            .map(String::from)
            .to_vec();
        let table = RouteTable::new(&patterns);
        assert_eq!(table.route_of("/api/auth/me"), "/api/auth/me");
        assert_eq!(
            table.route_of("/api/auth/sessions/0123abcd"),
            "/api/auth/sessions/{id}"
        );
        assert_eq!(table.route_of("/api/auth/sessions/"), "other");
        assert_eq!(table.route_of("/api/auth/sessions/a/b"), "other");
        assert_eq!(table.route_of("/api/auth/me/x"), "other");
        assert_eq!(table.route_of("/nope"), "other");
        assert_eq!(table.route_of("/docs/index.html"), "docs");
    }
}
