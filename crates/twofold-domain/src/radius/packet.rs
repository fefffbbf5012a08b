//! The RADIUS packet (RFC 2865 §3): decoding what arrives, the hidden `User-Password`
//! (§5.2), the Response Authenticator (§3) and Message-Authenticator (RFC 3579 §3.2).
//!
//! Written here rather than taken from a crate: the format is a header and a list of
//! type-length-value attributes, and what matters is the two authenticators, which the
//! crates available compute only in part (docs/decisions.md).

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

use super::attr;

const HEADER: usize = 20;
/// Largest packet RFC 2865 allows.
pub const MAX_PACKET: usize = 4096;
/// Longest value of one attribute.
pub const MAX_VALUE: usize = 253;
/// Longest `User-Password` (§5.2).
const MAX_PASSWORD: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    AccessRequest,
    AccessAccept,
    AccessReject,
    AccessChallenge,
    Other(u8),
}

impl Code {
    fn from_u8(b: u8) -> Code {
        match b {
            1 => Code::AccessRequest,
            2 => Code::AccessAccept,
            3 => Code::AccessReject,
            11 => Code::AccessChallenge,
            other => Code::Other(other),
        }
    }

    pub fn as_u8(self) -> u8 {
        match self {
            Code::AccessRequest => 1,
            Code::AccessAccept => 2,
            Code::AccessReject => 3,
            Code::AccessChallenge => 11,
            Code::Other(b) => b,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub kind: u8,
    pub value: Vec<u8>,
}

impl Attribute {
    /// A text attribute, cut at [`MAX_VALUE`] bytes on a character boundary.
    pub fn text(kind: u8, text: &str) -> Attribute {
        let mut end = text.len().min(MAX_VALUE);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Attribute { kind, value: text.as_bytes().get(..end).unwrap_or_default().to_vec() }
    }

    pub fn bytes(kind: u8, value: &[u8]) -> Attribute {
        Attribute { kind, value: value.get(..value.len().min(MAX_VALUE)).unwrap_or_default().to_vec() }
    }
}

/// Why a datagram is not a RADIUS packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub code: Code,
    pub identifier: u8,
    pub authenticator: [u8; 16],
    pub attributes: Vec<Attribute>,
}

/// What a request's Message-Authenticator says (RFC 3579 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    Absent,
    Valid,
    Invalid,
}

impl Packet {
    /// Decodes one datagram: the header's length must fit in it (octets past it are
    /// padding, RFC 2865 §3) and every attribute must fit in the length.
    pub fn decode(datagram: &[u8]) -> Result<Packet, Malformed> {
        let (header, _) = datagram.split_at_checked(HEADER).ok_or(Malformed("shorter than a header"))?;
        let [code, identifier, hi, lo, authenticator @ ..] = header else {
            return Err(Malformed("shorter than a header"));
        };
        let length = usize::from(u16::from_be_bytes([*hi, *lo]));
        if !(HEADER..=MAX_PACKET).contains(&length) {
            return Err(Malformed("length out of range"));
        }
        let body = datagram.get(HEADER..length).ok_or(Malformed("shorter than its length"))?;
        let mut attributes = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            let [kind, len, ..] = rest else { return Err(Malformed("attribute cut short")) };
            let len = usize::from(*len);
            if len < 2 {
                return Err(Malformed("attribute length below 2"));
            }
            let (whole, after) = rest.split_at_checked(len).ok_or(Malformed("attribute past the end"))?;
            attributes.push(Attribute { kind: *kind, value: whole.get(2..).unwrap_or_default().to_vec() });
            rest = after;
        }
        let authenticator: [u8; 16] = authenticator.try_into().map_err(|_| Malformed("shorter than a header"))?;
        Ok(Packet { code: Code::from_u8(*code), identifier: *identifier, authenticator, attributes })
    }

    /// The first value of an attribute.
    pub fn first(&self, kind: u8) -> Option<&[u8]> {
        self.attributes.iter().find(|a| a.kind == kind).map(|a| a.value.as_slice())
    }

    /// The first value of a text attribute, when it is UTF-8.
    pub fn text(&self, kind: u8) -> Option<&str> {
        self.first(kind).and_then(|v| std::str::from_utf8(v).ok())
    }

    pub fn count(&self, kind: u8) -> usize {
        self.attributes.iter().filter(|a| a.kind == kind).count()
    }
}

/// Checks the Message-Authenticator of a received packet: HMAC-MD5 keyed by the shared
/// secret over the packet with the attribute's value zeroed. More than one, or one of the
/// wrong size, is invalid.
pub fn verify_signature(datagram: &[u8], secret: &[u8]) -> Signature {
    let Ok(packet) = Packet::decode(datagram) else { return Signature::Invalid };
    match packet.count(attr::MESSAGE_AUTHENTICATOR) {
        0 => return Signature::Absent,
        1 => {}
        _ => return Signature::Invalid,
    }
    let Some(given) = packet.first(attr::MESSAGE_AUTHENTICATOR).filter(|v| v.len() == 16) else {
        return Signature::Invalid;
    };
    let zeroed = encode(&packet, |a| a.kind == attr::MESSAGE_AUTHENTICATOR);
    if hmac_md5(secret, &zeroed).ct_eq(given).into() { Signature::Valid } else { Signature::Invalid }
}

/// The packet's bytes, with the value of every attribute `zero` picks set to zeros.
fn encode(packet: &Packet, zero: impl Fn(&Attribute) -> bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + packet.attributes.iter().map(|a| a.value.len() + 2).sum::<usize>());
    out.extend([packet.code.as_u8(), packet.identifier, 0, 0]);
    out.extend(packet.authenticator);
    for a in &packet.attributes {
        let value = a.value.get(..a.value.len().min(MAX_VALUE)).unwrap_or_default();
        out.push(a.kind);
        out.push(u8::try_from(value.len() + 2).unwrap_or(u8::MAX));
        if zero(a) {
            out.extend(std::iter::repeat_n(0, value.len()));
        } else {
            out.extend(value);
        }
    }
    let len = u16::try_from(out.len()).unwrap_or(u16::MAX).to_be_bytes();
    if let Some(slot) = out.get_mut(2..4) {
        slot.copy_from_slice(&len);
    }
    out
}

fn hmac_md5(secret: &[u8], data: &[u8]) -> [u8; 16] {
    // HMAC takes keys of any length: this cannot fail.
    let Ok(mut mac) = <Hmac<Md5> as KeyInit>::new_from_slice(secret) else { return [0; 16] };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Builds an answer to `request` (RFC 2865 §3, RFC 3579 §3.2): Message-Authenticator first
/// (the BlastRADIUS guidance), computed over the packet holding the request's
/// authenticator, then the Response Authenticator over the whole.
pub fn encode_reply(code: Code, request: &Packet, attributes: &[Attribute], secret: &[u8]) -> Vec<u8> {
    let mut all = Vec::with_capacity(attributes.len() + 1);
    all.push(Attribute { kind: attr::MESSAGE_AUTHENTICATOR, value: vec![0; 16] });
    all.extend(attributes.iter().filter(|a| a.kind != attr::MESSAGE_AUTHENTICATOR).cloned());
    let mut reply =
        Packet { code, identifier: request.identifier, authenticator: request.authenticator, attributes: all };
    let signature = hmac_md5(secret, &encode(&reply, |_| false));
    if let Some(first) = reply.attributes.first_mut() {
        first.value = signature.to_vec();
    }
    let mut out = encode(&reply, |_| false);
    let response = md5(&[&out, secret]);
    if let Some(slot) = out.get_mut(4..HEADER) {
        slot.copy_from_slice(&response);
    }
    reply.authenticator = response;
    out
}

/// Builds an Access-Request as a client would, with a Message-Authenticator: for the load
/// tool and the tests that must send what no real client sends (a retransmission).
pub fn encode_request(identifier: u8, authenticator: [u8; 16], attributes: &[Attribute], secret: &[u8]) -> Vec<u8> {
    let mut all = vec![Attribute { kind: attr::MESSAGE_AUTHENTICATOR, value: vec![0; 16] }];
    all.extend(attributes.iter().cloned());
    let mut packet = Packet { code: Code::AccessRequest, identifier, authenticator, attributes: all };
    let signature = hmac_md5(secret, &encode(&packet, |_| false));
    if let Some(first) = packet.attributes.first_mut() {
        first.value = signature.to_vec();
    }
    encode(&packet, |_| false)
}

/// Whether `reply` is a genuine answer to the request whose authenticator was
/// `request_authenticator` (what a client checks).
pub fn reply_is_genuine(reply: &[u8], request_authenticator: &[u8; 16], secret: &[u8]) -> bool {
    let Ok(packet) = Packet::decode(reply) else { return false };
    let with_request = Packet { authenticator: *request_authenticator, ..packet.clone() };
    let bytes = encode(&with_request, |_| false);
    md5(&[&bytes, secret]).ct_eq(&packet.authenticator).into()
}

/// Hides a password as a client does (RFC 2865 §5.2).
pub fn hide_password(password: &[u8], secret: &[u8], authenticator: &[u8; 16]) -> Vec<u8> {
    let padded_len = password.len().div_ceil(16).max(1) * 16;
    let mut out = password.to_vec();
    out.resize(padded_len.min(MAX_PASSWORD), 0);
    let mut previous: Vec<u8> = authenticator.to_vec();
    for chunk in out.chunks_mut(16) {
        let b = md5(&[secret, &previous]);
        chunk.iter_mut().zip(b).for_each(|(c, k)| *c ^= k);
        previous = chunk.to_vec();
    }
    out
}

/// Reveals a hidden `User-Password` (RFC 2865 §5.2), without its padding. `None` when its
/// length is not a multiple of 16 within 16..=128.
pub fn reveal_password(hidden: &[u8], secret: &[u8], authenticator: &[u8; 16]) -> Option<Vec<u8>> {
    if hidden.is_empty() || hidden.len() > MAX_PASSWORD || !hidden.len().is_multiple_of(16) {
        return None;
    }
    let mut out = Vec::with_capacity(hidden.len());
    let mut previous: &[u8] = authenticator;
    for chunk in hidden.chunks(16) {
        let b = md5(&[secret, previous]);
        out.extend(chunk.iter().zip(b).map(|(c, k)| c ^ k));
        previous = chunk;
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"xyzzy5461";

    /// RFC 2865 §7.1's example: an Access-Request from NAS 192.168.1.16 for nemo/arctangent.
    const RFC_REQUEST: [u8; 56] = [
        0x01, 0x00, 0x00, 0x38, 0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83, 0xd5, 0xcb, 0x98, 0xf4,
        0x22, 0x7a, 0x01, 0x06, 0x6e, 0x65, 0x6d, 0x6f, 0x02, 0x12, 0x0d, 0xbe, 0x70, 0x8d, 0x93, 0xd4, 0x13, 0xce,
        0x31, 0x96, 0xe4, 0x3f, 0x78, 0x2a, 0x0a, 0xee, 0x04, 0x06, 0xc0, 0xa8, 0x01, 0x10, 0x05, 0x06, 0x00, 0x00,
        0x00, 0x03,
    ];

    #[test]
    fn the_rfc_example_decodes_and_its_password_is_revealed() {
        let p = Packet::decode(&RFC_REQUEST).unwrap();
        assert_eq!(p.code, Code::AccessRequest);
        assert_eq!(p.text(attr::USER_NAME), Some("nemo"));
        let hidden = p.first(attr::USER_PASSWORD).unwrap();
        assert_eq!(reveal_password(hidden, SECRET, &p.authenticator).unwrap(), b"arctangent");
        assert_eq!(hide_password(b"arctangent", SECRET, &p.authenticator), hidden);
        assert_eq!(verify_signature(&RFC_REQUEST, SECRET), Signature::Absent);
    }

    #[test]
    fn long_passwords_chain_over_blocks() {
        let auth = [7u8; 16];
        let password = "a password of more than thirty-two bytes, chained".as_bytes();
        let hidden = hide_password(password, SECRET, &auth);
        assert_eq!(hidden.len(), 64);
        assert_eq!(reveal_password(&hidden, SECRET, &auth).unwrap(), password);
        assert_ne!(reveal_password(&hidden, b"another secret", &auth).unwrap(), password);
        assert_eq!(reveal_password(&hidden[..15], SECRET, &auth), None);
    }

    #[test]
    fn sec_53_a_signed_request_verifies_only_with_its_secret_and_unchanged() {
        let attrs = [Attribute::text(attr::USER_NAME, "ada@example.com")];
        let mut bytes = encode_request(9, [3; 16], &attrs, SECRET);
        assert_eq!(verify_signature(&bytes, SECRET), Signature::Valid);
        assert_eq!(verify_signature(&bytes, b"wrong secret"), Signature::Invalid);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(verify_signature(&bytes, SECRET), Signature::Invalid, "an altered attribute");
    }

    #[test]
    fn sec_53_two_message_authenticators_are_invalid() {
        let twice = [Attribute::bytes(attr::MESSAGE_AUTHENTICATOR, &[0; 16])];
        let bytes = encode_request(1, [0; 16], &twice, SECRET);
        assert_eq!(verify_signature(&bytes, SECRET), Signature::Invalid);
    }

    #[test]
    fn sec_53_a_reply_carries_message_authenticator_first_and_a_response_authenticator() {
        let request = Packet::decode(&encode_request(5, [9; 16], &[], SECRET)).unwrap();
        let attrs = [Attribute::text(attr::REPLY_MESSAGE, "Welcome")];
        let reply = encode_reply(Code::AccessAccept, &request, &attrs, SECRET);
        let decoded = Packet::decode(&reply).unwrap();
        assert_eq!(decoded.code, Code::AccessAccept);
        assert_eq!(decoded.identifier, 5);
        assert_eq!(decoded.attributes[0].kind, attr::MESSAGE_AUTHENTICATOR);
        assert!(reply_is_genuine(&reply, &request.authenticator, SECRET));
        assert!(!reply_is_genuine(&reply, &[0; 16], SECRET));
        assert!(!reply_is_genuine(&reply, &request.authenticator, b"wrong"));
        // The reply's Message-Authenticator is over the packet holding the request's
        // authenticator (RFC 3579 §3.2).
        let mut as_signed = reply.clone();
        as_signed[4..20].copy_from_slice(&request.authenticator);
        assert_eq!(verify_signature(&as_signed, SECRET), Signature::Valid);
    }

    #[test]
    fn malformed_datagrams_are_refused_not_panicked_on() {
        assert!(Packet::decode(&[]).is_err());
        assert!(Packet::decode(&RFC_REQUEST[..19]).is_err());
        let mut short_length = RFC_REQUEST;
        short_length[3] = 19;
        assert!(Packet::decode(&short_length).is_err());
        let mut long_length = RFC_REQUEST;
        long_length[3] = 0x40;
        assert!(Packet::decode(&long_length).is_err());
        let mut zero_attr = RFC_REQUEST;
        zero_attr[21] = 0;
        assert!(Packet::decode(&zero_attr).is_err());
        let mut padded = RFC_REQUEST.to_vec();
        padded.extend([0; 10]);
        assert_eq!(Packet::decode(&padded).unwrap().attributes.len(), 4, "octets past the length are padding");
    }

    #[test]
    fn text_attributes_are_cut_on_character_boundaries() {
        let long = "é".repeat(200);
        let a = Attribute::text(attr::REPLY_MESSAGE, &long);
        assert_eq!(a.value.len(), 252);
        assert!(std::str::from_utf8(&a.value).is_ok());
    }
}
