//! Request matchers over the request head.

use std::fmt;
use std::ops::{BitAnd, BitOr, Not};
use std::sync::Arc;

use http::{HeaderName, HeaderValue, Method, Request};

use super::view::{HttpRequest, HttpTrigger, IntoHttpTrigger, sealed};
use crate::ConfigError;

type Predicate = Arc<dyn Fn(&HttpRequest) -> bool + Send + Sync>;

#[derive(Clone)]
enum Node {
    Any,
    Method(Method),
    Path(Arc<str>),
    PathPrefix(Arc<str>),
    PathGlob(Arc<Glob>),
    Host(Arc<str>),
    Header(HeaderName),
    HeaderValue(HeaderName, HeaderValue),
    Grpc,
    GrpcService(Arc<str>),
    GrpcMethod(Arc<str>, Arc<str>),
    Predicate(Predicate, &'static str),
    All(Arc<[Self]>),
    AnyOf(Arc<[Self]>),
    Not(Arc<Self>),
    /// A constructor refused its input: never matches, and a fault set
    /// holding it fails to build with this error.
    Invalid(Arc<ConfigError>),
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::Method(m) => write!(f, "method({m})"),
            Self::Path(p) => write!(f, "path({p:?})"),
            Self::PathPrefix(p) => write!(f, "path_prefix({p:?})"),
            Self::PathGlob(g) => write!(f, "path_glob({:?})", g.pattern),
            Self::Host(h) => write!(f, "host({h:?})"),
            Self::Header(n) => write!(f, "header({n})"),
            Self::HeaderValue(n, v) => write!(f, "header_value({n}, {v:?})"),
            Self::Grpc => f.write_str("grpc"),
            Self::GrpcService(s) => write!(f, "grpc_service({s:?})"),
            Self::GrpcMethod(s, m) => write!(f, "grpc_method({s:?}, {m:?})"),
            Self::Predicate(_, name) => write!(f, "predicate({name})"),
            Self::All(nodes) => f.debug_tuple("all").field(nodes).finish(),
            Self::AnyOf(nodes) => f.debug_tuple("any_of").field(nodes).finish(),
            Self::Not(node) => f.debug_tuple("not").field(node).finish(),
            Self::Invalid(e) => write!(f, "invalid({e})"),
        }
    }
}

impl Node {
    /// A small dispatcher: every check but the method's lives in its own
    /// function, so that matching a method (the common first test) does
    /// not pay for saving the registers the others need.
    fn matches(&self, head: &HttpRequest) -> bool {
        match self {
            Self::Any => true,
            Self::Method(m) => head.method() == m,
            Self::All(nodes) => nodes.iter().all(|n| n.matches(head)),
            Self::AnyOf(nodes) => nodes.iter().any(|n| n.matches(head)),
            Self::Not(node) => !node.matches(head),
            Self::PathGlob(g) => g.matches(head.path()),
            _ => self.matches_other(head),
        }
    }

    /// The refusal this node carries. Combinators keep a refused part as
    /// the whole (see [`RequestMatcher::join`]), so it is always on top and
    /// a refused matcher never matches, negated or not.
    fn error(&self) -> Option<&ConfigError> {
        match self {
            Self::Invalid(e) => Some(e),
            _ => None,
        }
    }

    #[inline(never)]
    fn matches_other(&self, head: &HttpRequest) -> bool {
        match self {
            Self::Path(p) => head.path() == &**p,
            Self::PathPrefix(p) => prefix_matches(p, head.path()),
            Self::Host(h) => head.host().is_some_and(|host| host.eq_ignore_ascii_case(h)),
            Self::Header(n) => head.headers().contains_key(n),
            Self::HeaderValue(n, v) => head.headers().get_all(n).iter().any(|x| x == v),
            Self::Grpc => head.is_grpc(),
            Self::GrpcService(s) => head.grpc_method().is_some_and(|(svc, _)| svc == &**s),
            Self::GrpcMethod(s, m) => head
                .grpc_method()
                .is_some_and(|(svc, meth)| svc == &**s && meth == &**m),
            Self::Predicate(p, _) => p(head),
            Self::Any
            | Self::Method(_)
            | Self::All(_)
            | Self::AnyOf(_)
            | Self::Not(_)
            | Self::PathGlob(_) => self.matches(head),
            Self::Invalid(_) => false,
        }
    }
}

/// Segment-aware prefix: `/items` matches `/items` and `/items/3`, not
/// `/itemsets`; a prefix ending in `/` matches anything under it.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        None => false,
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
    }
}

/// Matches one path segment against a pattern segment in which `*` stands
/// for any run of bytes (within the segment). Works on bytes: paths are
/// ASCII on the wire, and byte scanning is several times cheaper than
/// `str` patterns on the request path.
fn segment_matches(pattern: &[u8], segment: &[u8]) -> bool {
    let Some(star) = pattern.iter().position(|&b| b == b'*') else {
        return pattern == segment;
    };
    let Some(mut remaining) = segment.strip_prefix(&pattern[..star]) else {
        return false;
    };
    let mut parts = pattern[star + 1..].split(|&b| b == b'*').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            // Last literal: must end the segment.
            return remaining.ends_with(part);
        }
        match find(remaining, part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The first position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A path glob, compiled once, when built: the literal segments it starts
/// with become one prefix compared with `starts_with`, and only the rest is
/// matched segment by segment.
struct Glob {
    pattern: Arc<str>,
    /// The leading literal segments, joined, with a trailing `/` when more
    /// segments follow (`/items/` for `/items/*`).
    prefix: Box<[u8]>,
    /// The segments after the prefix.
    segments: Box<[Segment]>,
    /// A final `**`: whatever remains matches, including nothing.
    rest: bool,
}

enum Segment {
    /// `*`: exactly one non-empty segment.
    Any,
    /// No `*`: this exact segment.
    Literal(Box<[u8]>),
    /// `*` inside a segment (`*.json`).
    Wild(Box<[u8]>),
}

impl Glob {
    /// Compiles a pattern already checked by [`check_glob`].
    fn new(pattern: Arc<str>) -> Self {
        let mut parts: Vec<&str> = pattern.split('/').collect();
        let rest = parts.last() == Some(&"**");
        if rest {
            parts.pop();
        }
        let literal = parts.iter().take_while(|p| !p.contains('*')).count();
        let mut prefix = parts[..literal].join("/");
        if literal < parts.len() {
            prefix.push('/');
        }
        let segments = parts[literal..]
            .iter()
            .map(|p| match *p {
                "*" => Segment::Any,
                p if p.contains('*') => Segment::Wild(p.as_bytes().into()),
                p => Segment::Literal(p.as_bytes().into()),
            })
            .collect();
        Self {
            pattern,
            prefix: prefix.into_bytes().into(),
            segments,
            rest,
        }
    }

    fn matches(&self, path: &str) -> bool {
        let Some(rem) = path.as_bytes().strip_prefix(&*self.prefix) else {
            return false;
        };
        if self.segments.is_empty() {
            // All literal: the path ends here, or, with `**`, goes on past a
            // segment boundary.
            return rem.is_empty() || (self.rest && rem.first() == Some(&b'/'));
        }
        self.matches_segments(rem)
    }

    fn matches_segments(&self, rem: &[u8]) -> bool {
        let mut path = rem.split(|&b| b == b'/');
        for segment in &*self.segments {
            let Some(s) = path.next() else {
                return false;
            };
            let ok = match segment {
                Segment::Any => !s.is_empty(),
                Segment::Literal(l) => **l == *s,
                Segment::Wild(p) => segment_matches(p, s),
            };
            if !ok {
                return false;
            }
        }
        self.rest || path.next().is_none()
    }
}

fn check_path(field: &'static str, path: &str) -> Result<Arc<str>, ConfigError> {
    if !path.starts_with('/') {
        return Err(ConfigError::invalid(field, path, "must start with `/`"));
    }
    // A request's path is what `http` parses out of its URI: no query, no
    // fragment, no space or control character (those are percent-encoded
    // on the wire). A matcher path outside that could never match.
    if let Some(c) = path.chars().find(|c| matches!(c, '?' | '#')) {
        return Err(ConfigError::invalid(
            field,
            path,
            if c == '?' {
                "holds a query (`?`): paths are matched without their query string"
            } else {
                "holds a fragment (`#`): requests never carry one"
            },
        ));
    }
    let parses = http::uri::PathAndQuery::try_from(path).is_ok_and(|p| p.path() == path);
    if !parses || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::invalid(
            field,
            path,
            "is not a valid URI path (percent-encode spaces and other reserved characters, e.g. `%20`)",
        ));
    }
    Ok(Arc::from(path))
}

fn header_name(field: &'static str, name: &str) -> Result<HeaderName, ConfigError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| ConfigError::invalid(field, name, "not a valid header name"))
}

fn grpc_part(field: &'static str, s: &str) -> Result<Arc<str>, ConfigError> {
    if s.is_empty() || s.contains('/') {
        return Err(ConfigError::invalid(
            field,
            s,
            "must be non-empty and contain no `/`",
        ));
    }
    Ok(Arc::from(s))
}

/// The glob checks on top of [`check_path`]: `**` only as the whole last
/// segment.
fn check_glob(pattern: &str) -> Result<Arc<str>, ConfigError> {
    let pattern = check_path("matcher.path_glob", pattern)?;
    let mut segments = pattern.split('/').peekable();
    while let Some(segment) = segments.next() {
        if segment.contains("**") && (segment != "**" || segments.peek().is_some()) {
            return Err(ConfigError::invalid(
                "matcher.path_glob",
                &*pattern,
                "`**` must be the whole last segment",
            ));
        }
    }
    Ok(pattern)
}

fn check_host(host: &str) -> Result<Arc<str>, ConfigError> {
    if host.is_empty() || host.contains('/') {
        return Err(ConfigError::invalid(
            "matcher.host",
            host,
            "must be a non-empty host name without `/`",
        ));
    }
    Ok(Arc::from(host))
}

/// Selects which requests a fault applies to, from the request head only.
///
/// Build one from the constructors and combine with [`and`](Self::and),
/// [`or`](Self::or) and `!` ([`Not`]). Matching borrows the request and
/// never allocates; every check is on the method, URI or headers, so it
/// works for any body type.
///
/// ```
/// use http::Method;
/// use tower_chaos::http::{HttpRequest, RequestMatcher};
///
/// let puts_to_items = RequestMatcher::method(Method::PUT).and(RequestMatcher::path_glob("/items/*"));
/// let put = http::Request::put("/items/42").body(()).unwrap();
/// let get = http::Request::get("/items/42").body(()).unwrap();
/// assert!(puts_to_items.matches_request(&put));
/// assert!(!puts_to_items.matches_request(&get));
/// let view: &HttpRequest = &get;
/// assert!((!puts_to_items).matches(view));
/// ```
///
/// # Errors at build
///
/// Every constructor returns a matcher, so matchers chain without `?`. A
/// constructor given a value no request can match (a path without a
/// leading `/`, a misplaced `**`, an invalid header name) returns a matcher
/// that never matches and carries a [`ConfigError`] naming the field and
/// the value: the fault set holding it refuses to build
/// ([`HttpChaosLayerBuilder::build`](super::HttpChaosLayerBuilder::build),
/// [`Target::set_faults`](crate::Target::set_faults)), and
/// [`validate`](Self::validate) reports it on its own.
///
/// ```
/// use tower_chaos::http::{HttpChaosLayer, RequestMatcher, SyntheticResponse};
///
/// let err = HttpChaosLayer::builder("api")
///     .seed(1)
///     .fault(SyntheticResponse::bad_gateway().when(RequestMatcher::path_glob("/a/**/b")))
///     .build()
///     .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid `matcher.path_glob` = \"/a/**/b\": `**` must be the whole last segment"
/// );
/// ```
///
/// # Errors at compile time
///
/// A matcher or trigger in the wrong place is refused by the compiler in
/// the crate's words: a `when` or
/// [`and_trigger`](Self::and_trigger) given something that is no HTTP
/// trigger (a `Result`, a `Trigger` on another request type) says "`…` is
/// not a trigger on HTTP requests" and suggests a `RequestMatcher`; a `?`
/// after a constructor says `RequestMatcher` is no `Result`. The request
/// view's trait object stays out of these messages. It still shows where
/// the compiler names an [`HttpTrigger`](super::HttpTrigger) or the
/// request view itself, because they are type aliases of
/// `Trigger<dyn RequestView>` and `dyn RequestView`: an operator with an
/// `HttpTrigger` on the left and a non-trigger on the right
/// (`HttpTrigger::first(1) & matcher.validate()`), or a closure given to
/// `HttpTrigger::when` that takes another type than `&HttpRequest`. Each
/// case below fails to compile:
///
/// ```compile_fail
/// use tower_chaos::http::{RequestMatcher, SyntheticResponse};
/// // A `Result` is no trigger: drop `.validate()` (the build checks).
/// let _ = SyntheticResponse::bad_gateway().when(RequestMatcher::path("/x").validate());
/// ```
///
/// ```compile_fail
/// use tower_chaos::Trigger;
/// use tower_chaos::http::RequestMatcher;
/// // A trigger on `String`s is no trigger on HTTP requests.
/// let _ = RequestMatcher::path("/x").and_trigger(Trigger::when(|s: &String| s.is_empty()));
/// ```
///
/// ```compile_fail
/// use tower_chaos::Trigger;
/// use tower_chaos::http::RequestMatcher;
/// let _ = RequestMatcher::path("/x") & Trigger::<String>::first(1);
/// ```
///
/// ```compile_fail
/// use tower_chaos::http::RequestMatcher;
/// fn rule() -> Result<(), tower_chaos::ConfigError> {
///     // Constructors return matchers, not `Result`s: no `?`.
///     let _m = RequestMatcher::path_prefix("/x")?;
///     Ok(())
/// }
/// ```
///
/// # Clone
///
/// Cheap: strings and sub-matchers sit behind `Arc`s.
#[derive(Clone)]
pub struct RequestMatcher {
    node: Node,
}

impl fmt::Debug for RequestMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestMatcher({:?})", self.node)
    }
}

impl Default for RequestMatcher {
    fn default() -> Self {
        Self::any()
    }
}

impl RequestMatcher {
    /// A matcher from a checked node, or one carrying the refusal.
    fn checked(node: Result<Node, ConfigError>) -> Self {
        Self {
            node: node.unwrap_or_else(|e| Node::Invalid(Arc::new(e))),
        }
    }

    /// Matches every request.
    ///
    /// ```
    /// use tower_chaos::http::RequestMatcher;
    /// assert!(RequestMatcher::any().matches_request(&http::Request::new(())));
    /// ```
    #[must_use]
    pub const fn any() -> Self {
        Self { node: Node::Any }
    }

    /// Matches requests with this method.
    ///
    /// ```
    /// use tower_chaos::http::RequestMatcher;
    /// let m = RequestMatcher::method(http::Method::DELETE);
    /// assert!(m.matches_request(&http::Request::delete("/").body(()).unwrap()));
    /// ```
    #[must_use]
    pub const fn method(method: Method) -> Self {
        Self {
            node: Node::Method(method),
        }
    }

    /// Matches this exact path (no query string, not percent-decoded).
    ///
    /// # Errors at build
    ///
    /// [`ConfigError::Invalid`] for `matcher.path` (see
    /// [above](Self#errors-at-build)) unless it starts with `/` and is a
    /// path a request can have: no query (`?`), no fragment (`#`), no space
    /// or control character (percent-encode them, as they are on the wire).
    /// The same holds for [`path_prefix`](Self::path_prefix) and
    /// [`path_glob`](Self::path_glob).
    ///
    /// ```
    /// use tower_chaos::http::RequestMatcher;
    /// let m = RequestMatcher::path("/health");
    /// assert!(m.matches_request(&http::Request::get("/health?verbose=1").body(()).unwrap()));
    /// assert!(RequestMatcher::path("health").validate().is_err());
    /// assert!(RequestMatcher::path("/a b").validate().is_err());
    /// assert!(RequestMatcher::path("/health?verbose=1").validate().is_err());
    /// assert!(RequestMatcher::path("/a%20b").validate().is_ok());
    /// ```
    #[must_use]
    pub fn path(path: &str) -> Self {
        Self::checked(check_path("matcher.path", path).map(Node::Path))
    }

    /// Matches paths under `prefix`, segment by segment: `/items` matches
    /// `/items` and `/items/3` but not `/itemsets`.
    ///
    /// # Errors at build
    ///
    /// [`ConfigError::Invalid`] for `matcher.path_prefix`, as for
    /// [`path`](Self::path).
    ///
    /// ```
    /// use tower_chaos::http::RequestMatcher;
    /// let m = RequestMatcher::path_prefix("/items");
    /// assert!(m.matches_request(&http::Request::get("/items/3").body(()).unwrap()));
    /// assert!(!m.matches_request(&http::Request::get("/itemsets").body(()).unwrap()));
    /// ```
    #[must_use]
    pub fn path_prefix(prefix: &str) -> Self {
        Self::checked(check_path("matcher.path_prefix", prefix).map(Node::PathPrefix))
    }

    /// Matches paths against a simple glob, segment by segment: a `*`
    /// segment matches exactly one non-empty segment, `*` inside a segment
    /// matches any characters within it (`*.json`), and a final `**`
    /// segment matches whatever remains, including nothing.
    ///
    /// # Errors at build
    ///
    /// [`ConfigError::Invalid`] for `matcher.path_glob`, as for
    /// [`path`](Self::path), or when `**` is anything but the whole last
    /// segment.
    ///
    /// ```
    /// use tower_chaos::http::RequestMatcher;
    /// let m = RequestMatcher::path_glob("/buckets/*/objects/**");
    /// assert!(m.matches_request(&http::Request::get("/buckets/b1/objects/a/b.txt").body(()).unwrap()));
    /// assert!(!m.matches_request(&http::Request::get("/buckets//objects").body(()).unwrap()));
    /// let err = RequestMatcher::path_glob("/a/**/b").validate().unwrap_err();
    /// assert!(err.to_string().contains("matcher.path_glob"));
    /// ```
    #[must_use]
    pub fn path_glob(pattern: &str) -> Self {
        Self::checked(check_glob(pattern).map(|p| Node::PathGlob(Arc::new(Glob::new(p)))))
    }

    /// Matches the host (see [`RequestView::host`](super::RequestView::host)),
    /// case-insensitively, ignoring the port.
    ///
    /// # Errors at build
    ///
    /// [`ConfigError::Invalid`] for `matcher.host` when it is empty or holds
    /// a `/`.
    ///
    /// ```
    /// use tower_chaos::http::RequestMatcher;
    /// let m = RequestMatcher::host("S3.amazonaws.com");
    /// assert!(m.matches_request(&http::Request::get("http://s3.amazonaws.com:80/k").body(()).unwrap()));
    /// assert!(RequestMatcher::host("").validate().is_err());
    /// ```
    #[must_use]
    pub fn host(host: &str) -> Self {
        Self::checked(check_host(host).map(Node::Host))
    }

    /// Matches requests carrying header `name`, whatever its value.
    ///
    /// # Errors at build
    ///
    /// [`ConfigError::Invalid`] for `matcher.header` when `name` is not a
    /// valid header name.
    ///
    /// ```
    /// use tower_chaos::http::RequestMatcher;
    /// let m = RequestMatcher::header("x-canary");
    /// assert!(m.matches_request(&http::Request::get("/").header("x-canary", "1").body(()).unwrap()));
    /// assert!(RequestMatcher::header("x canary").validate().is_err());
    /// ```
    #[must_use]
    pub fn header(name: &str) -> Self {
        Self::checked(header_name("matcher.header", name).map(Node::Header))
    }

    /// Matches requests where one of the values of header `name` equals
    /// `value` exactly.
    ///
    /// # Errors at build
    ///
    /// [`ConfigError::Invalid`] for `matcher.header_value` when the name or
    /// the value is not valid in HTTP.
    ///
    /// ```
    /// use tower_chaos::http::RequestMatcher;
    /// let m = RequestMatcher::header_value("x-tenant", "acme");
    /// assert!(m.matches_request(&http::Request::get("/").header("x-tenant", "acme").body(()).unwrap()));
    /// assert!(!m.matches_request(&http::Request::get("/").header("x-tenant", "other").body(()).unwrap()));
    /// assert!(RequestMatcher::header_value("x-tenant", "a\nb").validate().is_err());
    /// ```
    #[must_use]
    pub fn header_value(name: &str, value: &str) -> Self {
        Self::checked(header_name("matcher.header_value", name).and_then(|n| {
            let v = HeaderValue::from_str(value).map_err(|_| {
                ConfigError::invalid("matcher.header_value", value, "not a valid header value")
            })?;
            Ok(Node::HeaderValue(n, v))
        }))
    }

    /// Matches gRPC requests (by `content-type`).
    ///
    /// ```
    /// use tower_chaos::http::RequestMatcher;
    /// let r = http::Request::post("/a.B/C").header("content-type", "application/grpc+proto").body(()).unwrap();
    /// assert!(RequestMatcher::grpc().matches_request(&r));
    /// ```
    #[must_use]
    pub const fn grpc() -> Self {
        Self { node: Node::Grpc }
    }

    /// Matches calls to any method of the gRPC `service` (fully qualified,
    /// e.g. `helloworld.Greeter`), from the path.
    ///
    /// # Errors at build
    ///
    /// [`ConfigError::Invalid`] for `matcher.grpc_service` when empty or
    /// holding a `/`.
    ///
    /// ```
    /// use tower_chaos::http::RequestMatcher;
    /// let m = RequestMatcher::grpc_service("helloworld.Greeter");
    /// assert!(m.matches_request(&http::Request::post("/helloworld.Greeter/SayHello").body(()).unwrap()));
    /// assert!(RequestMatcher::grpc_service("a/b").validate().is_err());
    /// ```
    #[must_use]
    pub fn grpc_service(service: &str) -> Self {
        Self::checked(grpc_part("matcher.grpc_service", service).map(Node::GrpcService))
    }

    /// Matches calls to one gRPC method, e.g.
    /// `("helloworld.Greeter", "SayHello")`.
    ///
    /// # Errors at build
    ///
    /// [`ConfigError::Invalid`] for `matcher.grpc_method` when either part is
    /// empty or holds a `/`.
    ///
    /// ```
    /// use tower_chaos::http::RequestMatcher;
    /// let m = RequestMatcher::grpc_method("helloworld.Greeter", "SayHello");
    /// assert!(!m.matches_request(&http::Request::post("/helloworld.Greeter/SayBye").body(()).unwrap()));
    /// assert!(RequestMatcher::grpc_method("helloworld.Greeter", "").validate().is_err());
    /// ```
    #[must_use]
    pub fn grpc_method(service: &str, method: &str) -> Self {
        Self::checked(
            grpc_part("matcher.grpc_method", service)
                .and_then(|s| Ok(Node::GrpcMethod(s, grpc_part("matcher.grpc_method", method)?))),
        )
    }

    /// Matches when `predicate` returns `true` for the request.
    ///
    /// ```
    /// use tower_chaos::http::RequestMatcher;
    /// let m = RequestMatcher::predicate(|req| req.uri().query().is_some_and(|q| q.contains("debug")));
    /// assert!(m.matches_request(&http::Request::get("/?debug=1").body(()).unwrap()));
    /// ```
    pub fn predicate<F>(predicate: F) -> Self
    where
        F: Fn(&HttpRequest) -> bool + Send + Sync + 'static,
    {
        Self {
            node: Node::Predicate(Arc::new(predicate), std::any::type_name::<F>()),
        }
    }

    /// This matcher, or the first error one of its parts was built with
    /// (see [above](Self#errors-at-build)); what a fault set checks when
    /// it is built, for matchers used on their own.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of the first refused part, naming its field and
    /// value.
    ///
    /// ```
    /// use http::Method;
    /// use tower_chaos::http::RequestMatcher;
    ///
    /// let m = RequestMatcher::method(Method::PUT) & !RequestMatcher::path_prefix("items");
    /// assert_eq!(
    ///     m.validate().unwrap_err().to_string(),
    ///     "invalid `matcher.path_prefix` = \"items\": must start with `/`"
    /// );
    /// assert!(RequestMatcher::method(Method::PUT).validate().is_ok());
    /// ```
    pub fn validate(self) -> Result<Self, ConfigError> {
        match self.node.error() {
            Some(e) => Err(e.clone()),
            None => Ok(self),
        }
    }

    /// Matches when both match.
    ///
    /// ```
    /// use tower_chaos::http::RequestMatcher;
    /// let m = RequestMatcher::method(http::Method::GET).and(RequestMatcher::path("/a"));
    /// assert!(!m.matches_request(&http::Request::get("/b").body(()).unwrap()));
    /// ```
    #[must_use]
    pub fn and(self, other: Self) -> Self {
        self.join(other, Node::All, |n| match n {
            Node::All(nodes) => Ok(nodes),
            node => Err(node),
        })
    }

    /// Matches when either matches.
    ///
    /// ```
    /// use tower_chaos::http::RequestMatcher;
    /// let m = RequestMatcher::method(http::Method::PUT).or(RequestMatcher::method(http::Method::POST));
    /// assert!(m.matches_request(&http::Request::post("/").body(()).unwrap()));
    /// ```
    #[must_use]
    pub fn or(self, other: Self) -> Self {
        self.join(other, Node::AnyOf, |n| match n {
            Node::AnyOf(nodes) => Ok(nodes),
            node => Err(node),
        })
    }

    /// `self` and `other` under one `All`/`AnyOf` (flattening a left side
    /// of the same kind). A refused side stands for the whole, so the
    /// refusal reaches the build and nothing matches meanwhile.
    fn join(
        self,
        other: Self,
        make: fn(Arc<[Node]>) -> Node,
        same: fn(Node) -> Result<Arc<[Node]>, Node>,
    ) -> Self {
        if self.node.error().is_some() {
            return self;
        }
        if other.node.error().is_some() {
            return other;
        }
        let mut nodes = match same(self.node) {
            Ok(nodes) => nodes.to_vec(),
            Err(node) => vec![node],
        };
        nodes.push(other.node);
        Self {
            node: make(nodes.into()),
        }
    }

    /// A trigger that fires when this matcher matches and then `trigger`
    /// fires. `trigger` is evaluated only for matching requests, so counting
    /// triggers count matching requests: `first(3)` below fails the first
    /// three `PUT`s, whatever else comes in between. Same as
    /// `matcher & trigger`.
    ///
    /// ```
    /// use http::Method;
    /// use tower_chaos::Trigger;
    /// use tower_chaos::http::RequestMatcher;
    ///
    /// let first_three_puts = RequestMatcher::method(Method::PUT).and_trigger(Trigger::first(3));
    /// assert_eq!(format!("{first_three_puts:?}"), "All([When(RequestMatcher(method(PUT))), First(3)])");
    /// // A matcher is a trigger too.
    /// let puts_under_items = RequestMatcher::method(Method::PUT).and_trigger(RequestMatcher::path_prefix("/items"));
    /// assert!(format!("{puts_under_items:?}").contains("path_prefix(\"/items\")"));
    /// ```
    #[must_use]
    pub fn and_trigger(self, trigger: impl IntoHttpTrigger) -> HttpTrigger {
        HttpTrigger::from(self).and(trigger.into_http_trigger())
    }

    /// Whether the request matches, read through the view triggers get.
    /// A matcher built from a refused value never matches.
    ///
    /// ```
    /// use tower_chaos::http::{HttpRequest, RequestMatcher};
    /// let (parts, ()) = http::Request::get("/x").body(()).unwrap().into_parts();
    /// let view: &HttpRequest = &parts;
    /// assert!(RequestMatcher::path("/x").matches(view));
    /// assert!(!RequestMatcher::path("x").matches(view));
    /// ```
    #[inline]
    #[must_use]
    pub fn matches(&self, request: &HttpRequest) -> bool {
        self.node.matches(request)
    }

    /// Whether the request matches (its body is not touched).
    ///
    /// ```
    /// use tower_chaos::http::RequestMatcher;
    /// let request = http::Request::get("/x").body(vec![1u8, 2, 3]).unwrap();
    /// assert!(!RequestMatcher::method(http::Method::POST).matches_request(&request));
    /// ```
    #[inline]
    pub fn matches_request<B: 'static>(&self, request: &Request<B>) -> bool {
        self.matches(request)
    }
}

impl From<RequestMatcher> for HttpTrigger {
    /// A trigger that fires for the requests the matcher matches; combine
    /// it with any other trigger (`&`, `|`, `!`, [`Trigger::all`](crate::Trigger::all)…).
    ///
    /// ```
    /// use http::Method;
    /// use tower_chaos::Trigger;
    /// use tower_chaos::http::RequestMatcher;
    ///
    /// let half_of_the_puts = Trigger::from(RequestMatcher::method(Method::PUT)) & Trigger::rate(0.5);
    /// assert!(format!("{half_of_the_puts:?}").contains("Rate(0.5)"));
    /// ```
    fn from(matcher: RequestMatcher) -> Self {
        // A refused part fails the fault set's build, not the request.
        if let Some(e) = matcher.node.error() {
            return Self::invalid(e.clone());
        }
        let label = format!("{matcher:?}");
        Self::when_labeled(label, move |req| matcher.matches(req))
    }
}

impl sealed::SealedTrigger for RequestMatcher {}

impl IntoHttpTrigger for RequestMatcher {
    fn into_http_trigger(self) -> HttpTrigger {
        self.into()
    }
}

impl BitAnd for RequestMatcher {
    type Output = Self;

    /// `a & b` is [`a.and(b)`](RequestMatcher::and).
    fn bitand(self, other: Self) -> Self {
        self.and(other)
    }
}

impl BitOr for RequestMatcher {
    type Output = Self;

    /// `a | b` is [`a.or(b)`](RequestMatcher::or).
    fn bitor(self, other: Self) -> Self {
        self.or(other)
    }
}

// The `HttpTrigger` operator impls are not listed in the compiler's hints
// (they would read `Trigger<dyn RequestView>`).
#[diagnostic::do_not_recommend]
impl BitAnd<HttpTrigger> for RequestMatcher {
    type Output = HttpTrigger;

    /// `matcher & trigger` is
    /// [`matcher.and_trigger(trigger)`](RequestMatcher::and_trigger): the
    /// trigger sees only matching requests.
    fn bitand(self, trigger: HttpTrigger) -> HttpTrigger {
        self.and_trigger(trigger)
    }
}

#[diagnostic::do_not_recommend]
impl BitOr<HttpTrigger> for RequestMatcher {
    type Output = HttpTrigger;

    /// Fires when the matcher matches or, for the other requests, when
    /// `trigger` fires.
    fn bitor(self, trigger: HttpTrigger) -> HttpTrigger {
        HttpTrigger::from(self).or(trigger)
    }
}

#[diagnostic::do_not_recommend]
impl BitAnd<RequestMatcher> for HttpTrigger {
    type Output = Self;

    /// `trigger & matcher`: the matcher is checked only when the trigger
    /// fired, so a counting trigger on the left counts every request.
    fn bitand(self, matcher: RequestMatcher) -> Self {
        self.and(matcher.into())
    }
}

#[diagnostic::do_not_recommend]
impl BitOr<RequestMatcher> for HttpTrigger {
    type Output = Self;

    /// Fires when the trigger fires or, failing that, the matcher matches.
    fn bitor(self, matcher: RequestMatcher) -> Self {
        self.or(matcher.into())
    }
}

impl Not for RequestMatcher {
    type Output = Self;

    /// Matches when `self` does not.
    fn not(self) -> Self {
        Self {
            node: match self.node {
                Node::Not(inner) => Arc::unwrap_or_clone(inner),
                // Refused stays refused: it must not match everything.
                node @ Node::Invalid(_) => node,
                node => Node::Not(Arc::new(node)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Trigger;

    #[test]
    fn segment_globs() {
        assert!(segment_matches(b"*.json", b"a.json"));
        assert!(!segment_matches(b"*.json", b"a.jsonx"));
        assert!(segment_matches(b"a*b*c", b"aXXbYYc"));
        assert!(segment_matches(b"a*", b"a"));
        assert!(!segment_matches(b"ab*ba", b"aba"));
        assert!(segment_matches(b"*", b""));
        assert!(segment_matches(b"*-*", b"a-b"));
        assert!(!segment_matches(b"a*a", b"a"));
    }

    /// Reference wildcard matcher: `*` matches any run of bytes.
    fn reference(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| reference(rest, &s[i..])),
            Some((c, rest)) => s.first() == Some(c) && reference(rest, &s[1..]),
        }
    }

    /// Reference path glob: pattern and path zipped segment by segment.
    fn reference_glob(pattern: &str, path: &str) -> bool {
        let mut pats = pattern.split('/');
        let mut segs = path.split('/');
        loop {
            match (pats.next(), segs.next()) {
                (Some("**"), _) => return true,
                (Some("*"), Some("")) => return false,
                (Some(p), Some(s)) if !reference(p.as_bytes(), s.as_bytes()) => return false,
                (Some(_), Some(_)) => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn path_globs_agree_with_a_reference(
            pattern in "(/[ab*]{0,3}){1,4}(/\\*\\*)?",
            path in "(/[ab]{0,3}){1,5}",
        ) {
            // `path_glob` accepts `**` only as the whole last segment.
            proptest::prop_assume!(check_glob(&pattern).is_ok());
            proptest::prop_assert_eq!(glob_matches(&pattern, &path), reference_glob(&pattern, &path), "{} {}", pattern, path);
        }

        #[test]
        fn segment_globs_agree_with_a_reference(p in "[ab*]{0,6}", s in "[ab]{0,8}") {
            proptest::prop_assert_eq!(segment_matches(p.as_bytes(), s.as_bytes()), reference(p.as_bytes(), s.as_bytes()));
        }
    }

    fn glob_matches(pattern: &str, path: &str) -> bool {
        Glob::new(pattern.into()).matches(path)
    }

    #[test]
    fn path_globs() {
        assert!(glob_matches("/items/*", "/items/1"));
        assert!(!glob_matches("/items/*", "/items/1/2"));
        assert!(!glob_matches("/items/*", "/items"));
        assert!(glob_matches("/items/**", "/items"));
        assert!(glob_matches("/items/**", "/items/1/2"));
        assert!(glob_matches("/v*/users", "/v2/users"));
        assert!(!glob_matches("/v*/users", "/x2/users"));
        assert!(glob_matches("/", "/"));
        assert!(!glob_matches("/", "/a"));
        assert!(glob_matches("/**", "/"));
        assert!(glob_matches("/**", "/a/b"));
        assert!(!glob_matches("/a/*/c", "/a//c"));
        assert!(glob_matches("/items/**", "/items/"));
        assert!(!glob_matches("/items/**", "/itemsx"));
        assert!(glob_matches("/items", "/items"));
        assert!(!glob_matches("/items", "/items/"));
        assert!(glob_matches("/a/*/c/**", "/a/b/c"));
        assert!(glob_matches("/a/*/c/**", "/a/b/c/d/e"));
        assert!(!glob_matches("/a/*/c/**", "/a/b/cd"));
        assert!(glob_matches("/*.json", "/x.json"));
    }

    #[test]
    fn prefixes() {
        assert!(prefix_matches("/", "/anything"));
        assert!(prefix_matches("/a/", "/a/b"));
        assert!(!prefix_matches("/a", "/ab"));
    }

    #[test]
    fn not_not_is_identity_and_debug_names_predicate() {
        let m = !!RequestMatcher::predicate(|_| true);
        assert!(format!("{m:?}").contains("predicate("), "{m:?}");
        assert!(m.matches_request(&Request::new(())));
    }

    #[test]
    fn operators_combine_matchers_and_triggers() {
        let put = RequestMatcher::method(Method::PUT);
        let items = RequestMatcher::path_prefix("/items");
        let both = put.clone() & items.clone();
        assert!(both.matches_request(&Request::put("/items/1").body(()).unwrap()));
        assert!(!both.matches_request(&Request::get("/items/1").body(()).unwrap()));
        let either = put.clone() | items;
        assert!(either.matches_request(&Request::get("/items/1").body(()).unwrap()));
        let t: HttpTrigger = put.clone() & Trigger::first(1);
        assert!(
            format!("{t:?}").starts_with("All([When(RequestMatcher(method(PUT)))"),
            "{t:?}"
        );
        let t: HttpTrigger = Trigger::first(1) & put.clone();
        assert!(format!("{t:?}").starts_with("All([First(1), When("), "{t:?}");
        let t: HttpTrigger = put.clone() | Trigger::every(2);
        assert!(format!("{t:?}").starts_with("Any(["), "{t:?}");
        let t: HttpTrigger = Trigger::every(2) | put;
        assert!(format!("{t:?}").starts_with("Any([Every(2)"), "{t:?}");
    }

    #[test]
    fn grpc_paths() {
        let r = Request::post("/a.B/C/D").body(()).unwrap();
        assert_eq!((&r as &HttpRequest).grpc_method(), None);
    }

    // Issue 12: constructors return matchers; a refused value travels to
    // the fault set's build, through `&`, `|`, `!` and triggers, and never
    // matches meanwhile.
    #[test]
    fn refused_values_fail_the_build_not_the_request() {
        let bad = RequestMatcher::method(Method::PUT) & !RequestMatcher::path_glob("/a/**/b");
        assert!(!bad.matches_request(&Request::put("/x").body(()).unwrap()));
        assert!(!(!bad.clone()).matches_request(&Request::put("/x").body(()).unwrap()));
        assert!(
            format!("{bad:?}").contains("invalid(invalid `matcher.path_glob`"),
            "{bad:?}"
        );
        let err = ConfigError::invalid(
            "matcher.path_glob",
            "/a/**/b",
            "`**` must be the whole last segment",
        );
        assert_eq!(bad.clone().validate().unwrap_err(), err);
        let trigger: HttpTrigger = bad & Trigger::first(1);
        let target = crate::Target::builder("t").seed(1).build().unwrap();
        let set = crate::http::HttpFaultSet::new()
            .with(crate::http::SyntheticResponse::bad_gateway().when(trigger));
        assert_eq!(target.set_faults(set).unwrap_err(), err);
        let either = RequestMatcher::header("x y") | RequestMatcher::any();
        assert_eq!(
            either.validate().unwrap_err(),
            ConfigError::invalid("matcher.header", "x y", "not a valid header name")
        );
    }

    // Issue 10: a path that no request can have was accepted and never
    // matched.
    #[test]
    fn paths_no_request_can_have_are_refused() {
        for bad in ["/a b", "/a?b=1", "/a#top", "/a\tb", "/a\u{7f}"] {
            for (field, result) in [
                ("matcher.path", RequestMatcher::path(bad).validate()),
                ("matcher.path_prefix", RequestMatcher::path_prefix(bad).validate()),
                ("matcher.path_glob", RequestMatcher::path_glob(bad).validate()),
            ] {
                let err = result.expect_err(bad).to_string();
                assert!(err.contains(field), "{bad:?}: {err}");
            }
        }
        for good in ["/a%20b", "/items/*", "/a/b-c_d.e~f", "/x:y@z!$&'()+,;="] {
            assert!(RequestMatcher::path_glob(good).validate().is_ok(), "{good}");
        }
        let m = RequestMatcher::path("/a%20b");
        assert!(m.matches_request(&http::Request::get("/a%20b").body(()).unwrap()));
    }
}
