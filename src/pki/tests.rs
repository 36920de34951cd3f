//! The PKI against real files in temporary directories.
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;

use rcgen::{CertificateParams, SanType};
use x509_parser::extensions::GeneralName;

use super::*;

const DAY: Duration = Duration::from_secs(24 * 3600);

fn create(dir: &tempfile::TempDir) -> Pki {
    Pki::load_or_create(dir.path(), &["pi-1".into(), "192.168.1.10".into()]).unwrap()
}

/// The DNS names and IP addresses in the serving certificate.
fn server_names(pki: &Pki) -> Vec<String> {
    let cert = parse("serving certificate", pki.server_cert_der()).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap();
    san.value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(dns) => dns.to_string(),
            GeneralName::IPAddress(&[a, b, c, d]) => Ipv4Addr::new(a, b, c, d).to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_start_creates_a_ca_and_a_serving_certificate_with_private_keys() {
    let dir = tempfile::tempdir().unwrap();
    let pki = create(&dir);
    for file in ["ca.crt", "ca.key", "server.crt", "server.key"] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    assert_eq!(mode(&dir.path().join("ca.key")), 0o600);
    assert_eq!(mode(&dir.path().join("server.key")), 0o600);
    let ca = parse("CA certificate", pki.ca_cert_der()).unwrap();
    assert!(ca.is_ca());
    let ten_years = pki.ca_expiry().duration_since(SystemTime::now()).unwrap();
    assert!(ten_years > 9 * 365 * DAY && ten_years <= CA_VALIDITY);
}

#[test]
fn the_serving_certificate_is_not_a_ca_and_names_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let pki = create(&dir);
    let cert = parse("serving certificate", pki.server_cert_der()).unwrap();
    assert!(!cert.is_ca());
    assert_eq!(
        server_names(&pki),
        ["pi-1", "192.168.1.10", "localhost", "127.0.0.1"]
    );
    let year = not_after(&cert).duration_since(SystemTime::now()).unwrap();
    assert!(year > 364 * DAY && year <= SERVER_VALIDITY);
}

#[test]
fn a_restart_reuses_the_ca_and_serving_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let first = create(&dir);
    let second = create(&dir);
    assert_eq!(first.ca_pin(), second.ca_pin());
    assert_eq!(first.ca_pem(), second.ca_pem());
    assert_eq!(first.server_cert_der(), second.server_cert_der());
    assert_eq!(ca_pin_of_pem(second.ca_pem()).unwrap(), first.ca_pin());
    assert_eq!(first.ca_pin().len(), 64);
}

#[test]
fn a_new_name_gets_a_new_serving_certificate_from_the_same_ca() {
    let dir = tempfile::tempdir().unwrap();
    let first = create(&dir);
    let second =
        Pki::load_or_create(dir.path(), &["pi-1".into(), "cluster.example".into()]).unwrap();
    assert_eq!(first.ca_pin(), second.ca_pin());
    assert_ne!(first.server_cert_der(), second.server_cert_der());
    assert!(server_names(&second).contains(&"cluster.example".to_string()));
    // Names already covered need no new certificate.
    let third = Pki::load_or_create(dir.path(), &["cluster.example".into()]).unwrap();
    assert_eq!(second.server_cert_der(), third.server_cert_der());
}

#[test]
fn a_serving_certificate_about_to_expire_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let old = Pki::load_or_create_at(dir.path(), &[], now - 340 * DAY).unwrap();
    let renewed = Pki::load_or_create_at(dir.path(), &[], now).unwrap();
    assert_eq!(old.ca_pin(), renewed.ca_pin());
    assert_ne!(old.server_cert_der(), renewed.server_cert_der());
    let kept = Pki::load_or_create_at(dir.path(), &[], now).unwrap();
    assert_eq!(renewed.server_cert_der(), kept.server_cert_der());
}

#[test]
fn a_ca_certificate_without_its_key_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    create(&dir);
    std::fs::remove_file(dir.path().join("ca.key")).unwrap();
    let error = Pki::load_or_create(dir.path(), &[]).err().unwrap();
    assert!(error.to_string().contains("ca.key: missing"), "{error}");
}

#[test]
fn a_bad_serving_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let error = Pki::load_or_create(dir.path(), &["not a name".into()])
        .err()
        .unwrap();
    assert!(matches!(error, PkiError::BadName { .. }), "{error}");
}

#[test]
fn roles_round_trip_through_issued_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = create(&dir);
    for role in [
        Role::Admin,
        Role::Node("pi-2".into()),
        Role::Master("m1".into()),
    ] {
        let (cert, key) = pki.issue_client(&role, DAY).unwrap();
        assert!(key.contains("PRIVATE KEY"));
        let der = certificate("client certificate", &cert).unwrap();
        assert_eq!(role_of(&der).unwrap(), role);
        let parsed = parse("client certificate", &der).unwrap();
        assert!(!parsed.is_ca());
        let subject = parsed.subject().to_string();
        assert!(subject.contains(&format!("CN={role}")), "{subject}");
    }
}

#[test]
fn an_invalid_role_name_is_not_issued() {
    let dir = tempfile::tempdir().unwrap();
    let pki = create(&dir);
    let result = pki.issue_client(&Role::Node("Bad Name".into()), DAY);
    assert!(matches!(result, Err(PkiError::BadRole { .. })));
}

#[test]
fn a_signed_csr_carries_the_callers_role_not_the_requested_one() {
    let dir = tempfile::tempdir().unwrap();
    let pki = create(&dir);
    let agent_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut request = CertificateParams::default();
    request.subject_alt_names = vec![SanType::URI("flotilla:admin".try_into().unwrap())];
    let csr = request
        .serialize_request(&agent_key)
        .unwrap()
        .pem()
        .unwrap();
    let cert = pki
        .sign_csr(&csr, &Role::Node("pi-2".into()), 30 * DAY)
        .unwrap();
    let der = certificate("node certificate", &cert).unwrap();
    assert_eq!(role_of(&der).unwrap(), Role::Node("pi-2".into()));
    let parsed = parse("node certificate", &der).unwrap();
    assert_eq!(
        parsed.public_key().raw,
        agent_key.subject_public_key_info().as_slice()
    );
    let days = not_after(&parsed)
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(days > 29 * DAY && days <= 30 * DAY);
}

#[test]
fn a_csr_with_a_broken_signature_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = create(&dir);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = CertificateParams::default()
        .serialize_request(&key)
        .unwrap();
    // The last base64 line encodes the end of the signature; change one character of it.
    let pem = csr.pem().unwrap();
    let mut lines: Vec<String> = pem.lines().map(str::to_string).collect();
    let signature_line = &mut lines[pem.lines().count() - 2];
    let flipped = if signature_line.starts_with('A') {
        "B"
    } else {
        "A"
    };
    signature_line.replace_range(0..1, flipped);
    let tampered = lines.join("\n");
    let result = pki.sign_csr(&tampered, &Role::Node("pi-2".into()), DAY);
    assert!(matches!(result, Err(PkiError::BadCsr(_))), "{result:?}");
    let garbage = pki.sign_csr("not a csr", &Role::Admin, DAY);
    assert!(matches!(garbage, Err(PkiError::BadCsr(_))));
}

#[test]
fn client_certificates_never_outlive_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = create(&dir);
    let (cert, _) = pki.issue_client(&Role::Admin, 20 * 365 * DAY).unwrap();
    let der = certificate("client certificate", &cert).unwrap();
    assert!(not_after(&parse("client certificate", &der).unwrap()) <= pki.ca_expiry());
}

#[test]
fn certificates_without_exactly_one_role_have_no_role() {
    let dir = tempfile::tempdir().unwrap();
    let pki = create(&dir);
    assert!(matches!(
        role_of(pki.server_cert_der()),
        Err(PkiError::NoRole)
    ));
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![
        SanType::URI("flotilla:admin".try_into().unwrap()),
        SanType::URI("flotilla:node:pi-2".try_into().unwrap()),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ];
    let two_roles = params.signed_by(&key, &pki.issuer).unwrap();
    assert!(matches!(
        role_of(two_roles.der()),
        Err(PkiError::SeveralRoles { .. })
    ));
    assert!(matches!(
        role_of(b"not der"),
        Err(PkiError::BadCertificate { .. })
    ));
}

#[test]
fn credentials_round_trip_through_a_private_yaml_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = create(&dir);
    let credential = pki
        .credential(&Role::Admin, "https://127.0.0.1:7443", 365 * DAY)
        .unwrap();
    let path = dir.path().join("admin.conf");
    credential.save(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    for key in [
        "server: ",
        "certificate-authority: |",
        "client-certificate: |",
        "client-key: |",
    ] {
        assert!(text.contains(key), "{key} in\n{text}");
    }
    let loaded = Credential::load(&path).unwrap();
    assert_eq!(loaded.server, credential.server);
    assert_eq!(loaded.ca, credential.ca);
    assert_eq!(loaded.cert, credential.cert);
    assert_eq!(loaded.key, credential.key);
    assert_eq!(loaded.role().unwrap(), Role::Admin);
    let left = loaded
        .expiry()
        .unwrap()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(left > 364 * DAY && left <= 365 * DAY);
    assert!(!format!("{loaded:?}").contains("PRIVATE KEY"));
}

#[test]
fn a_broken_credential_file_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.conf");
    std::fs::write(
        &path,
        "server: https://pi-1:7443\ncertificate-authority: nope\n",
    )
    .unwrap();
    let error = Credential::load(&path).unwrap_err();
    assert!(error.to_string().contains("admin.conf"), "{error}");
    let missing = Credential::load(&dir.path().join("absent.conf")).unwrap_err();
    assert!(matches!(missing, PkiError::Io { .. }), "{missing}");
}

#[test]
fn the_pki_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Pki>();
}
