//! The cost of the app-level crypto on the sign-in and enrolment paths, each against its
//! own floor: one Argon2id verification (the password step), one AEAD open of a sealed TOTP
//! secret (every second step), one QR SVG render (enrolment Step 2).
//!
//! `cargo bench -p twofold-app --bench app` (add a filter after `--`, e.g. `-- argon2`).
//! Figures and what they mean: docs/performance.md.
// Bench set-up failing is a failed benchmark: it may expect().
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use argon2::password_hash::PasswordVerifier;
use argon2::{Algorithm, Argon2, Params, Version};
use criterion::{Criterion, criterion_group, criterion_main};
use twofold_app::domain::otp::{Secret, otpauth_uri};
use twofold_app::{PasswordParams, Passwords, Secrets};
use twofold_store::secret_box::{Keyring, SecretBox};

const PASSWORD: &str = "correct horse battery staple";

/// One Argon2id verification with the production parameters (m=19456 KiB, t=2, p=1): raw,
/// on this thread, and through `Passwords::verify` (semaphore + `spawn_blocking`), which is
/// what the password step awaits.
fn argon2id(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("bench setup");
    let passwords = Passwords::new(PasswordParams::default()).expect("bench setup");
    let hash = runtime.block_on(passwords.hash(PASSWORD, [7; 16])).expect("bench setup");
    let p = PasswordParams::default();
    let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None).expect("bench setup");
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);

    let mut group = c.benchmark_group("argon2id");
    group.sample_size(10).measurement_time(Duration::from_secs(4));
    group.bench_function("verify_raw", |b| {
        b.iter(|| assert!(argon.verify_password(black_box(PASSWORD.as_bytes()), hash.as_str()).is_ok()))
    });
    group.bench_function("verify_passwords", |b| {
        b.iter(|| {
            let ok = runtime.block_on(passwords.verify(black_box(PASSWORD), Some(&hash)));
            assert!(matches!(ok, Ok(true)));
        })
    });
    group.finish();
}

/// Opening one sealed 20-byte TOTP secret (AES-256-GCM, the AAD binding it to its owner):
/// the raw `SecretBox`, and through `Secrets` (its `RwLock` and `Arc`), as `submit_totp` does.
fn aead_open(c: &mut Criterion) {
    let keyring = Keyring::generate().expect("bench setup");
    let spec = keyring.to_spec();
    let secret_box = SecretBox::new(keyring);
    let secrets = Secrets::from_spec(&spec).expect("bench setup");
    let seed = *b"12345678901234567890";
    let blob = secret_box.seal("totp", 42, &seed).expect("bench setup");

    c.bench_function("aead_open_totp_secret", |b| {
        b.iter(|| black_box(secret_box.open(black_box("totp"), black_box(42), black_box(&blob))))
    });
    c.bench_function("aead_open_totp_secret_via_secrets", |b| {
        b.iter(|| black_box(secrets.open(black_box("totp"), black_box(42), black_box(&blob))))
    });
    c.bench_function("aead_seal_totp_secret", |b| {
        b.iter(|| black_box(secret_box.seal(black_box("totp"), black_box(42), black_box(&seed))))
    });
}

/// The enrolment QR code of a typical `otpauth://` URI, as inline SVG.
fn qr(c: &mut Criterion) {
    let secret = Secret::from_bytes(*b"12345678901234567890");
    let uri = otpauth_uri("Twofold", "ada.lovelace@example.com", &secret);
    c.bench_function("qr_svg_enrolment_uri", |b| b.iter(|| black_box(twofold_app::qr::qr_svg(black_box(&uri)))));
}

criterion_group!(app, argon2id, aead_open, qr);
criterion_main!(app);
