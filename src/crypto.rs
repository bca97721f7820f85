//! The primitives secrets, ids and fingerprints are made of: random bytes from the operating
//! system, lowercase hex, and SHA-256.

use sha2::{Digest, Sha256};

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    #[allow(
        clippy::expect_used,
        reason = "without the OS random source no secret can be made; carrying on would be worse"
    )]
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    bytes
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Whether two secrets are equal, compared through their digests: how long it takes says
/// nothing about where they differ.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    sha256(a) == sha256(b)
}
