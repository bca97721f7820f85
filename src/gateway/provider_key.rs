//! The provider key at rest: the only code that seals or opens it. It is sealed under a
//! purpose of its own, so a ciphertext copied from another column never opens as a key.

use zeroize::Zeroizing;

use crate::secrets::{SecretBox, SecretError};
use crate::store::GatewaySettings;

const PURPOSE: &str = "clawhost/provider-api-key/v1";

pub(crate) fn seal(sealer: &SecretBox, key: &str) -> Result<Vec<u8>, SecretError> {
    sealer.seal(PURPOSE, key.as_bytes())
}

/// The stored key, opened (in memory only), when one is stored.
pub(crate) fn open(
    sealer: &SecretBox,
    settings: &GatewaySettings,
) -> Result<Option<Zeroizing<String>>, String> {
    let Some(ciphertext) = &settings.api_key_sealed else {
        return Ok(None);
    };
    let bytes = sealer
        .open(PURPOSE, ciphertext)
        .map_err(|e| e.to_string())?;
    String::from_utf8(bytes.to_vec())
        .map(|key| Some(Zeroizing::new(key)))
        .map_err(|_| "the stored key is not text".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_as_a_key() {
        let dir = tempfile::tempdir().expect("dir");
        let sealer = SecretBox::load_or_create(&dir.path().join("secret.key"), true).expect("key");
        let ciphertext = seal(&sealer, "sk-test-123").expect("seal");
        let mut settings = GatewaySettings {
            provider: "openai-compatible".into(),
            model: "m".into(),
            base_url: None,
            api_key_sealed: Some(ciphertext),
            api_key_last4: Some("-123".into()),
            updated_at: 0,
        };
        let opened = open(&sealer, &settings).expect("open").expect("a key");
        assert_eq!(opened.as_str(), "sk-test-123");
        settings.api_key_sealed = Some(sealer.seal("another/purpose", b"x").expect("seal"));
        assert!(open(&sealer, &settings).is_err());
        settings.api_key_sealed = None;
        assert_eq!(open(&sealer, &settings).expect("none"), None);
    }
}
