//! [`HttpRequest`]: the view of a request that HTTP triggers see, and
//! [`HttpTrigger`], the triggers on it. The rule and fault-set aliases live
//! in `fault.rs`, above both the view and the fault.

use http::header::{CONTENT_TYPE, HOST};
use http::{Extensions, HeaderMap, Method, Request, Uri, Version};

use crate::Trigger;

/// A request as HTTP triggers see it — its head (method, URI, version,
/// headers, extensions), whatever its body type — always used behind a
/// reference, like `str`: `&HttpRequest`.
///
/// HTTP rules and [`RequestMatcher`](super::RequestMatcher)s are evaluated
/// on a `&HttpRequest` borrowed from the `http::Request<B>` that `call`
/// received: no copy of the head, no allocation. Every `http::Request<B>` (with a `'static` body type, as
/// hyper's, axum's and tonic's are) and [`http::request::Parts`] can be
/// viewed as one. Its methods are those of [`RequestView`].
///
/// ```
/// use http::Method;
/// use tower_chaos::Trigger;
/// use tower_chaos::http::{HttpRequest, HttpTrigger, SyntheticResponse};
///
/// // Annotate the request as `&HttpRequest`, or name the trigger type
/// // (`HttpTrigger`) and let the closure's type be inferred.
/// let admin_writes = Trigger::when(|req: &HttpRequest| req.method() != Method::GET && req.path().starts_with("/admin"));
/// // Sticky per tenant: the same fifth of the tenants for a given seed.
/// let some_tenants = HttpTrigger::keyed(0.2, |req| req.headers().get("x-tenant").cloned());
/// let _rules = [
///     SyntheticResponse::service_unavailable().when(admin_writes),
///     SyntheticResponse::aws_throttling().when(some_tenants),
/// ];
///
/// let request = http::Request::post("/admin/users").body(()).unwrap();
/// let view: &HttpRequest = &request;
/// assert_eq!((view.method(), view.path()), (&Method::POST, "/admin/users"));
/// ```
pub type HttpRequest = dyn RequestView + 'static;

/// The methods of an [`HttpRequest`]: what triggers can read from a request
/// head. Sealed; implemented for `http::Request<B>` and
/// [`http::request::Parts`].
///
/// The methods can be called on a `&HttpRequest` without importing this
/// trait.
///
/// ```
/// use tower_chaos::http::HttpRequest;
/// let request = http::Request::put("/items/1").body(()).unwrap();
/// let view: &HttpRequest = &request;
/// assert_eq!(view.method(), http::Method::PUT);
/// ```
pub trait RequestView: sealed::Sealed {
    /// The method.
    ///
    /// ```
    /// use tower_chaos::http::HttpRequest;
    /// let r = http::Request::delete("/").body(()).unwrap();
    /// assert_eq!((&r as &HttpRequest).method(), http::Method::DELETE);
    /// ```
    fn method(&self) -> &Method;

    /// The URI.
    ///
    /// ```
    /// use tower_chaos::http::HttpRequest;
    /// let r = http::Request::get("/a?b=c").body(()).unwrap();
    /// assert_eq!((&r as &HttpRequest).uri().query(), Some("b=c"));
    /// ```
    fn uri(&self) -> &Uri;

    /// The HTTP version.
    ///
    /// ```
    /// use tower_chaos::http::HttpRequest;
    /// let r = http::Request::new(());
    /// assert_eq!((&r as &HttpRequest).version(), http::Version::HTTP_11);
    /// ```
    fn version(&self) -> Version;

    /// The headers.
    ///
    /// ```
    /// use tower_chaos::http::HttpRequest;
    /// let r = http::Request::get("/").header("x-tenant", "acme").body(()).unwrap();
    /// assert_eq!((&r as &HttpRequest).headers()["x-tenant"], "acme");
    /// ```
    fn headers(&self) -> &HeaderMap;

    /// The extensions (what earlier layers attached: a matched route, an
    /// authenticated user…).
    ///
    /// ```
    /// use tower_chaos::http::HttpRequest;
    /// let mut r = http::Request::new(());
    /// r.extensions_mut().insert(7u32);
    /// assert_eq!((&r as &HttpRequest).extensions().get::<u32>(), Some(&7));
    /// ```
    fn extensions(&self) -> &Extensions;

    /// The path, as sent (not percent-decoded).
    ///
    /// ```
    /// use tower_chaos::http::HttpRequest;
    /// let r = http::Request::get("http://h/items/1?x").body(()).unwrap();
    /// assert_eq!((&r as &HttpRequest).path(), "/items/1");
    /// ```
    fn path(&self) -> &str {
        self.uri().path()
    }

    /// The host: from the URI's authority (HTTP/2, client requests), else
    /// from the `Host` header (HTTP/1 servers); without the port.
    ///
    /// ```
    /// use tower_chaos::http::HttpRequest;
    /// let h2 = http::Request::get("https://api.example.com:8443/").body(()).unwrap();
    /// assert_eq!((&h2 as &HttpRequest).host(), Some("api.example.com"));
    /// let h1 = http::Request::get("/").header("host", "[::1]:80").body(()).unwrap();
    /// assert_eq!((&h1 as &HttpRequest).host(), Some("::1"));
    /// ```
    fn host(&self) -> Option<&str> {
        if let Some(host) = self.uri().host() {
            return Some(host);
        }
        let value = self.headers().get(HOST)?.to_str().ok()?;
        Some(strip_port(value))
    }

    /// The gRPC service and method parsed from a path of the form
    /// `/package.Service/Method`.
    ///
    /// ```
    /// use tower_chaos::http::HttpRequest;
    /// let r = http::Request::post("/pkg.Orders/Create").body(()).unwrap();
    /// assert_eq!((&r as &HttpRequest).grpc_method(), Some(("pkg.Orders", "Create")));
    /// let r = http::Request::post("/not/grpc/path").body(()).unwrap();
    /// assert_eq!((&r as &HttpRequest).grpc_method(), None);
    /// ```
    fn grpc_method(&self) -> Option<(&str, &str)> {
        let rest = self.path().strip_prefix('/')?;
        let (service, method) = rest.split_once('/')?;
        if service.is_empty() || method.is_empty() || method.contains('/') {
            return None;
        }
        Some((service, method))
    }

    /// Whether the `content-type` is `application/grpc` or one of its
    /// `+proto`/`+json` forms.
    ///
    /// ```
    /// use tower_chaos::http::HttpRequest;
    /// let r = http::Request::post("/a.B/C").header("content-type", "application/grpc").body(()).unwrap();
    /// assert!((&r as &HttpRequest).is_grpc());
    /// ```
    fn is_grpc(&self) -> bool {
        self.headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
    }
}

// `Self::method(self)` and the like call `Request`'s inherent methods.
impl<B> RequestView for Request<B> {
    #[inline]
    fn method(&self) -> &Method {
        Self::method(self)
    }

    #[inline]
    fn uri(&self) -> &Uri {
        Self::uri(self)
    }

    #[inline]
    fn version(&self) -> Version {
        Self::version(self)
    }

    #[inline]
    fn headers(&self) -> &HeaderMap {
        Self::headers(self)
    }

    #[inline]
    fn extensions(&self) -> &Extensions {
        Self::extensions(self)
    }
}

impl RequestView for http::request::Parts {
    #[inline]
    fn method(&self) -> &Method {
        &self.method
    }

    #[inline]
    fn uri(&self) -> &Uri {
        &self.uri
    }

    #[inline]
    fn version(&self) -> Version {
        self.version
    }

    #[inline]
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    #[inline]
    fn extensions(&self) -> &Extensions {
        &self.extensions
    }
}

/// `host` without its port (`[v6]:port` gives `v6`).
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest.split_once(']').map_or(host, |(h, _)| h);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

pub(super) mod sealed {
    /// Only `http::Request<B>` and `http::request::Parts` are requests.
    #[allow(unreachable_pub)] // sealed-trait pattern: public in a private module
    pub trait Sealed {}

    impl<B> Sealed for http::Request<B> {}
    impl Sealed for http::request::Parts {}

    /// Only HTTP triggers and request matchers are HTTP triggers.
    #[allow(unreachable_pub)] // sealed-trait pattern: public in a private module
    pub trait SealedTrigger {}

    impl SealedTrigger for super::HttpTrigger {}
}

/// What the `when` of an HTTP fault takes: an [`HttpTrigger`]
/// (`Trigger<HttpRequest>`) or a [`RequestMatcher`](super::RequestMatcher),
/// which converts into one. Sealed.
///
/// A trigger on another request type does not compile, and the error says
/// so in these words rather than in the trait objects underneath.
///
/// ```
/// use tower_chaos::Trigger;
/// use tower_chaos::http::{HttpTrigger, IntoHttpTrigger, RequestMatcher};
///
/// let puts: HttpTrigger = RequestMatcher::method(http::Method::PUT).into_http_trigger();
/// assert!(format!("{:?}", puts & Trigger::first(1)).contains("method(PUT)"));
/// ```
///
/// ```compile_fail
/// use tower_chaos::Trigger;
/// use tower_chaos::http::SyntheticResponse;
/// // A trigger on `String`s is no HTTP trigger: "`Trigger<String>` is not
/// // a trigger on HTTP requests".
/// let _ = SyntheticResponse::bad_gateway().when(Trigger::when(|s: &String| s.is_empty()));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a trigger on HTTP requests",
    label = "expected an `HttpTrigger` (a `Trigger<HttpRequest>`) or a `RequestMatcher`",
    note = "HTTP triggers read the request as `&HttpRequest`: `HttpTrigger::when(|req| ..)`, \
            `Trigger::when(|req: &HttpRequest| ..)`, a `RequestMatcher`, or a trigger that \
            reads no request (`Trigger::first(3)`, `Trigger::rate(0.5)`)",
    note = "a `RequestMatcher` needs no `?` and no `.validate()` here: a bad value is \
            refused when the fault set is built, naming the field"
)]
pub trait IntoHttpTrigger: sealed::SealedTrigger {
    /// The trigger.
    ///
    /// ```
    /// use tower_chaos::http::{HttpTrigger, IntoHttpTrigger};
    /// let t = HttpTrigger::every(2).into_http_trigger();
    /// assert_eq!(format!("{t:?}"), "Every(2)");
    /// ```
    fn into_http_trigger(self) -> HttpTrigger;
}

// Not listed in the compiler's "implemented for" hints: the alias would be
// spelled `Trigger<dyn RequestView>` there; the trait's own note names it.
#[diagnostic::do_not_recommend]
impl IntoHttpTrigger for HttpTrigger {
    fn into_http_trigger(self) -> HttpTrigger {
        self
    }
}

/// A trigger on HTTP requests: `Trigger<HttpRequest>`.
///
/// Naming the type lets closures go unannotated; a
/// [`RequestMatcher`](super::RequestMatcher) converts into one.
///
/// ```
/// use http::Method;
/// use tower_chaos::http::{HttpTrigger, RequestMatcher};
///
/// let puts = HttpTrigger::when(|req| req.method() == Method::PUT);
/// let half_of_the_gets = HttpTrigger::from(RequestMatcher::method(Method::GET)) & HttpTrigger::rate(0.5);
/// assert!(format!("{:?}", puts | half_of_the_gets).starts_with("Any("));
/// ```
pub type HttpTrigger = Trigger<HttpRequest>;

#[cfg(test)]
mod tests {
    use super::strip_port;

    #[test]
    fn hosts() {
        assert_eq!(strip_port("h:80"), "h");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("h"), "h");
    }
}
