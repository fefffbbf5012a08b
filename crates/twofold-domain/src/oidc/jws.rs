//! Compact JWS (RFC 7515) with ES256 and RS256 (RFC 7518 §3.4, §3.3): the ID tokens Twofold
//! signs, and the `id_token_hint` it reads back. The arithmetic is RustCrypto's (`p256`,
//! `rsa`); the framing is a few lines, written here so that only these two algorithms are
//! ever accepted, and each only with a key of its own kind: a header saying `none`, `HS256`,
//! or `RS256` over an EC key's id is refused before any signature is checked, which closes
//! the `alg: none` and key-confusion attacks (SEC-41).

use data_encoding::BASE64URL_NOPAD;
use p256::ecdsa::signature::{Signer, Verifier};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::rand_core::{TryCryptoRng, TryRng};
use rsa::signature::SignatureEncoding;
use rsa::traits::PublicKeyParts;
use rsa::{BoxedUint, RsaPrivateKey, RsaPublicKey};
use serde_json::{Map, Value, json};
use thiserror::Error;

use crate::Entropy;

/// Longest token read back; ours are well under 2 KB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The RSA modulus of a new RS256 key: 3072 bits, NIST's choice for keys used beyond 2030
/// (SP 800-57), at about three times the signing cost of 2048.
pub const RSA_BITS: usize = 3072;
/// The smallest RSA modulus accepted from a published key.
const RSA_MIN_BITS: usize = 2048;

/// The signature algorithms of ID tokens (`id_token_signed_response_alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256: small and fast; the default.
    #[default]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256: the algorithm OpenID Connect makes mandatory, which
    /// many libraries and appliances assume.
    Rs256,
}

impl Alg {
    pub const ALL: [Alg; 2] = [Alg::Es256, Alg::Rs256];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::Rs256 => "RS256",
        }
    }

    pub fn parse(s: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl std::fmt::Display for Alg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum JwsError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("only ES256 and RS256 are accepted, each with a key of its kind")]
    Algorithm,
    #[error("signed by a key this provider does not publish")]
    UnknownKey,
    #[error("the signature does not verify")]
    Signature,
    #[error("the key could not be generated")]
    KeyGeneration,
}

/// The injected entropy as the random source `rsa` asks for when it looks for primes.
struct EntropyRng<'a>(&'a dyn Entropy);

impl TryRng for EntropyRng<'_> {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill(dst);
        Ok(())
    }
}

// The application's entropy is the operating system's; tests inject their own.
impl TryCryptoRng for EntropyRng<'_> {}

enum Private {
    Es(p256::ecdsa::SigningKey),
    Rs(Box<rsa::pkcs1v15::SigningKey<rsa::sha2::Sha256>>),
}

/// A private signing key and the id it is published under.
pub struct SigningKey {
    kid: String,
    key: Private,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("alg", &self.alg()).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Fresh private-key bytes, to be sealed before they are stored: a P-256 scalar, or an
    /// RSA key as PKCS#8 DER.
    pub fn generate(alg: Alg, entropy: &dyn Entropy) -> Result<Vec<u8>, JwsError> {
        match alg {
            Alg::Es256 => loop {
                let mut bytes = [0u8; 32];
                entropy.fill(&mut bytes);
                // Out of range (above the group order, or zero) with probability about 2^-32.
                if p256::ecdsa::SigningKey::from_slice(&bytes).is_ok() {
                    return Ok(bytes.to_vec());
                }
            },
            Alg::Rs256 => {
                let key =
                    RsaPrivateKey::new(&mut EntropyRng(entropy), RSA_BITS).map_err(|_| JwsError::KeyGeneration)?;
                let der = key.to_pkcs8_der().map_err(|_| JwsError::KeyGeneration)?;
                Ok(der.as_bytes().to_vec())
            }
        }
    }

    pub fn from_secret(alg: Alg, kid: &str, secret: &[u8]) -> Option<Self> {
        let key = match alg {
            Alg::Es256 => Private::Es(p256::ecdsa::SigningKey::from_slice(secret).ok()?),
            Alg::Rs256 => {
                let key = RsaPrivateKey::from_pkcs8_der(secret).ok()?;
                Private::Rs(Box::new(rsa::pkcs1v15::SigningKey::new(key)))
            }
        };
        Some(SigningKey { kid: kid.to_owned(), key })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> Alg {
        match self.key {
            Private::Es(_) => Alg::Es256,
            Private::Rs(_) => Alg::Rs256,
        }
    }

    pub fn public(&self) -> PublicKey {
        let key = match &self.key {
            Private::Es(k) => Public::Es(*k.verifying_key()),
            Private::Rs(k) => {
                let private: &RsaPrivateKey = k.as_ref().as_ref();
                Public::Rs(Box::new(private.to_public_key()))
            }
        };
        PublicKey { kid: self.kid.clone(), key }
    }

    /// `header.payload.signature` over `claims`, with `alg` and `kid` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": self.alg().as_str(), "typ": "JWT", "kid": self.kid });
        let input = format!("{}.{}", b64_json(&header), b64_json(claims));
        let signature = match &self.key {
            Private::Es(k) => {
                let s: p256::ecdsa::Signature = k.sign(input.as_bytes());
                s.to_bytes().to_vec()
            }
            // Deterministic PKCS#1 v1.5; `rsa` 0.10 computes in constant time.
            Private::Rs(k) => {
                let s: rsa::pkcs1v15::Signature = k.sign(input.as_bytes());
                s.to_vec()
            }
        };
        format!("{input}.{}", BASE64URL_NOPAD.encode(&signature))
    }
}

fn b64_json(value: &Value) -> String {
    BASE64URL_NOPAD.encode(value.to_string().as_bytes())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Public {
    Es(p256::ecdsa::VerifyingKey),
    Rs(Box<RsaPublicKey>),
}

/// A published verification key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: String,
    key: Public,
}

fn b64(bytes: &[u8]) -> String {
    BASE64URL_NOPAD.encode(bytes)
}

fn b64_member(jwk: &Value, name: &str) -> Option<Vec<u8>> {
    BASE64URL_NOPAD.decode(jwk[name].as_str()?.as_bytes()).ok()
}

impl PublicKey {
    pub fn alg(&self) -> Alg {
        match self.key {
            Public::Es(_) => Alg::Es256,
            Public::Rs(_) => Alg::Rs256,
        }
    }

    /// The JWK of RFC 7517 §4 / RFC 7518 §6.2–6.3, as the JWKS endpoint serves it.
    pub fn jwk(&self) -> Value {
        match &self.key {
            Public::Es(key) => {
                let point = key.to_sec1_point(false);
                let coordinate = |c: Option<&p256::FieldBytes>| c.map(|c| b64(c)).unwrap_or_default();
                json!({
                    "kty": "EC", "crv": "P-256", "x": coordinate(point.x()), "y": coordinate(point.y()),
                    "kid": self.kid, "use": "sig", "alg": Alg::Es256.as_str(),
                })
            }
            // Unsigned big-endian in the fewest octets (RFC 7518 §6.3.1.1).
            Public::Rs(key) => json!({
                "kty": "RSA", "n": b64(&key.n_bytes()), "e": b64(&key.e_bytes()),
                "kid": self.kid, "use": "sig", "alg": Alg::Rs256.as_str(),
            }),
        }
    }

    /// Reads a JWK back (as stored next to its sealed private half).
    pub fn from_jwk(jwk: &Value) -> Option<PublicKey> {
        let kid = jwk["kid"].as_str()?.to_owned();
        let key = match (jwk["kty"].as_str()?, jwk["crv"].as_str()) {
            ("EC", Some("P-256")) => {
                let (x, y) = (b64_member(jwk, "x")?, b64_member(jwk, "y")?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let sec1 = [&[0x04][..], &x, &y].concat();
                Public::Es(p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).ok()?)
            }
            ("RSA", None) => {
                let (n, e) = (b64_member(jwk, "n")?, b64_member(jwk, "e")?);
                let key = RsaPublicKey::new(BoxedUint::from_be_slice_vartime(&n), BoxedUint::from_be_slice_vartime(&e))
                    .ok()?;
                if key.size() * 8 < RSA_MIN_BITS {
                    return None;
                }
                Public::Rs(Box::new(key))
            }
            _ => return None,
        };
        Some(PublicKey { kid, key })
    }

    fn verifies(&self, input: &[u8], signature: &[u8]) -> Result<(), JwsError> {
        match &self.key {
            Public::Es(key) => {
                let signature = p256::ecdsa::Signature::from_slice(signature).map_err(|_| JwsError::Signature)?;
                key.verify(input, &signature).map_err(|_| JwsError::Signature)
            }
            Public::Rs(key) => {
                let signature = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| JwsError::Signature)?;
                let key = rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(key.as_ref().clone());
                key.verify(input, &signature).map_err(|_| JwsError::Signature)
            }
        }
    }
}

fn decode_json(part: &str) -> Result<Map<String, Value>, JwsError> {
    let bytes = BASE64URL_NOPAD.decode(part.as_bytes()).map_err(|_| JwsError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwsError::Malformed),
    }
}

/// Verifies a token against the published keys and answers its claims. The header's `alg`
/// must be the algorithm of the key its `kid` names. The signature is checked; the claims
/// (`exp`, `aud`, …) are the caller's to judge.
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
    let alg = head.get("alg").and_then(Value::as_str).and_then(Alg::parse).ok_or(JwsError::Algorithm)?;
    if head.contains_key("crit") {
        return Err(JwsError::Algorithm);
    }
    let kid = head.get("kid").and_then(Value::as_str).ok_or(JwsError::UnknownKey)?;
    let key = keys.iter().find(|k| k.kid == kid).ok_or(JwsError::UnknownKey)?;
    if key.alg() != alg {
        return Err(JwsError::Algorithm);
    }
    let raw = BASE64URL_NOPAD.decode(signature.as_bytes()).map_err(|_| JwsError::Malformed)?;
    let input = token.get(..header.len() + 1 + payload.len()).ok_or(JwsError::Malformed)?;
    key.verifies(input.as_bytes(), &raw)?;
    decode_json(payload)
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::sync::atomic::AtomicU8;

    use super::*;
    use crate::clock::CountingEntropy as Counting;
    use crate::clock::Sha256Stream;

    fn es(kid: &str, entropy: &Counting) -> SigningKey {
        SigningKey::from_secret(Alg::Es256, kid, &SigningKey::generate(Alg::Es256, entropy).unwrap()).unwrap()
    }

    /// One RSA key for the module: finding two 1536-bit primes is the slow part.
    fn rsa_secret() -> &'static [u8] {
        static SECRET: OnceLock<Vec<u8>> = OnceLock::new();
        SECRET.get_or_init(|| SigningKey::generate(Alg::Rs256, &Sha256Stream::new(41)).unwrap())
    }

    fn rs(kid: &str) -> SigningKey {
        SigningKey::from_secret(Alg::Rs256, kid, rsa_secret()).unwrap()
    }

    fn forged(header: &Value, claims: &Value, signature: &str) -> String {
        format!("{}.{}.{signature}", b64_json(header), b64_json(claims))
    }

    #[test]
    fn sec_41_a_signed_token_verifies_against_its_published_key() {
        let entropy = Counting(AtomicU8::new(1));
        for k in [es("k1", &entropy), rs("r1")] {
            let token = k.sign(&json!({ "sub": "42" }));
            let published = PublicKey::from_jwk(&k.public().jwk()).unwrap();
            assert_eq!(published, k.public());
            assert_eq!(verify(&token, &[published]).unwrap()["sub"], "42", "{}", k.alg());
        }
    }

    #[test]
    fn an_rs256_key_is_3072_bits_published_in_the_fewest_octets() {
        let jwk = rs("r1").public().jwk();
        assert_eq!((jwk["kty"].as_str(), jwk["alg"].as_str()), (Some("RSA"), Some("RS256")));
        let n = BASE64URL_NOPAD.decode(jwk["n"].as_str().unwrap().as_bytes()).unwrap();
        assert_eq!(n.len() * 8, RSA_BITS);
        assert_ne!(n[0], 0);
        assert_eq!(jwk["e"], "AQAB");
        let header = rs("r1").sign(&json!({})).split('.').next().map(str::to_owned).unwrap();
        assert_eq!(decode_json(&header).unwrap()["alg"], "RS256");
    }

    #[test]
    fn sec_41_a_token_of_a_retired_key_still_verifies_while_it_is_published() {
        let entropy = Counting(AtomicU8::new(1));
        let (old, new) = (es("old", &entropy), es("new", &entropy));
        let token = old.sign(&json!({ "sub": "1" }));
        assert!(verify(&token, &[new.public(), old.public()]).is_ok());
        assert_eq!(verify(&token, &[new.public()]), Err(JwsError::UnknownKey));
    }

    #[test]
    fn sec_41_alg_none_and_hmac_key_confusion_are_refused() {
        let entropy = Counting(AtomicU8::new(1));
        let k = es("k1", &entropy);
        let claims = json!({ "sub": "1" });
        let none = forged(&json!({ "alg": "none", "kid": "k1" }), &claims, "");
        assert_eq!(verify(&none, &[k.public()]), Err(JwsError::Algorithm));
        let hs = forged(&json!({ "alg": "HS256", "kid": "k1" }), &claims, "AAAA");
        assert_eq!(verify(&hs, &[k.public()]), Err(JwsError::Algorithm));
        let no_alg = forged(&json!({ "kid": "k1" }), &claims, "AAAA");
        assert_eq!(verify(&no_alg, &[k.public()]), Err(JwsError::Algorithm));
    }

    #[test]
    fn sec_41_a_header_naming_the_other_algorithm_than_its_key_is_refused() {
        let entropy = Counting(AtomicU8::new(1));
        let (ec, rsa) = (es("ec", &entropy), rs("rsa"));
        let keys = [ec.public(), rsa.public()];
        // A real RS256 signature presented under the EC key's id, and the other way round.
        let token = rsa.sign(&json!({ "sub": "1" }));
        let signature = token.rsplit('.').next().unwrap();
        let swapped = forged(&json!({ "alg": "RS256", "kid": "ec" }), &json!({ "sub": "1" }), signature);
        assert_eq!(verify(&swapped, &keys), Err(JwsError::Algorithm));
        let token = ec.sign(&json!({ "sub": "1" }));
        let signature = token.rsplit('.').next().unwrap();
        let swapped = forged(&json!({ "alg": "ES256", "kid": "rsa" }), &json!({ "sub": "1" }), signature);
        assert_eq!(verify(&swapped, &keys), Err(JwsError::Algorithm));
    }

    #[test]
    fn sec_41_a_changed_payload_or_another_keys_signature_fails() {
        let entropy = Counting(AtomicU8::new(1));
        let (k, other) = (es("k1", &entropy), es("k2", &entropy));
        for (signer, published) in [(&k, k.public()), (&rs("r1"), rs("r1").public())] {
            let token = signer.sign(&json!({ "sub": "1" }));
            let mut parts: Vec<&str> = token.split('.').collect();
            let evil = b64_json(&json!({ "sub": "2" }));
            parts[1] = &evil;
            assert_eq!(verify(&parts.join("."), &[published]), Err(JwsError::Signature));
        }
        // The other key published under the first key's id.
        let token = k.sign(&json!({ "sub": "1" }));
        let mut impostor = other.public();
        impostor.kid = "k1".into();
        assert_eq!(verify(&token, &[impostor]), Err(JwsError::Signature));
    }

    #[test]
    fn malformed_tokens_and_keys_are_refused_without_panicking() {
        let entropy = Counting(AtomicU8::new(1));
        let keys = [es("k1", &entropy).public(), rs("r1").public()];
        for bad in ["", ".", "..", "a.b.c.d", "!!!.e30.AA", "e30.e30.e30", &"a".repeat(MAX_TOKEN_BYTES + 1)] {
            assert!(verify(bad, &keys).is_err(), "{bad}");
        }
        let short_rs = forged(&json!({ "alg": "RS256", "kid": "r1" }), &json!({}), "AAAA");
        assert_eq!(verify(&short_rs, &keys), Err(JwsError::Signature));
        assert!(PublicKey::from_jwk(&json!({ "kty": "RSA" })).is_none());
        assert!(PublicKey::from_jwk(&json!({ "kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "k" })).is_none());
        assert!(
            PublicKey::from_jwk(&json!({ "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "k" })).is_none()
        );
        assert!(SigningKey::from_secret(Alg::Rs256, "k", &[1; 32]).is_none());
        assert_eq!(Alg::parse("rs256"), None);
    }
}
