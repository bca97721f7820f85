//! Certificates as clawhost handles them: a PEM pair made into what rustls serves, what a
//! certificate says about itself (names, lifetime, issuer), and the two clawhost makes:
//! the TLS-ALPN-01 answer and the self-signed stand-in served until a real one arrives.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::config::AcmeName;

/// A chain and its key from PEM text, with what its certificate says about itself: at least
/// one certificate, and the private key of the first one. `what` says where they came from,
/// for the error.
pub(super) fn from_pem(
    chain_pem: &[u8],
    key_pem: &[u8],
    what: &str,
) -> Result<(CertifiedKey, CertInfo), String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what}: not a PEM certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err(format!("{what}: no certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("{what}: no usable private key: {e}"))?;
    let pair = certified(chain, &key).map_err(|e| format!("{what}: {e}"))?;
    let info = CertInfo::of(&pair).map_err(|e| format!("{what}: {e}"))?;
    Ok((pair, info))
}

fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: &PrivateKeyDer<'_>,
) -> Result<CertifiedKey, String> {
    let signer = rustls::crypto::ring::sign::any_supported_type(key)
        .map_err(|e| format!("the key cannot sign: {e}"))?;
    let certified = CertifiedKey::new(chain, signer);
    certified
        .keys_match()
        .map_err(|e| format!("the key is not the certificate's: {e}"))?;
    Ok(certified)
}

/// What a certificate says about itself.
#[derive(Debug, Clone)]
pub(super) struct CertInfo {
    pub(super) not_before: i64,
    pub(super) not_after: i64,
    /// The issuer's common name (or its whole name when it has none).
    pub(super) issuer: String,
    /// Its subject alternative names, DNS names lowercased.
    pub(super) names: Vec<String>,
}

impl CertInfo {
    /// Of the first certificate of `certified`.
    pub(super) fn of(certified: &CertifiedKey) -> Result<Self, String> {
        let der = certified.end_entity_cert().map_err(|e| e.to_string())?;
        Self::parse(der)
    }

    pub(super) fn parse(der: &CertificateDer<'_>) -> Result<Self, String> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let issuer = cert
            .issuer()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map_or_else(|| cert.issuer().to_string(), str::to_string);
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => names.push(dns.to_ascii_lowercase()),
                    GeneralName::IPAddress(bytes) => {
                        let ip = match bytes.len() {
                            4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                            16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                            _ => None,
                        };
                        names.extend(ip.map(|ip| ip.to_string()));
                    }
                    _ => {}
                }
            }
        }
        Ok(Self {
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            issuer,
            names,
        })
    }

    /// Whether it names every one of `names`.
    pub(super) fn covers(&self, names: &[AcmeName]) -> bool {
        names
            .iter()
            .all(|name| self.names.contains(&name.to_string()))
    }
}

/// The name a TLS-ALPN-01 validation asks for in SNI: the DNS name, or for an IP address its
/// reverse-DNS name (RFC 8738 §6).
pub(super) fn challenge_server_name(name: &AcmeName) -> String {
    match name {
        AcmeName::Dns(dns) => dns.clone(),
        AcmeName::Ip(IpAddr::V4(ip)) => {
            let [a, b, c, d] = ip.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        AcmeName::Ip(IpAddr::V6(ip)) => {
            // Least significant nibble first.
            let reversed: Vec<String> = ip
                .octets()
                .iter()
                .rev()
                .flat_map(|byte| [byte & 0x0f, byte >> 4])
                .map(|nibble| format!("{nibble:x}"))
                .collect();
            format!("{}.ip6.arpa", reversed.join("."))
        }
    }
}

fn params_for(names: &[AcmeName]) -> Result<rcgen::CertificateParams, String> {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    for name in names {
        params.subject_alt_names.push(match name {
            AcmeName::Dns(dns) => {
                rcgen::SanType::DnsName(dns.clone().try_into().map_err(|e| format!("{dns}: {e}"))?)
            }
            AcmeName::Ip(ip) => rcgen::SanType::IpAddress(*ip),
        });
    }
    Ok(params)
}

/// A fresh key and a certificate for it, signed by itself. (Made here, so the pair is not
/// checked again: rustls's check would refuse the challenge certificate's critical
/// acmeIdentifier extension, which it does not know.)
fn self_signed(params: &rcgen::CertificateParams) -> Result<CertifiedKey, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let key_der = PrivateKeyDer::try_from(key.serialize_der()).map_err(str::to_string)?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key_der)
        .map_err(|e| format!("the key cannot sign: {e}"))?;
    Ok(CertifiedKey::new(vec![cert.der().clone()], signer))
}

/// The certificate that answers a TLS-ALPN-01 validation of `name` (RFC 8737 §3): self-signed,
/// for that one name, with the critical acmeIdentifier extension holding the digest of the
/// key authorization.
pub(super) fn challenge_certificate(
    name: &AcmeName,
    key_authorization_digest: &[u8],
) -> Result<Arc<CertifiedKey>, String> {
    let mut params = params_for(std::slice::from_ref(name))?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(
        key_authorization_digest,
    )];
    self_signed(&params).map(Arc::new)
}

/// Served while no certificate from the CA is there yet (the first one is on its way, or the
/// CA cannot be reached): browsers warn, but the owner can still reach the dashboard and read
/// why.
pub(super) fn stand_in(names: &[AcmeName]) -> Result<Arc<CertifiedKey>, String> {
    let mut params = params_for(names)?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "clawhost: waiting for a certificate from the CA",
    );
    self_signed(&params).map(Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_challenges_are_asked_for_by_their_reverse_name() {
        let v4 = AcmeName::Ip("203.0.113.5".parse().expect("ip"));
        assert_eq!(challenge_server_name(&v4), "5.113.0.203.in-addr.arpa");
        let v6 = AcmeName::Ip("2001:db8::567:89ab".parse().expect("ip"));
        assert_eq!(
            challenge_server_name(&v6),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }

    /// The challenge certificate names the one identifier, carries the digest, and its key is
    /// its own; the stand-in covers every name.
    #[test]
    fn made_certificates_say_what_they_are_for() {
        let names = [
            AcmeName::Dns("claw.example.com".into()),
            AcmeName::Ip("203.0.113.5".parse().expect("ip")),
        ];
        let challenge = challenge_certificate(&names[0], &[7; 32]).expect("challenge");
        let info = CertInfo::of(&challenge).expect("info");
        assert_eq!(info.names, ["claw.example.com"]);
        let der = challenge.end_entity_cert().expect("cert");
        let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref()).expect("parse");
        let acme_identifier = parsed
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
            .expect("acmeIdentifier");
        assert!(acme_identifier.critical);
        assert!(acme_identifier.value.ends_with(&[7; 32]));

        let stand_in = stand_in(&names).expect("stand-in");
        let info = CertInfo::of(&stand_in).expect("info");
        assert!(info.covers(&names), "{:?}", info.names);
        assert!(info.issuer.contains("waiting"), "{}", info.issuer);
    }
}
