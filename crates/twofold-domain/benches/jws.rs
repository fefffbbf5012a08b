//! The cost of one ES256 and one RS256 ID token (sign: the token endpoint's share; verify: what a relying
//! party and the logout endpoint's `id_token_hint` check pay), against its floor, one
//! SHA-256 of the same signing input.
//!
//! `cargo bench -p twofold-domain --bench jws`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use sha2::{Digest, Sha256};
use twofold_domain::Entropy;
use twofold_domain::oidc::jws::{Alg, SigningKey, verify};

/// A SHA-256 counter stream: reproducible keys, random enough for the RSA prime search.
struct Stream(std::sync::atomic::AtomicU64);
impl Entropy for Stream {
    fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(32) {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            chunk.iter_mut().zip(Sha256::digest(n.to_be_bytes())).for_each(|(b, d)| *b = d);
        }
    }
}

fn benches(c: &mut Criterion) {
    let entropy = Stream(0.into());
    let key = |alg| {
        let secret = SigningKey::generate(alg, &entropy).unwrap_or_else(|_| unreachable!());
        SigningKey::from_secret(alg, "bench", &secret).unwrap_or_else(|| unreachable!())
    };
    let (es256, rs256) = (key(Alg::Es256), key(Alg::Rs256));
    let claims = json!({
        "iss": "https://auth.acme.example", "sub": "12345", "aud": "0123456789abcdef0123456789abcdef",
        "azp": "0123456789abcdef0123456789abcdef", "iat": 1_800_000_000, "exp": 1_800_000_600,
        "auth_time": 1_799_999_000, "nonce": "n-0S6_WzA2Mj", "amr": ["pwd", "otp", "mfa"],
        "acr": "urn:twofold:acr:2fa", "sid": "4f1c0d9e2b7a6c5d4e3f2a1b0c9d8e7f",
        "email": "ada@acme.example", "email_verified": true, "name": "Ada Owner",
        "account": { "id": "7", "name": "Acme" }, "role": "owner",
    });
    let token = es256.sign(&claims);
    let input = token.rsplit_once('.').map(|(i, _)| i.to_owned()).unwrap_or_default();
    c.bench_function("sha256_of_the_signing_input", |b| {
        b.iter(|| black_box(Sha256::digest(black_box(input.as_bytes()))))
    });
    for key in [es256, rs256] {
        let alg = key.alg().as_str().to_lowercase();
        let token = key.sign(&claims);
        let keys = [key.public()];
        c.bench_function(&format!("{alg}_sign_id_token"), |b| b.iter(|| black_box(key.sign(black_box(&claims)))));
        c.bench_function(&format!("{alg}_verify_id_token"), |b| {
            b.iter(|| black_box(verify(black_box(&token), &keys).is_ok()))
        });
    }
}

criterion_group!(group, benches);
criterion_main!(group);
