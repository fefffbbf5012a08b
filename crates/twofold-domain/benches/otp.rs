//! The cost of one TOTP verification (window T±1) against its floor, one HMAC-SHA1.
//!
//! `cargo bench -p twofold-domain --bench otp`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use twofold_domain::otp::{Secret, TotpParams, Verification, current_code, verify};

fn benches(c: &mut Criterion) {
    let secret = Secret::from_bytes(*b"12345678901234567890");
    let params = TotpParams::default();
    let now = 1_800_000_000;
    let code = current_code(&params, &secret, now);

    c.bench_function("hmac_sha1_8_bytes", |b| {
        b.iter(|| {
            let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
            mac.update(black_box(&42u64.to_be_bytes()));
            black_box(mac.finalize())
        })
    });
    c.bench_function("totp_verify_accept_window_1", |b| {
        b.iter(|| {
            let outcome = verify(&params, &secret, black_box(&code), black_box(now), None);
            assert!(matches!(outcome, Verification::Accepted { .. }));
        })
    });
    c.bench_function("totp_verify_reject_with_drift_search", |b| {
        b.iter(|| black_box(verify(&params, &secret, black_box("000001"), black_box(now), None)))
    });
}

criterion_group!(otp, benches);
criterion_main!(otp);
