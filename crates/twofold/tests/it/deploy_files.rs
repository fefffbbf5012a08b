//! The deploy files the tests cannot start. Traefik has no Debian package, so
//! `deploy/forward-auth/traefik.yml` is checked for its structure instead: it must at least
//! be valid YAML whose routers, middlewares and services fit together as
//! docs/forward-auth.md describes.

use serde_json::Value;

/// The five identity headers Twofold answers with, which the proxy copies to the request.
const REMOTE_HEADERS: [&str; 5] = ["Remote-User", "Remote-Email", "Remote-Name", "Remote-Groups", "Remote-Account"];

/// The Traefik file read as YAML into a JSON value.
fn traefik() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/forward-auth/traefik.yml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path} is not valid YAML: {e}"))
}

/// The entries of an object under `http`, by name; the section must be a non-empty map.
fn section<'a>(config: &'a Value, name: &str) -> &'a serde_json::Map<String, Value> {
    let map = config["http"][name].as_object().unwrap_or_else(|| panic!("http.{name} is missing or not a map"));
    assert!(!map.is_empty(), "http.{name} is empty");
    map
}

/// `deploy/forward-auth/traefik.yml` is complete as written: every router names a service and
/// middlewares that exist, the forwardAuth middleware asks Twofold's forward-auth endpoint
/// without trusting the client's `X-Forwarded-*` and copies the five `Remote-*` headers,
/// and every service has a server to send requests to. Both Twofold's own host and the
/// protected application have a router.
#[test]
fn the_traefik_file_fits_together() {
    let config = traefik();
    let routers = section(&config, "routers");
    let middlewares = section(&config, "middlewares");
    let services = section(&config, "services");

    for (name, router) in routers {
        let rule = router["rule"].as_str().unwrap_or_else(|| panic!("router {name} has no rule"));
        assert!(rule.starts_with("Host(`") && rule.ends_with("`)"), "router {name}: rule {rule}");
        let service = router["service"].as_str().unwrap_or_else(|| panic!("router {name} names no service"));
        assert!(services.contains_key(service), "router {name} names service {service}, which is not in http.services");
        let used: Vec<&str> = match &router["middlewares"] {
            Value::Null => Vec::new(),
            Value::Array(names) => {
                names.iter().map(|m| m.as_str().unwrap_or_else(|| panic!("router {name}: {m} is not a name"))).collect()
            }
            other => panic!("router {name}: middlewares must be a list, not {other}"),
        };
        for middleware in &used {
            assert!(
                middlewares.contains_key(*middleware),
                "router {name} uses middleware {middleware}, which is not in http.middlewares"
            );
        }
        if rule.contains("{{APP_HOST}}") {
            let asks_twofold = used.iter().any(|m| middlewares[*m].get("forwardAuth").is_some());
            assert!(asks_twofold, "the application's router {name} does not ask Twofold");
        }
    }
    let rules: Vec<&str> = routers.values().filter_map(|r| r["rule"].as_str()).collect();
    for host in ["{{AUTH_HOST}}", "{{APP_HOST}}"] {
        assert!(rules.iter().any(|r| r.contains(host)), "no router for {host}: {rules:?}");
    }

    let forward_auths: Vec<&Value> = middlewares.values().filter_map(|m| m.get("forwardAuth")).collect();
    assert_eq!(forward_auths.len(), 1, "one forwardAuth middleware: {middlewares:?}");
    let forward_auth = forward_auths[0];
    let address = forward_auth["address"].as_str().expect("forwardAuth.address");
    assert!(address.starts_with("http"), "forwardAuth.address {address}");
    assert!(address.ends_with("/api/v1/authz/forward-auth"), "forwardAuth.address {address}");
    assert_eq!(forward_auth["trustForwardHeader"], Value::Bool(false), "Traefik must describe the request itself");
    let mut copied: Vec<&str> = forward_auth["authResponseHeaders"]
        .as_array()
        .expect("forwardAuth.authResponseHeaders is a list")
        .iter()
        .map(|h| h.as_str().expect("a header name"))
        .collect();
    copied.sort_unstable();
    let mut expected = REMOTE_HEADERS.to_vec();
    expected.sort_unstable();
    assert_eq!(copied, expected, "authResponseHeaders");

    for (name, service) in services {
        let servers = service["loadBalancer"]["servers"]
            .as_array()
            .unwrap_or_else(|| panic!("service {name} has no loadBalancer.servers list"));
        assert!(!servers.is_empty(), "service {name} has no server");
        for server in servers {
            let url = server["url"].as_str().unwrap_or_else(|| panic!("service {name}: a server without url"));
            assert!(url.starts_with("http://") || url.starts_with("https://"), "service {name}: url {url}");
        }
    }
}
