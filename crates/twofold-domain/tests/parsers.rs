//! Property tests for every parser of outside input in the domain (issue 16, SEC-45):
//! whatever arrives, a parser answers (never panics), and what it accepts is in the form
//! the rest of the product relies on. 512 cases per property; `PROPTEST_CASES` raises it.

use proptest::prelude::*;
use twofold_domain::email::Email;
use twofold_domain::known_browser::KnownBrowser;
use twofold_domain::oidc::{client, jws, pkce};
use twofold_domain::otp::{self, Secret};
use twofold_domain::throttle::source_of;
use twofold_domain::{person_name, phone::Phone};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// Strings near what people type for phone numbers, plus anything at all.
fn phone_like() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[ ]{0,2}\\+?[0-9 ().-]{0,40}[ ]{0,2}", "\\+(1|44|353|49|33)[0-9]{6,12}"]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sec_11_phone_numbers_are_e164_when_accepted_and_parse_to_themselves(input in phone_like()) {
        if let Ok(phone) = Phone::parse(&input) {
            let e164 = phone.e164().to_owned();
            prop_assert!(e164.starts_with('+') && e164[1..].bytes().all(|b| b.is_ascii_digit()), "{e164}");
            prop_assert!((8..=16).contains(&e164.len()), "{e164}");
            prop_assert_eq!(Phone::parse(&e164).ok().map(|p| p.e164().to_owned()), Some(e164));
        }
    }

    #[test]
    fn codes_are_six_digits_whatever_separators_were_typed(
        digits in "[0-9]{6}",
        seps in proptest::collection::vec("[ \\t-]{0,2}", 7),
        junk in any::<String>(),
    ) {
        let mut typed = String::new();
        for (i, d) in digits.chars().enumerate() {
            typed.push_str(&seps[i]);
            typed.push(d);
        }
        typed.push_str(&seps[6]);
        prop_assert_eq!(otp::normalize_code(&typed, 6).ok(), Some(digits.clone()));
        if let Ok(code) = otp::normalize_code(&junk, 6) {
            prop_assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn base32_keys_parse_back_to_themselves_and_junk_is_refused_cleanly(
        bytes in any::<[u8; 20]>(),
        junk in any::<String>(),
        lower in any::<bool>(),
    ) {
        let secret = Secret::from_bytes(bytes);
        let grouped = secret.to_base32_grouped();
        let typed = if lower { grouped.to_lowercase() } else { grouped };
        prop_assert_eq!(Secret::from_base32(&typed).ok().map(|s| *s.as_bytes()), Some(bytes));
        if let Ok(parsed) = Secret::from_base32(&junk) {
            prop_assert_eq!(Secret::from_base32(&parsed.to_base32()).ok().map(|s| *s.as_bytes()), Some(*parsed.as_bytes()));
        }
    }

    #[test]
    fn otpauth_uris_carry_issuer_and_account_whatever_they_hold(issuer in any::<String>(), account in any::<String>()) {
        let uri = otp::otpauth_uri(&issuer, &account, &Secret::from_bytes([7; 20]));
        prop_assert!(uri.starts_with("otpauth://totp/"));
        prop_assert!(uri.is_ascii() && !uri.contains(' ') && !uri.contains('#'), "{uri}");
        let query = uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let expected = format!("issuer={}", otp::percent_encode(&issuer));
        prop_assert!(query.split('&').any(|kv| kv == expected), "{} in {}", expected, uri);
    }

    #[test]
    fn sec_33_emails_are_normalised_once_and_names_stay_short(input in any::<String>(), name in any::<String>()) {
        if let Ok(email) = Email::parse(&input) {
            let once = email.as_str().to_owned();
            prop_assert!(once.len() <= 254 && once.contains('@'));
            prop_assert_eq!(Email::parse(&once).ok().map(Email::into_string), Some(once));
        }
        if let Ok(clean) = person_name::parse(&name) {
            prop_assert!(!clean.is_empty() && clean.chars().count() <= person_name::MAX_CHARS);
            prop_assert!(!clean.chars().any(|c| c.is_control() || person_name::is_invisible(c)));
        }
    }

    #[test]
    fn sec_44_known_browser_tokens_and_sources_parse_without_surprises(
        user_id in any::<i64>(),
        issued_at in any::<i64>(),
        mac in "k[0-9]{1,3}:[0-9a-f]{1,64}",
        junk in any::<String>(),
        v6 in any::<[u16; 8]>(),
    ) {
        let claim = KnownBrowser { user_id, issued_at };
        let token = claim.token(&mac);
        prop_assert_eq!(KnownBrowser::parse(&token), Some((claim, mac.as_str())));
        let _ = KnownBrowser::parse(&junk);
        let _ = source_of(&junk);
        let addr = std::net::Ipv6Addr::from(v6);
        let source = source_of(&addr.to_string());
        prop_assert!(source.as_deref().is_some_and(|s| s.ends_with("/64") || addr.to_ipv4_mapped().is_some()), "{addr}");
    }

    #[test]
    fn oidc_inputs_are_refused_cleanly(token in any::<String>(), parts in proptest::collection::vec("[A-Za-z0-9_-]{0,40}", 3), uri in any::<String>(), verifier in "[A-Za-z0-9._~-]{43,128}") {
        let keys = [jws::SigningKey::from_secret(jws::Alg::Es256, "k1", &[1; 32]).map(|k| k.public()).expect("a key")];
        prop_assert!(jws::verify(&token, &keys).is_err());
        prop_assert!(jws::verify(&parts.join("."), &keys).is_err());
        let _ = client::check_uri(&uri);
        let _ = pkce::is_challenge(&token);
        prop_assert!(!pkce::verifies(&verifier, &token) || pkce::is_challenge(&token));
    }
}
