//! Compact JWS with ES256 (RFC 7515, RFC 7518 §3.4): the ID tokens Twofold signs, and the
//! `id_token_hint` it reads back. The curve arithmetic is RustCrypto's `p256`; the framing
//! is a few lines, written here so that exactly one algorithm is ever accepted: a header
//! saying `none`, `HS256` or anything but `ES256` is refused before any key is looked at,
//! which closes the `alg: none` and key-confusion attacks (SEC-41).

use data_encoding::BASE64URL_NOPAD;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde_json::{Map, Value, json};
use thiserror::Error;

use crate::Entropy;

pub const ALG: &str = "ES256";
/// Longest token read back; ours are well under 2 KB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum JwsError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("only ES256 is accepted")]
    Algorithm,
    #[error("signed by a key this provider does not publish")]
    UnknownKey,
    #[error("the signature does not verify")]
    Signature,
}

/// A private signing key and the id it is published under.
pub struct Es256Key {
    kid: String,
    key: SigningKey,
}

impl std::fmt::Debug for Es256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Es256Key").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl Es256Key {
    /// Fresh private-key bytes (a P-256 scalar), to be sealed before they are stored.
    pub fn generate(entropy: &dyn Entropy) -> [u8; 32] {
        loop {
            let mut bytes = [0u8; 32];
            entropy.fill(&mut bytes);
            // Out of range (above the group order, or zero) with probability about 2^-32.
            if SigningKey::from_slice(&bytes).is_ok() {
                return bytes;
            }
        }
    }

    pub fn from_secret(kid: &str, secret: &[u8]) -> Option<Self> {
        SigningKey::from_slice(secret).ok().map(|key| Es256Key { kid: kid.to_owned(), key })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public(&self) -> PublicKey {
        PublicKey { kid: self.kid.clone(), key: *self.key.verifying_key() }
    }

    /// `header.payload.signature` over `claims`, with `kid` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": ALG, "typ": "JWT", "kid": self.kid });
        let input = format!("{}.{}", b64_json(&header), b64_json(claims));
        let signature: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", BASE64URL_NOPAD.encode(&signature.to_bytes()))
    }
}

fn b64_json(value: &Value) -> String {
    BASE64URL_NOPAD.encode(value.to_string().as_bytes())
}

/// A published verification key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: String,
    key: VerifyingKey,
}

impl PublicKey {
    /// The JWK of RFC 7517 §4 / RFC 7518 §6.2, as the JWKS endpoint serves it.
    pub fn jwk(&self) -> Value {
        let point = self.key.to_sec1_point(false);
        let coordinate = |c: Option<&p256::FieldBytes>| c.map(|c| BASE64URL_NOPAD.encode(c)).unwrap_or_default();
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": coordinate(point.x()),
            "y": coordinate(point.y()),
            "kid": self.kid,
            "use": "sig",
            "alg": ALG,
        })
    }

    /// Reads a JWK back (as stored next to its sealed private half).
    pub fn from_jwk(jwk: &Value) -> Option<PublicKey> {
        if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
            return None;
        }
        let x = BASE64URL_NOPAD.decode(jwk["x"].as_str()?.as_bytes()).ok()?;
        let y = BASE64URL_NOPAD.decode(jwk["y"].as_str()?.as_bytes()).ok()?;
        if x.len() != 32 || y.len() != 32 {
            return None;
        }
        let mut sec1 = Vec::with_capacity(65);
        sec1.push(0x04);
        sec1.extend_from_slice(&x);
        sec1.extend_from_slice(&y);
        let key = VerifyingKey::from_sec1_bytes(&sec1).ok()?;
        Some(PublicKey { kid: jwk["kid"].as_str()?.to_owned(), key })
    }
}

fn decode_json(part: &str) -> Result<Map<String, Value>, JwsError> {
    let bytes = BASE64URL_NOPAD.decode(part.as_bytes()).map_err(|_| JwsError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwsError::Malformed),
    }
}

/// Verifies a token against the published keys and answers its claims. The signature is
/// checked; the claims (`exp`, `aud`, …) are the caller's to judge.
pub fn verify(token: &str, keys: &[PublicKey]) -> Result<Map<String, Value>, JwsError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwsError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed);
    };
    let head = decode_json(header)?;
    if head.get("alg").and_then(Value::as_str) != Some(ALG) || head.contains_key("crit") {
        return Err(JwsError::Algorithm);
    }
    let kid = head.get("kid").and_then(Value::as_str).ok_or(JwsError::UnknownKey)?;
    let key = keys.iter().find(|k| k.kid == kid).ok_or(JwsError::UnknownKey)?;
    let raw = BASE64URL_NOPAD.decode(signature.as_bytes()).map_err(|_| JwsError::Malformed)?;
    let signature = Signature::from_slice(&raw).map_err(|_| JwsError::Signature)?;
    let input = token.get(..header.len() + 1 + payload.len()).ok_or(JwsError::Malformed)?;
    key.key.verify(input.as_bytes(), &signature).map_err(|_| JwsError::Signature)?;
    decode_json(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::CountingEntropy as Counting;
    use std::sync::atomic::AtomicU8;

    fn key(kid: &str, entropy: &Counting) -> Es256Key {
        Es256Key::from_secret(kid, &Es256Key::generate(entropy)).unwrap()
    }

    fn forged(header: &Value, claims: &Value, signature: &str) -> String {
        format!("{}.{}.{signature}", b64_json(header), b64_json(claims))
    }

    #[test]
    fn sec_41_a_signed_token_verifies_against_its_published_key() {
        let entropy = Counting(AtomicU8::new(1));
        let k = key("k1", &entropy);
        let token = k.sign(&json!({ "sub": "42" }));
        let published = PublicKey::from_jwk(&k.public().jwk()).unwrap();
        assert_eq!(verify(&token, &[published]).unwrap()["sub"], "42");
    }

    #[test]
    fn sec_41_a_token_of_a_retired_key_still_verifies_while_it_is_published() {
        let entropy = Counting(AtomicU8::new(1));
        let (old, new) = (key("old", &entropy), key("new", &entropy));
        let token = old.sign(&json!({ "sub": "1" }));
        assert!(verify(&token, &[new.public(), old.public()]).is_ok());
        assert_eq!(verify(&token, &[new.public()]), Err(JwsError::UnknownKey));
    }

    #[test]
    fn sec_41_alg_none_and_hmac_key_confusion_are_refused() {
        let entropy = Counting(AtomicU8::new(1));
        let k = key("k1", &entropy);
        let claims = json!({ "sub": "1" });
        let none = forged(&json!({ "alg": "none", "kid": "k1" }), &claims, "");
        assert_eq!(verify(&none, &[k.public()]), Err(JwsError::Algorithm));
        let hs = forged(&json!({ "alg": "HS256", "kid": "k1" }), &claims, "AAAA");
        assert_eq!(verify(&hs, &[k.public()]), Err(JwsError::Algorithm));
        let no_alg = forged(&json!({ "kid": "k1" }), &claims, "AAAA");
        assert_eq!(verify(&no_alg, &[k.public()]), Err(JwsError::Algorithm));
    }

    #[test]
    fn sec_41_a_changed_payload_or_another_keys_signature_fails() {
        let entropy = Counting(AtomicU8::new(1));
        let (k, other) = (key("k1", &entropy), key("k2", &entropy));
        let token = k.sign(&json!({ "sub": "1" }));
        let mut parts: Vec<&str> = token.split('.').collect();
        let evil = b64_json(&json!({ "sub": "2" }));
        parts[1] = &evil;
        assert_eq!(verify(&parts.join("."), &[k.public()]), Err(JwsError::Signature));
        // The other key published under the first key's id.
        let mut impostor = other.public();
        impostor.kid = "k1".into();
        assert_eq!(verify(&token, &[impostor]), Err(JwsError::Signature));
    }

    #[test]
    fn malformed_tokens_are_refused_without_panicking() {
        let entropy = Counting(AtomicU8::new(1));
        let keys = [key("k1", &entropy).public()];
        for bad in ["", ".", "..", "a.b.c.d", "!!!.e30.AA", "e30.e30.e30", &"a".repeat(MAX_TOKEN_BYTES + 1)] {
            assert!(verify(bad, &keys).is_err(), "{bad}");
        }
        assert!(PublicKey::from_jwk(&json!({ "kty": "RSA" })).is_none());
        assert!(
            PublicKey::from_jwk(&json!({ "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "k" })).is_none()
        );
    }
}
