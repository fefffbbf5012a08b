//! A software WebAuthn authenticator (ES256, "none" attestation) for the API tests: it
//! answers the options Twofold hands out exactly as a browser with a security key would,
//! and can be told to misbehave (another origin, a tampered signature, an old counter,
//! no user verification) so that each refusal can be tested.

use data_encoding::BASE64URL_NOPAD as B64;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The origin a browser on Twofold's test public URL reports.
pub const ORIGIN: &str = "http://localhost:8080";

pub struct SoftKey {
    key: SigningKey,
    pub credential_id: Vec<u8>,
    pub counter: u32,
    /// Shows user verification (a PIN or fingerprint) in its answers.
    pub user_verified: bool,
    /// Makes a discoverable credential (a passkey) when asked to.
    pub discoverable: bool,
    user_handle: Vec<u8>,
}

impl SoftKey {
    /// A key without PIN that cannot hold credentials: a plain second-factor key.
    pub fn security_key() -> Self {
        Self::new(false, false)
    }

    /// A key with a PIN and room for discoverable credentials: a passkey.
    pub fn passkey() -> Self {
        Self::new(true, true)
    }

    fn new(user_verified: bool, discoverable: bool) -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        let key = SigningKey::from_slice(&seed).unwrap();
        let mut credential_id = vec![0u8; 32];
        getrandom::fill(&mut credential_id).unwrap();
        SoftKey { key, credential_id, counter: 0, user_verified, discoverable, user_handle: Vec::new() }
    }

    fn flags(&self, attested: bool) -> u8 {
        let mut flags = 0x01; // user present
        if self.user_verified {
            flags |= 0x04;
        }
        if attested {
            flags |= 0x40;
        }
        flags
    }

    fn auth_data(&self, rp_id: &str, attested: bool) -> Vec<u8> {
        let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
        data.push(self.flags(attested));
        data.extend_from_slice(&self.counter.to_be_bytes());
        if attested {
            data.extend_from_slice(&[0u8; 16]); // AAGUID
            data.extend_from_slice(&u16::try_from(self.credential_id.len()).unwrap().to_be_bytes());
            data.extend_from_slice(&self.credential_id);
            data.extend_from_slice(&self.cose_key());
        }
        data
    }

    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_sec1_point(false);
        let mut out = map(5);
        out.extend(int(1));
        out.extend(int(2)); // kty: EC2
        out.extend(int(3));
        out.extend(int(-7)); // alg: ES256
        out.extend(int(-1));
        out.extend(int(1)); // crv: P-256
        out.extend(int(-2));
        out.extend(bytes(point.x().unwrap()));
        out.extend(int(-3));
        out.extend(bytes(point.y().unwrap()));
        out
    }

    /// Answers `navigator.credentials.create({ publicKey })` as `toJSON()` would.
    pub fn register(&mut self, public_key: &Value, origin: &str) -> Value {
        let rp_id = public_key["rp"]["id"].as_str().unwrap().to_string();
        self.user_handle = B64.decode(public_key["user"]["id"].as_str().unwrap().as_bytes()).unwrap();
        let client_data = client_data("webauthn.create", public_key["challenge"].as_str().unwrap(), origin);
        let mut attestation = map(3);
        attestation.extend(text("fmt"));
        attestation.extend(text("none"));
        attestation.extend(text("attStmt"));
        attestation.extend(map(0));
        attestation.extend(text("authData"));
        attestation.extend(bytes(&self.auth_data(&rp_id, true)));
        let rk = self.discoverable && public_key["authenticatorSelection"]["residentKey"] != "discouraged";
        json!({
            "id": B64.encode(&self.credential_id),
            "rawId": B64.encode(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(&client_data),
                "attestationObject": B64.encode(&attestation),
                "transports": ["usb"],
            },
            "clientExtensionResults": { "credProps": { "rk": rk } },
        })
    }

    /// Answers `navigator.credentials.get({ publicKey })`; the counter moves on first.
    pub fn sign(&mut self, public_key: &Value, origin: &str) -> Value {
        self.counter += 1;
        self.sign_with_counter(public_key, origin, self.counter)
    }

    pub fn sign_with_counter(&self, public_key: &Value, origin: &str, counter: u32) -> Value {
        let rp_id = public_key["rpId"].as_str().unwrap();
        let client_data = client_data("webauthn.get", public_key["challenge"].as_str().unwrap(), origin);
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags(false));
        auth_data.extend_from_slice(&counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = self.key.sign(&signed);
        json!({
            "id": B64.encode(&self.credential_id),
            "rawId": B64.encode(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(&client_data),
                "authenticatorData": B64.encode(&auth_data),
                "signature": B64.encode(signature.to_der().as_bytes()),
                "userHandle": B64.encode(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}

/// The same answer with one bit of its signature flipped.
pub fn tampered(answer: &Value) -> Value {
    let mut answer = answer.clone();
    let mut signature = B64.decode(answer["response"]["signature"].as_str().unwrap().as_bytes()).unwrap();
    let last = signature.len() - 1;
    signature[last] ^= 0x01;
    answer["response"]["signature"] = json!(B64.encode(&signature));
    answer
}

fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false }))
        .unwrap()
}

// Just enough CBOR (RFC 8949) for an attestation object and a COSE key.
fn head(major: u8, n: u64) -> Vec<u8> {
    let major = major << 5;
    match n {
        0..=23 => vec![major | n as u8],
        24..=0xff => vec![major | 24, n as u8],
        0x100..=0xffff => {
            let mut v = vec![major | 25];
            v.extend_from_slice(&(n as u16).to_be_bytes());
            v
        }
        _ => {
            let mut v = vec![major | 26];
            v.extend_from_slice(&(n as u32).to_be_bytes());
            v
        }
    }
}

fn int(n: i64) -> Vec<u8> {
    if n >= 0 { head(0, n as u64) } else { head(1, (-1 - n) as u64) }
}

fn bytes(b: &[u8]) -> Vec<u8> {
    let mut v = head(2, b.len() as u64);
    v.extend_from_slice(b);
    v
}

fn text(s: &str) -> Vec<u8> {
    let mut v = head(3, s.len() as u64);
    v.extend_from_slice(s.as_bytes());
    v
}

fn map(entries: u64) -> Vec<u8> {
    head(5, entries)
}
