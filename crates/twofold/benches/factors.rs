//! The cost of one recovery-code check and one WebAuthn assertion check, each against a
//! floor measured in the same run: one HMAC-SHA256 of ten bytes (what a code costs at
//! least) and one bare P-256 ECDSA verification (what a security key costs at least).
//!
//! `cargo bench -p twofold --bench factors`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../tests/it/support/authenticator.rs"]
#[allow(dead_code)] // the tests use all of it; the benchmark only registers and signs
mod authenticator;

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey};
use twofold_app::domain::recovery_code::{self, RecoveryCode};
use twofold_store::secret_box::{Keyring, SecretBox};
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, WebauthnBuilder};

use authenticator::{ORIGIN, SoftKey};

fn recovery_codes(c: &mut Criterion) {
    let secret_box = SecretBox::new(Keyring::generate().unwrap());
    let set = recovery_code::generate_set(&twofold_app::OsEntropy);
    let typed = set[0].display().to_uppercase();
    c.bench_function("floor_hmac_sha256_10_bytes", |b| {
        b.iter(|| black_box(secret_box.mac("recovery-code:1", black_box(b"k7m2px9qr4"))))
    });
    c.bench_function("recovery_code_parse_and_hash", |b| {
        b.iter(|| {
            let code = RecoveryCode::parse(black_box(&typed)).unwrap();
            black_box(secret_box.mac_under_each_key("recovery-code:1", code.canonical().as_bytes()))
        })
    });
}

fn webauthn(c: &mut Criterion) {
    let origin = Url::parse(ORIGIN).unwrap();
    let rp = WebauthnBuilder::new("localhost", &origin).unwrap().build().unwrap();
    let mut key = SoftKey::security_key();
    let (options, state) =
        rp.start_securitykey_registration(Uuid::from_u64_pair(1, 1), "a@b.test", "A", None, None, None).unwrap();
    let options = serde_json::to_value(&options).unwrap();
    let reg: RegisterPublicKeyCredential = serde_json::from_value(key.register(&options["publicKey"], ORIGIN)).unwrap();
    let registered = rp.finish_securitykey_registration(&reg, &state).unwrap();
    let keys = [registered];

    let floor_key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let message = [1u8; 69];
    let signature: Signature = floor_key.sign(&message);
    c.bench_function("floor_p256_ecdsa_verify", |b| {
        b.iter(|| floor_key.verifying_key().verify(black_box(&message), black_box(&signature)).unwrap())
    });
    c.bench_function("webauthn_assertion_verify", |b| {
        b.iter_batched(
            || {
                let (options, state) = rp.start_securitykey_authentication(&keys).unwrap();
                let options = serde_json::to_value(&options).unwrap();
                let answer: PublicKeyCredential =
                    serde_json::from_value(key.sign(&options["publicKey"], ORIGIN)).unwrap();
                (answer, state)
            },
            |(answer, state)| black_box(rp.finish_securitykey_authentication(&answer, &state).unwrap()),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(factors, recovery_codes, webauthn);
criterion_main!(factors);
