//! The certificates Flotilla makes: the cluster CA, the master's serving certificate and
//! role-carrying client certificates, as rcgen parameters.
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyUsagePurpose, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use time::OffsetDateTime;

use super::token::RandomError;
use super::{PkiError, Role};

/// Lifetime of the cluster CA.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Lifetime of the master's serving certificate.
pub const SERVER_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Certificates start this long before they are made: boards without a real-time clock boot
/// with a clock that lags until NTP catches up.
pub const BACKDATE: Duration = Duration::from_secs(3600);
/// The organisation in every subject.
const ORGANIZATION: &str = "flotilla";

/// The cluster CA, valid for [`CA_VALIDITY`] from `now`.
pub fn ca_params(now: SystemTime) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    // A name of its own, so that a certificate from another cluster's CA is reported as
    // signed by an unknown issuer, not as a bad signature from ours.
    params.distinguished_name = subject(&format!("flotilla-ca-{}", random_hex(4)?));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(random_serial()?);
    set_validity(&mut params, now, CA_VALIDITY, None);
    Ok(params)
}

/// The master's serving certificate for `names` (DNS names and IP addresses), not a CA.
pub fn server_params(
    names: &[String],
    now: SystemTime,
    ca_not_after: SystemTime,
) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject("flotilla-master");
    params.subject_alt_names = names.iter().map(|n| san(n)).collect::<Result<_, _>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial()?);
    set_validity(&mut params, now, SERVER_VALIDITY, Some(ca_not_after));
    Ok(params)
}

/// A client certificate for `role`, valid for `validity` (at most until the CA expires).
/// Master certificates may also serve, for the masters' peer connections.
pub fn client_params(
    role: &Role,
    validity: Duration,
    now: SystemTime,
    ca_not_after: SystemTime,
) -> Result<CertificateParams, PkiError> {
    role.validate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = subject(&role.to_string());
    let uri = role
        .uri()
        .try_into()
        .map_err(|_| PkiError::BadRole { uri: role.uri() })?;
    params.subject_alt_names = vec![SanType::URI(uri)];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = match role {
        Role::Master(_) => vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ],
        Role::Admin | Role::Node(_) => vec![ExtendedKeyUsagePurpose::ClientAuth],
    };
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial()?);
    set_validity(&mut params, now, validity, Some(ca_not_after));
    Ok(params)
}

/// The serving certificate's names: the requested ones plus `localhost` and `127.0.0.1`,
/// trimmed, without brackets around IPv6 addresses, without duplicates and without the
/// unspecified addresses (`0.0.0.0`, `::`), which a client can never connect to by name.
pub fn server_names(requested: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let defaults = ["localhost".to_string(), "127.0.0.1".to_string()];
    for name in requested.iter().chain(defaults.iter()) {
        let name = name.trim().trim_start_matches('[').trim_end_matches(']');
        let unspecified = name.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified());
        if name.is_empty() || unspecified || names.iter().any(|n| n == name) {
            continue;
        }
        names.push(name.to_string());
    }
    names
}

fn subject(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, ORGANIZATION);
    name.push(DnType::CommonName, common_name);
    name
}

fn san(name: &str) -> Result<SanType, PkiError> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let valid = rustls::pki_types::ServerName::try_from(name).is_ok();
    match name.to_string().try_into() {
        Ok(dns) if valid => Ok(SanType::DnsName(dns)),
        _ => Err(PkiError::BadName {
            name: name.to_string(),
        }),
    }
}

/// From `now - BACKDATE` to `now + validity`, but never past `not_after_max`.
fn set_validity(
    params: &mut CertificateParams,
    now: SystemTime,
    validity: Duration,
    not_after_max: Option<SystemTime>,
) {
    let not_after = now + validity;
    let not_after = not_after_max.map_or(not_after, |max| not_after.min(max));
    params.not_before = OffsetDateTime::from(now - BACKDATE);
    params.not_after = OffsetDateTime::from(not_after);
}

/// `bytes` random bytes in hex.
fn random_hex(bytes: usize) -> Result<String, PkiError> {
    let mut random = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut random)
        .map_err(|_| RandomError)?;
    Ok(super::token::hex(&random))
}

/// A random positive 128-bit serial number.
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RandomError)?;
    // Positive (top bit clear) and with a non-zero first byte, so that the DER integer is
    // exactly 16 bytes with no padding either way.
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_always_include_loopback_and_skip_unusable_ones() {
        let requested = [
            "pi-1".into(),
            " 0.0.0.0".into(),
            "[::1]".into(),
            "pi-1".into(),
        ];
        assert_eq!(
            server_names(&requested),
            ["pi-1", "::1", "localhost", "127.0.0.1"]
        );
    }
}
