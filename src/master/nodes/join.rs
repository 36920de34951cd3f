//! Join and renewal validation on the master, sans-IO: the token's verdict, the CSR and the
//! node name's current claim in; a refusal that says which problem it is, or the plan to sign,
//! out.
//!
//! A node name is claimed by a key: the hex SHA-256 of the SubjectPublicKeyInfo of the key
//! that joined under it, kept in the Node object's [`KEY_ANNOTATION`]. A second agent with
//! another key is refused until an administrator deletes the node (which drops the claim);
//! the same key may join again (a re-flashed card that kept its data directory, a renewal).
use std::time::SystemTime;

use crate::wire::{JoinRequest, NodeName, Refusal, RefusalReason, TokenId, TokenSecret};

/// Annotation on a Node object holding the key that claimed the name.
pub const KEY_ANNOTATION: &str = "flotilla.dev/node-key-sha256";

/// Why the token store refused a token. The store's `consume_token` maps onto this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRejection {
    /// no token with this id, or the secret does not match
    Unknown,
    /// expired at this time (RFC 3339)
    Expired { at: String },
    /// revoked by an administrator
    Revoked,
}

/// The token store, as join needs it: checks a token and counts a use, atomically.
pub trait JoinTokens {
    fn consume_token(
        &self,
        id: &TokenId,
        secret: &TokenSecret,
        now: SystemTime,
    ) -> Result<(), TokenRejection>;
}

/// What the master will do for an accepted join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinPlan {
    pub node: NodeName,
    /// The key's fingerprint, to record as the name's claim.
    pub key_sha256: String,
}

/// Hex SHA-256 of a DER SubjectPublicKeyInfo: a key's fingerprint, and the form of the CA pin
/// in join tokens.
pub fn spki_sha256_hex(spki_der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses the CSR, checks its self-signature and returns its key's fingerprint.
pub fn csr_key_sha256(csr_pem: &str) -> Result<String, Refusal> {
    use rcgen::PublicKeyData;
    let params = rcgen::CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| {
        Refusal::new(
            RefusalReason::CsrInvalid,
            format!("the certificate signing request is not a valid, self-signed PKCS#10 CSR in PEM: {e}"),
        )
    })?;
    Ok(spki_sha256_hex(
        &params.public_key.subject_public_key_info(),
    ))
}

/// The refusal an agent gets for a token the store rejected.
pub fn token_refusal(id: &TokenId, rejection: &TokenRejection) -> Refusal {
    match rejection {
        TokenRejection::Unknown => Refusal::new(
            RefusalReason::TokenUnknown,
            format!("join token {id} is not known to this cluster (or its secret is wrong); create one with `edgectl token create`"),
        ),
        TokenRejection::Expired { at } => Refusal::new(
            RefusalReason::TokenExpired,
            format!("join token {id} expired at {at}; create a new one with `edgectl token create`"),
        ),
        TokenRejection::Revoked => Refusal::new(
            RefusalReason::TokenRevoked,
            format!("join token {id} was revoked; create a new one with `edgectl token create`"),
        ),
    }
}

/// Checks a node name's claim: free, or held by the same key.
pub fn check_claim(
    node: &NodeName,
    key_sha256: &str,
    existing_claim: Option<&str>,
) -> Result<(), Refusal> {
    match existing_claim {
        Some(claim) if claim != key_sha256 => Err(Refusal::new(
            RefusalReason::NodeNameTaken,
            format!("node name {node} is already held by another agent's key; pick another --node-name, or delete the node first (`edgectl delete node {node}`)"),
        )),
        _ => Ok(()),
    }
}

/// Validates a join: CSR first (free), then the token (counts a use), then the name's claim.
/// `existing_claim` is the [`KEY_ANNOTATION`] of the Node object of that name, if one exists.
pub fn validate_join(
    request: &JoinRequest,
    tokens: &impl JoinTokens,
    existing_claim: Option<&str>,
    now: SystemTime,
) -> Result<JoinPlan, Refusal> {
    let key_sha256 = csr_key_sha256(&request.csr_pem)?;
    tokens
        .consume_token(&request.token_id, &request.token_secret, now)
        .map_err(|rejection| token_refusal(&request.token_id, &rejection))?;
    check_claim(&request.node, &key_sha256, existing_claim)?;
    Ok(JoinPlan {
        node: request.node.clone(),
        key_sha256,
    })
}

/// Validates a renewal over mTLS: the caller already proved it is `node`, so no token; the
/// CSR may carry a new key, which then becomes the name's claim.
pub fn validate_renewal(node: &NodeName, csr_pem: &str) -> Result<JoinPlan, Refusal> {
    Ok(JoinPlan {
        node: node.clone(),
        key_sha256: csr_key_sha256(csr_pem)?,
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    struct Tokens {
        verdict: Result<(), TokenRejection>,
        uses: Cell<u32>,
    }

    impl JoinTokens for Tokens {
        fn consume_token(
            &self,
            id: &TokenId,
            _secret: &TokenSecret,
            _now: SystemTime,
        ) -> Result<(), TokenRejection> {
            assert_eq!(id.as_str(), "abc123");
            self.uses.set(self.uses.get() + 1);
            self.verdict.clone()
        }
    }

    fn tokens(verdict: Result<(), TokenRejection>) -> Tokens {
        Tokens {
            verdict,
            uses: Cell::new(0),
        }
    }

    fn csr() -> (String, String) {
        use rcgen::PublicKeyData;
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["pi-2".to_string()]).unwrap();
        let csr = params.serialize_request(&key).unwrap().pem().unwrap();
        (csr, spki_sha256_hex(&key.subject_public_key_info()))
    }

    fn request(csr_pem: String) -> JoinRequest {
        JoinRequest {
            token_id: TokenId::new("abc123").unwrap(),
            token_secret: TokenSecret::new("0123456789abcdef").unwrap(),
            node: NodeName::new("pi-2").unwrap(),
            csr_pem,
        }
    }

    #[test]
    fn a_valid_token_and_csr_for_a_free_name_are_accepted_with_the_key_fingerprint() {
        let (csr, key) = csr();
        let t = tokens(Ok(()));
        let plan = validate_join(&request(csr), &t, None, SystemTime::now()).unwrap();
        assert_eq!(plan.key_sha256, key);
        assert_eq!(plan.key_sha256.len(), 64);
        assert_eq!(t.uses.get(), 1);
    }

    #[test]
    fn an_expired_token_is_refused_as_expired() {
        let (csr, _) = csr();
        let t = tokens(Err(TokenRejection::Expired {
            at: "2026-11-21T10:00:00Z".into(),
        }));
        let refusal = validate_join(&request(csr), &t, None, SystemTime::now()).unwrap_err();
        assert_eq!(refusal.reason, RefusalReason::TokenExpired);
        assert!(refusal.message.contains("expired at 2026-11-21T10:00:00Z"));
    }

    #[test]
    fn a_revoked_token_is_refused_as_revoked() {
        let (csr, _) = csr();
        let t = tokens(Err(TokenRejection::Revoked));
        let refusal = validate_join(&request(csr), &t, None, SystemTime::now()).unwrap_err();
        assert_eq!(refusal.reason, RefusalReason::TokenRevoked);
    }

    #[test]
    fn an_unknown_token_is_refused_as_unknown() {
        let (csr, _) = csr();
        let t = tokens(Err(TokenRejection::Unknown));
        let refusal = validate_join(&request(csr), &t, None, SystemTime::now()).unwrap_err();
        assert_eq!(refusal.reason, RefusalReason::TokenUnknown);
    }

    #[test]
    fn a_garbage_csr_is_refused_without_using_the_token() {
        let t = tokens(Ok(()));
        let refusal = validate_join(
            &request(
                "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
                    .into(),
            ),
            &t,
            None,
            SystemTime::now(),
        )
        .unwrap_err();
        assert_eq!(refusal.reason, RefusalReason::CsrInvalid);
        assert_eq!(t.uses.get(), 0);
    }

    #[test]
    fn a_second_agent_with_another_key_cannot_take_an_existing_node_name() {
        let (csr, _) = csr();
        let (_, other_key) = self::csr();
        let t = tokens(Ok(()));
        let refusal =
            validate_join(&request(csr), &t, Some(&other_key), SystemTime::now()).unwrap_err();
        assert_eq!(refusal.reason, RefusalReason::NodeNameTaken);
        assert!(refusal.message.contains("edgectl delete node pi-2"));
    }

    #[test]
    fn the_same_key_may_join_again_under_its_name() {
        let (csr, key) = csr();
        let t = tokens(Ok(()));
        assert!(validate_join(&request(csr), &t, Some(&key), SystemTime::now()).is_ok());
    }

    #[test]
    fn a_renewal_needs_no_token_but_a_valid_csr() {
        let (csr, key) = csr();
        let node = NodeName::new("pi-2").unwrap();
        assert_eq!(validate_renewal(&node, &csr).unwrap().key_sha256, key);
        assert!(validate_renewal(&node, "nope").is_err());
    }
}
