//! Percent-encoding for a query parameter or a `data:` URL (RFC 3986: only the unreserved
//! characters stay as they are).

pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn only_unreserved_characters_stay() {
        assert_eq!(encode("a b\nk7m2p-x9qr4"), "a%20b%0Ak7m2p-x9qr4");
        assert_eq!(encode("https://wiki.example.test/p?a=1&b"), "https%3A%2F%2Fwiki.example.test%2Fp%3Fa%3D1%26b");
    }
}
