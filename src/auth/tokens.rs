//! Session tokens, session ids and claim codes, and the fingerprints stored for them.

use crate::crypto::{hex, random_bytes, sha256};

/// Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand survives.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters in a claim code: 28 × 5 bits = 140 bits of entropy.
const CLAIM_CODE_CHARS: usize = 28;
const CLAIM_CODE_GROUP: usize = 4;

/// A new session token (256 bits, hex) for the cookie.
pub(crate) fn new_session_token() -> String {
    hex(&random_bytes::<32>())
}

/// A new device token (256 bits, hex) for the browser's device cookie.
pub(crate) fn new_device_token() -> String {
    hex(&random_bytes::<32>())
}

/// A new public session id (128 bits, hex), used to list and revoke sessions.
pub(crate) fn new_session_id() -> String {
    hex(&random_bytes::<16>())
}

/// A new claim code such as `7KQ2-M9XD-…` (140 random bits in groups of four), and the
/// fingerprint stored for it.
pub(crate) fn new_claim_code() -> (String, [u8; 32]) {
    let bytes = random_bytes::<18>();
    let mut chars = Vec::with_capacity(CLAIM_CODE_CHARS);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 && chars.len() < CLAIM_CODE_CHARS {
            bits -= 5;
            chars.push(CROCKFORD[((buffer >> bits) & 31) as usize]);
        }
    }
    let hash = sha256(&chars);
    let code = chars
        .chunks(CLAIM_CODE_GROUP)
        .map(|group| String::from_utf8_lossy(group).into_owned())
        .collect::<Vec<_>>()
        .join("-");
    (code, hash)
}

/// Canonical form of a typed claim code: case, spaces and dashes do not matter, and the
/// look-alikes O, I and L read as 0, 1 and 1. Returns `None` for anything else.
pub(crate) fn normalize_claim_code(input: &str) -> Option<String> {
    let mut out = String::with_capacity(CLAIM_CODE_CHARS);
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            ' ' | '-' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c if c.is_ascii() && CROCKFORD.contains(&(c as u8)) => c,
            _ => return None,
        };
        out.push(c);
        if out.len() > CLAIM_CODE_CHARS {
            return None;
        }
    }
    (out.len() == CLAIM_CODE_CHARS).then_some(out)
}

/// The stored fingerprint of a claim code. The code carries 140 random bits, so a fast hash
/// is enough: there is nothing to guess offline.
pub(crate) fn claim_code_hash(code: &str) -> Option<[u8; 32]> {
    normalize_claim_code(code).map(|canonical| sha256(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_codes_are_grouped_and_round_trip() {
        let (code, hash) = new_claim_code();
        assert_eq!(claim_code_hash(&code), Some(hash), "stored as typed back");
        assert_eq!(
            code.len(),
            CLAIM_CODE_CHARS + CLAIM_CODE_CHARS / CLAIM_CODE_GROUP - 1
        );
        assert!(code.split('-').all(|group| group.len() == CLAIM_CODE_GROUP));
        let sloppy = code.to_lowercase().replace('-', " ");
        assert_eq!(claim_code_hash(&sloppy), claim_code_hash(&code));
        assert_ne!(new_claim_code().0, code);
    }

    #[test]
    fn look_alikes_and_garbage() {
        let code = "0000-1111-2222-3333-4444-5555-6666";
        assert_eq!(
            normalize_claim_code("OOOO-IIII-2222-3333-4444-5555-6666"),
            normalize_claim_code(code)
        );
        assert!(normalize_claim_code("short").is_none());
        assert!(normalize_claim_code(&format!("{code}7")).is_none());
        assert!(normalize_claim_code("0000-1111-2222-3333-4444-5555-666U").is_none());
        assert!(normalize_claim_code("0000-1111-2222-3333-4444-5555-666é").is_none());
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = new_session_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, new_session_token());
        assert_eq!(new_session_id().len(), 32);
        assert_eq!(hex(&[0x00, 0xff, 0x1a]), "00ff1a");
    }
}

/// A claim checked before the owner went to the issuer: the hash of the claim code (live
/// then, used up by the claim) and of the password chosen.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ClaimTicket {
    pub(super) code_hash: [u8; 32],
    pub(super) password_hash: String,
}

/// Shows neither hash.
impl std::fmt::Debug for ClaimTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClaimTicket")
    }
}
