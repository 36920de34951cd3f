//! Generated object names (`web-7d4b9c8f5d-x2k9p`): the randomness behind
//! `api::generated_name`, as an input — a seeded generator owned by the driver — so the cores
//! stay pure and tests are reproducible.
use crate::api::generated_name;

/// A seeded source of name suffixes (splitmix64).
#[derive(Debug, Clone)]
pub struct NameSource {
    state: u64,
}

impl NameSource {
    pub fn new(seed: u64) -> NameSource {
        NameSource { state: seed }
    }

    /// `prefix` (cut to 58 characters) followed by five random characters, like Kubernetes'
    /// `SimpleNameGenerator` for `generateName: prefix`.
    pub fn generate(&mut self, prefix: &str) -> String {
        generated_name(prefix, self.next())
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
    use crate::api::names::SAFE_ALPHABET;

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
}
