//! Reading certificates back: PEM to DER, expiry, and the CA pin.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::digest::{digest, SHA256};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::token::hex;
use super::PkiError;

/// Every certificate in `pem`, in order; at least one.
pub fn certificates(
    what: &'static str,
    pem: &str,
) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::BadCertificate {
            what,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(PkiError::BadCertificate {
            what,
            reason: "no PEM CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// The first certificate in `pem`.
pub fn certificate(what: &'static str, pem: &str) -> Result<CertificateDer<'static>, PkiError> {
    Ok(certificates(what, pem)?.swap_remove(0))
}

/// The private key in `pem` (PKCS#8, SEC1 or PKCS#1).
pub fn private_key(what: &'static str, pem: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| PkiError::BadKey {
        what,
        reason: e.to_string(),
    })
}

/// Parses `der`, naming `what` in the error.
pub fn parse<'a>(what: &'static str, der: &'a [u8]) -> Result<X509Certificate<'a>, PkiError> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert)
        .map_err(|e| PkiError::BadCertificate {
            what,
            reason: e.to_string(),
        })
}

/// When the certificate stops being valid.
pub fn not_after(cert: &X509Certificate<'_>) -> SystemTime {
    let seconds = cert.validity().not_after.timestamp();
    UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}

/// Hex SHA-256 of the DER SubjectPublicKeyInfo (algorithm identifier and public key, exactly
/// as encoded in the certificate) — the same value kubeadm's `--discovery-token-ca-cert-hash`
/// pins, so `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`
/// reproduces it.
pub fn spki_sha256_hex(cert: &X509Certificate<'_>) -> String {
    hex(digest(&SHA256, cert.public_key().raw).as_ref())
}

/// The pin of the CA certificate in `ca_pem`: hex SHA-256 of its DER-encoded
/// SubjectPublicKeyInfo. A joining agent compares it with the pin in its token before it trusts
/// the CA. The pin survives re-issuing the CA certificate with the same key.
pub fn ca_pin_of_pem(ca_pem: &str) -> Result<String, PkiError> {
    let der = certificate("CA certificate", ca_pem)?;
    Ok(spki_sha256_hex(&parse("CA certificate", &der)?))
}
