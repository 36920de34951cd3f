//! Generated object names (`web-7d4b9c8f5d-x2k9p`): a prefix and five characters of
//! Kubernetes' safe alphabet. The randomness is an input — a seeded generator owned by the
//! driver — so the cores stay pure and tests are reproducible.
use crate::api::template_hash::SAFE_ALPHABET;

/// Random characters appended to a `generateName` prefix.
pub const GENERATED_SUFFIX_LEN: usize = 5;
/// Longest prefix kept (Kubernetes' `MaxGeneratedNameLength`, 63 − 5).
pub const GENERATED_PREFIX_MAX_LEN: usize = 63 - GENERATED_SUFFIX_LEN;

/// A seeded source of name suffixes (splitmix64).
#[derive(Debug, Clone)]
pub struct NameSource {
    state: u64,
}

impl NameSource {
    pub fn new(seed: u64) -> NameSource {
        NameSource { state: seed }
    }

    /// `prefix` (cut to `GENERATED_PREFIX_MAX_LEN`) followed by five random characters, like
    /// Kubernetes' `SimpleNameGenerator` for `generateName: prefix`.
    pub fn generate(&mut self, prefix: &str) -> String {
        let mut cut = prefix.len().min(GENERATED_PREFIX_MAX_LEN);
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut name = String::with_capacity(cut + GENERATED_SUFFIX_LEN);
        name.push_str(&prefix[..cut]);
        let mut bits = self.next();
        for _ in 0..GENERATED_SUFFIX_LEN {
            name.push(SAFE_ALPHABET[(bits % SAFE_ALPHABET.len() as u64) as usize] as char);
            bits /= SAFE_ALPHABET.len() as u64;
        }
        name
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_the_prefix_and_five_safe_characters() {
        let mut names = NameSource::new(7);
        let name = names.generate("web-7d4b9c8f5d-");
        assert_eq!(name.len(), "web-7d4b9c8f5d-".len() + 5);
        assert!(name.starts_with("web-7d4b9c8f5d-"));
        assert!(name[15..].bytes().all(|b| SAFE_ALPHABET.contains(&b)));
    }

    #[test]
    fn the_same_seed_gives_the_same_names_and_names_differ() {
        let a: Vec<String> = (0..5)
            .scan(NameSource::new(1), |n, _| Some(n.generate("p-")))
            .collect();
        let b: Vec<String> = (0..5)
            .scan(NameSource::new(1), |n, _| Some(n.generate("p-")))
            .collect();
        assert_eq!(a, b);
        let unique: std::collections::BTreeSet<_> = a.iter().collect();
        assert_eq!(unique.len(), 5);
    }

    #[test]
    fn long_prefixes_are_cut_so_the_name_stays_a_label() {
        let mut names = NameSource::new(3);
        let name = names.generate(&"x".repeat(80));
        assert_eq!(name.len(), 63);
    }
}
