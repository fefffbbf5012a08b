//! Webhooks (SEC-51): the account's audit events, signed per Standard Webhooks
//! (<https://www.standardwebhooks.com/>), sent only to addresses that are not the
//! instance's own network, retried with backoff for a day.

use std::net::IpAddr;

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::Entropy;

/// What every signing secret starts with (the Standard Webhooks libraries expect it).
pub const SECRET_PREFIX: &str = "whsec_";
/// Most webhooks an account may have.
pub const MAX_PER_ACCOUNT: usize = 10;
/// Longest URL accepted.
pub const MAX_URL_CHARS: usize = 2_000;
/// Attempts stop this long after the event.
pub const GIVE_UP_AFTER: i64 = 86_400;
/// The event a test button sends.
pub const TEST_EVENT: &str = "webhook.test";

/// A new signing secret: `whsec_` and 32 random bytes in base64, as the libraries expect.
pub fn generate_secret(entropy: &dyn Entropy) -> String {
    let mut key = [0u8; 32];
    entropy.fill(&mut key);
    format!("{SECRET_PREFIX}{}", BASE64.encode(&key))
}

/// The key inside a secret.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    BASE64.decode(secret.strip_prefix(SECRET_PREFIX)?.as_bytes()).ok()
}

/// `webhook-id`: unique per event and webhook, the same on every retry.
pub fn message_id(entropy: &dyn Entropy) -> String {
    let mut bytes = [0u8; 16];
    entropy.fill(&mut bytes);
    format!("msg_{}", data_encoding::BASE32_NOPAD.encode(&bytes).to_ascii_lowercase())
}

/// `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        // HMAC takes keys of any length; this cannot happen.
        return String::new();
    };
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", BASE64.encode(&mac.finalize().into_bytes()))
}

/// The events a webhook asks for, as typed: `*`, or audit event names.
pub fn parse_events<'a>(typed: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, String> {
    let mut events: Vec<String> = Vec::new();
    for event in typed.into_iter().map(str::trim) {
        let valid = event == "*"
            || (1..=64).contains(&event.len())
                && event.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
        if !valid {
            return Err(format!("{event:?} is not an event name: use \"*\" or names such as two_factor.disabled."));
        }
        events.push(event.to_owned());
    }
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err("A webhook needs at least one event, or \"*\" for all.".into());
    }
    if events.len() > 1 && events.iter().any(|e| e == "*") {
        return Err("\"*\" already means every event.".into());
    }
    Ok(events)
}

/// Whether a webhook with these (stored, space-separated) events wants `event`.
pub fn wants(events: &str, event: &str) -> bool {
    event == TEST_EVENT || events.split_whitespace().any(|e| e == "*" || e == event)
}

/// How long before attempt `attempt + 1` after `attempt` failed: 30 s, then four times as
/// long each time, at most 8 hours (30 s, 2 min, 8 min, 32 min, 2 h 8 min, 8 h, …).
pub fn retry_delay(attempt: u32) -> i64 {
    let exponent = attempt.saturating_sub(1).min(10);
    (30_i64 << (2 * exponent)).min(8 * 3_600)
}

/// Whether an address is the instance's own network or someone's private one: loopback,
/// private, link-local (cloud metadata at 169.254.169.254), unique-local, shared
/// (carrier-grade NAT), unspecified, multicast, broadcast or documentation ranges, also
/// when written as IPv4 inside IPv6.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064 && v6.segments()[1] == 0xff9b
        }
    }
}

/// Whether a webhook may be sent to `ip` of `host`: public addresses always; loopback when
/// `insecure_loopback` allows it; anything when the host is listed in `allow_hosts`.
pub fn may_send_to(host: &str, ip: IpAddr, allow_hosts: &[String], insecure_loopback: bool) -> bool {
    allow_hosts.iter().any(|h| h.eq_ignore_ascii_case(host) || h.parse::<IpAddr>().is_ok_and(|a| a == ip))
        || !is_internal(ip)
        || (insecure_loopback && ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::CountingEntropy;

    #[test]
    fn sec_51_the_signature_is_the_standard_webhooks_one() {
        // The Standard Webhooks reference test vector.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_and_ids_are_random_and_prefixed() {
        let entropy = CountingEntropy(std::sync::atomic::AtomicU8::new(1));
        let secret = generate_secret(&entropy);
        assert!(secret.starts_with("whsec_"));
        assert_eq!(secret_key(&secret).map(|k| k.len()), Some(32));
        assert!(secret_key("nope").is_none());
        assert!(message_id(&entropy).starts_with("msg_"));
    }

    #[test]
    fn events_are_names_or_everything() {
        assert_eq!(
            parse_events(["two_factor.disabled", "person.deactivated", "two_factor.disabled"]).unwrap().len(),
            2
        );
        assert_eq!(parse_events(["*"]).unwrap(), ["*"]);
        assert!(parse_events([]).is_err());
        assert!(parse_events(["*", "x"]).is_err());
        assert!(parse_events(["Two Factor"]).is_err());
        assert!(wants("*", "sign_in.succeeded"));
        assert!(wants("two_factor.disabled person.removed", "person.removed"));
        assert!(!wants("two_factor.disabled", "person.removed"));
        assert!(wants("two_factor.disabled", TEST_EVENT), "the test button always reaches it");
    }

    #[test]
    fn retries_start_within_30_seconds_and_back_off_to_8_hours() {
        let delays: Vec<i64> = (1..=8).map(retry_delay).collect();
        assert_eq!(delays, [30, 120, 480, 1_920, 7_680, 28_800, 28_800, 28_800]);
        let until_day: i64 = (1..=8).map(retry_delay).sum();
        assert!(until_day > GIVE_UP_AFTER, "attempts go on for the whole day");
    }

    #[test]
    fn sec_51_internal_addresses_are_refused_unless_allowed() {
        for internal in [
            "169.254.169.254",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "127.0.0.1",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            let ip: IpAddr = internal.parse().unwrap();
            assert!(is_internal(ip), "{internal}");
            assert!(!may_send_to("hooks.example.com", ip, &[], false), "{internal}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(may_send_to("localhost", lo, &[], true), "insecure loopback when allowed");
        assert!(!may_send_to("x", "10.0.0.1".parse().unwrap(), &[], true), "only loopback");
        assert!(may_send_to("hooks.internal", "10.0.0.1".parse().unwrap(), &["hooks.internal".into()], false));
        assert!(may_send_to("x", "10.0.0.1".parse().unwrap(), &["10.0.0.1".into()], false));
    }
}
