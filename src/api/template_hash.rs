//! The pod-template hash that names a Deployment's ReplicaSets (`web-7d4b9c8f5d`) and labels
//! their pods (`pod-template-hash`): FNV-1a 32 of the template, rendered with Kubernetes'
//! `SafeEncodeString` alphabet, which has no vowels and no look-alike characters.
use super::pod::PodTemplateSpec;

/// Label carrying the template hash on ReplicaSets and their pods.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// Label carrying a DaemonSet's template hash on its pods.
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller-revision-hash";

pub use super::names::SAFE_ALPHABET;

/// FNV-1a, 32 bits.
fn fnv1a32(chunks: &[&[u8]]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for chunk in chunks {
        for &b in *chunk {
            hash ^= u32::from(b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    hash
}

/// Kubernetes' `rand.SafeEncodeString`: each byte mapped into `SAFE_ALPHABET`.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

impl PodTemplateSpec {
    /// A stable hash of this template (and the collision count, when a previous hash
    /// collided), like Kubernetes' `controller.ComputeHash`. The template is hashed in its
    /// JSON form, whose keys are sorted, so equal templates always hash alike.
    pub fn hash(&self, collision_count: Option<i32>) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut count_bytes = [0u8; 8];
        let chunks: Vec<&[u8]> = match collision_count {
            Some(c) => {
                count_bytes[..4].copy_from_slice(&(c as u32).to_le_bytes());
                vec![&json, &count_bytes]
            }
            None => vec![&json],
        };
        safe_encode(&fnv1a32(&chunks).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Container, ContainerName};

    fn template(image: &str) -> PodTemplateSpec {
        let mut t = PodTemplateSpec::default();
        t.metadata.labels.insert("app".into(), "web".into());
        t.spec
            .containers
            .push(Container::new(ContainerName::new("nginx").unwrap(), image));
        t
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a32(&[b""]), 0x811c_9dc5);
        assert_eq!(fnv1a32(&[b"a"]), 0xe40c_292c);
        assert_eq!(fnv1a32(&[b"foobar"]), 0xbf9c_f968);
        assert_eq!(fnv1a32(&[b"foo", b"bar"]), 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_maps_digits_into_the_alphabet() {
        // '0' is byte 48, 48 % 27 = 21 -> '4'; '9' is 57 % 27 = 3 -> 'f'.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn template_hash_is_stable_and_changes_with_the_template() {
        let a = template("nginx:1.27");
        assert_eq!(a.hash(None), a.clone().hash(None));
        assert_ne!(a.hash(None), template("nginx:1.28").hash(None));
        assert_ne!(a.hash(None), a.hash(Some(1)));
        assert!(a.hash(None).bytes().all(|b| SAFE_ALPHABET.contains(&b)));
    }
}
