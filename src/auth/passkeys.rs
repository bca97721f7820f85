//! Passkeys (WebAuthn, through `webauthn-rs`): the owner registers several from the
//! settings page (the password, or another passkey, in that request) and signs in with one alone (a discoverable
//! credential: no name to type), or confirms a sensitive action with one. The relying
//! party is the public URL's host; a host that is an IP address cannot have passkeys
//! (browsers refuse), which the pages say.
//!
//! Each ceremony's state stays in memory under a random id, used once, for
//! [`CEREMONY_TTL`]. The credential is verified as the crate recommends: user verification
//! required, the signature counter must grow, and the record is kept up to date (counter,
//! backup state) after every use.

use std::time::Duration;

use super::pending::Pending;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, Passkey, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

/// How long a browser may take between a ceremony's start and its finish.
pub(crate) const CEREMONY_TTL: Duration = Duration::from_mins(5);
/// Ceremonies under way at once, of each kind; beyond, the oldest is forgotten.
const MAX_CEREMONIES: usize = 256;
/// Sign-in ceremonies under way from one address (or network); beyond, its oldest goes.
const CEREMONIES_PER_SOURCE: usize = 8;

#[derive(Debug, thiserror::Error)]
pub(crate) enum PasskeyError {
    /// Passkeys cannot work at this public URL, and why.
    #[error("{0}")]
    Unavailable(String),
    /// No ceremony under way has this id (expired, used, or another session's).
    #[error("no such ceremony")]
    NoSuchCeremony,
    /// What the browser sent is not a WebAuthn answer.
    #[error("{0}")]
    Malformed(String),
    /// The answer failed verification (signature, challenge, origin, user verification,
    /// counter), or names a credential that is not the owner's.
    #[error("{0}")]
    Refused(String),
    /// The store failed, or a stored record cannot be read: clawhost's fault, not the
    /// browser's.
    #[error("{0}")]
    Internal(String),
}

struct Registration {
    state: PasskeyRegistration,
    session_id: String,
    name: String,
}

pub(crate) struct Passkeys {
    webauthn: Result<Webauthn, String>,
    registrations: Pending<String, Registration>,
    sign_ins: Pending<String, DiscoverableAuthentication>,
}

/// A registration verified: the name the owner gave, and the credential to keep.
pub(crate) struct NewPasskey {
    pub(crate) name: String,
    pub(crate) passkey: Passkey,
}

/// A sign-in answer whose ceremony was found: who it says it is, still to be verified
/// against the stored credential by [`Passkeys::verify`].
pub(crate) struct Assertion {
    credential: PublicKeyCredential,
    state: DiscoverableAuthentication,
    pub(crate) user_handle: Vec<u8>,
    pub(crate) credential_id: Vec<u8>,
}

impl Passkeys {
    /// Passkeys for browsers at `origin` (the public URL) with relying party id `host`.
    pub(crate) fn new(origin: &str, host: &str) -> Self {
        let webauthn = Self::relying_party(origin, host);
        if let Err(why) = &webauthn {
            tracing::info!("passkeys are off: {why}");
        }
        Self {
            webauthn,
            registrations: Pending::new(CEREMONY_TTL, MAX_CEREMONIES),
            sign_ins: Pending::new(CEREMONY_TTL, MAX_CEREMONIES),
        }
    }

    fn relying_party(origin: &str, host: &str) -> Result<Webauthn, String> {
        let unavailable = || {
            format!(
                "passkeys need a name in the public URL, not an address ({host}): browsers tie a passkey to a domain name (use localhost on this machine)"
            )
        };
        if host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok()
        {
            return Err(unavailable());
        }
        let origin = Url::parse(origin).map_err(|e| format!("the public URL: {e}"))?;
        WebauthnBuilder::new(host, &origin)
            .and_then(|builder| builder.rp_name("clawhost").build())
            .map_err(|_| unavailable())
    }

    /// Why passkeys cannot be used here, if they cannot.
    pub(crate) fn unavailable(&self) -> Option<&str> {
        self.webauthn.as_ref().err().map(String::as_str)
    }

    fn webauthn(&self) -> Result<&Webauthn, PasskeyError> {
        self.webauthn
            .as_ref()
            .map_err(|why| PasskeyError::Unavailable(why.clone()))
    }

    /// Starts registering a passkey called `name` for the owner signed in with
    /// `session_id`: the ceremony's id, and the options for `navigator.credentials.create`.
    pub(crate) fn begin_registration(
        &self,
        user_handle: [u8; 16],
        existing: Vec<Vec<u8>>,
        session_id: &str,
        name: String,
    ) -> Result<(String, serde_json::Value), PasskeyError> {
        let webauthn = self.webauthn()?;
        let (options, state) = webauthn
            .start_passkey_registration(
                Uuid::from_bytes(user_handle),
                "owner",
                "clawhost owner",
                Some(existing),
            )
            .map_err(|e| PasskeyError::Unavailable(e.to_string()))?;
        let mut options =
            serde_json::to_value(&options).map_err(|e| PasskeyError::Unavailable(e.to_string()))?;
        // Signing in without a name to type needs a credential the authenticator can find by
        // itself; the crate asks for "discouraged", which many keys take literally.
        if let Some(selection) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(serde_json::Value::as_object_mut)
        {
            selection.insert("residentKey".into(), "required".into());
            selection.insert("requireResidentKey".into(), true.into());
        }
        let id = super::tokens::new_session_token();
        let registration = Registration {
            state,
            session_id: session_id.to_owned(),
            name,
        };
        self.registrations.insert(id.clone(), registration);
        Ok((id, options))
    }

    /// Verifies the browser's answer to registration `ceremony`, begun in `session_id`.
    pub(crate) fn finish_registration(
        &self,
        ceremony: &str,
        session_id: &str,
        credential: serde_json::Value,
    ) -> Result<NewPasskey, PasskeyError> {
        let webauthn = self.webauthn()?;
        let registration = self
            .registrations
            .take(ceremony)
            .filter(|r| r.session_id == session_id)
            .ok_or(PasskeyError::NoSuchCeremony)?;
        let credential: RegisterPublicKeyCredential = serde_json::from_value(credential)
            .map_err(|e| PasskeyError::Malformed(format!("not a WebAuthn registration: {e}")))?;
        let passkey = webauthn
            .finish_passkey_registration(&credential, &registration.state)
            .map_err(|e| PasskeyError::Refused(format!("the passkey was not accepted: {e}")))?;
        Ok(NewPasskey {
            name: registration.name,
            passkey,
        })
    }

    /// Starts a sign-in (or a step-up) with any of the owner's passkeys: the ceremony's id,
    /// and the options for `navigator.credentials.get`.
    /// Starts a sign-in (or a step-up) ceremony for a visitor at `from` (as the limits count
    /// addresses): at most [`CEREMONIES_PER_SOURCE`] of theirs are kept.
    pub(crate) fn begin_sign_in(
        &self,
        from: std::net::IpAddr,
    ) -> Result<(String, serde_json::Value), PasskeyError> {
        let webauthn = self.webauthn()?;
        let (options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|e| PasskeyError::Unavailable(e.to_string()))?;
        let options =
            serde_json::to_value(&options).map_err(|e| PasskeyError::Unavailable(e.to_string()))?;
        let id = super::tokens::new_session_token();
        self.sign_ins
            .insert_from(from, id.clone(), state, CEREMONIES_PER_SOURCE);
        Ok((id, options))
    }

    /// The browser's answer to sign-in `ceremony` (used up whatever follows), and whose
    /// credential it names.
    pub(crate) fn assertion(
        &self,
        ceremony: &str,
        credential: serde_json::Value,
    ) -> Result<Assertion, PasskeyError> {
        let webauthn = self.webauthn()?;
        let state = self
            .sign_ins
            .take(ceremony)
            .ok_or(PasskeyError::NoSuchCeremony)?;
        let credential: PublicKeyCredential = serde_json::from_value(credential)
            .map_err(|e| PasskeyError::Malformed(format!("not a WebAuthn assertion: {e}")))?;
        let (user, credential_id) = webauthn
            .identify_discoverable_authentication(&credential)
            .map_err(|_| PasskeyError::Refused("the passkey names no user of clawhost".into()))?;
        let (user_handle, credential_id) = (user.as_bytes().to_vec(), credential_id.to_vec());
        Ok(Assertion {
            credential,
            state,
            user_handle,
            credential_id,
        })
    }

    /// Verifies `assertion` against the owner's stored `passkey`.
    pub(crate) fn verify(
        &self,
        assertion: Assertion,
        passkey: &Passkey,
    ) -> Result<AuthenticationResult, PasskeyError> {
        self.webauthn()?
            .finish_discoverable_authentication_v2(&assertion.credential, assertion.state, passkey)
            .map_err(|e| PasskeyError::Refused(format!("the passkey's answer was refused: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_cannot_have_passkeys_but_a_name_can() {
        for (origin, host) in [
            ("http://127.0.0.1:8080", "127.0.0.1"),
            ("https://203.0.113.5", "203.0.113.5"),
            ("https://[2001:db8::5]", "[2001:db8::5]"),
        ] {
            let passkeys = Passkeys::new(origin, host);
            assert!(
                passkeys
                    .unavailable()
                    .is_some_and(|why| why.contains("not an address"))
            );
            assert!(matches!(
                passkeys.begin_sign_in([127, 0, 0, 1].into()),
                Err(PasskeyError::Unavailable(_))
            ));
        }
        for (origin, host) in [
            ("http://localhost:8080", "localhost"),
            ("https://claw.example.com", "claw.example.com"),
        ] {
            assert_eq!(Passkeys::new(origin, host).unavailable(), None, "{host}");
        }
    }

    #[test]
    fn registrations_ask_for_a_discoverable_credential_and_are_bound_to_their_session() {
        let passkeys = Passkeys::new("https://claw.example.com", "claw.example.com");
        let (id, options) = passkeys
            .begin_registration([1; 16], vec![], "session-a", "Phone".into())
            .expect("begin");
        let selection = &options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "required");
        assert_eq!(selection["userVerification"], "required");
        assert_eq!(options["publicKey"]["rp"]["id"], "claw.example.com");
        let other = passkeys.finish_registration(&id, "session-b", serde_json::json!({}));
        assert!(matches!(other, Err(PasskeyError::NoSuchCeremony)));
        let again = passkeys.finish_registration(&id, "session-a", serde_json::json!({}));
        assert!(
            matches!(again, Err(PasskeyError::NoSuchCeremony)),
            "used up by the first try"
        );
    }

    #[test]
    fn ceremonies_are_bounded_and_used_once() {
        let passkeys = Passkeys::new("https://claw.example.com", "claw.example.com");
        let from = |n: usize| {
            let n = u32::try_from(n).expect("small");
            std::net::IpAddr::from((10 << 24 | n).to_be_bytes())
        };
        let (first, _) = passkeys.begin_sign_in(from(0)).expect("begin");
        for n in 0..MAX_CEREMONIES {
            passkeys.begin_sign_in(from(n + 1)).expect("begin");
        }
        assert_eq!(passkeys.sign_ins.len(), MAX_CEREMONIES);
        let forgotten = passkeys.assertion(&first, serde_json::json!({}));
        assert!(
            matches!(forgotten, Err(PasskeyError::NoSuchCeremony)),
            "the oldest went"
        );
        let (id, _) = passkeys.begin_sign_in(from(0)).expect("begin");
        let malformed = passkeys.assertion(&id, serde_json::json!({"id": 5}));
        assert!(matches!(malformed, Err(PasskeyError::Malformed(_))));
        let again = passkeys.assertion(&id, serde_json::json!({}));
        assert!(matches!(again, Err(PasskeyError::NoSuchCeremony)));
    }
}
