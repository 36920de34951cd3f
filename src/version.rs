//! What this binary is: version, git commit, target triple and build profile, fixed at build time
//! by `build.rs`, for `edged --version` and `edgectl version`.

/// The crate version (`Cargo.toml`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit built (12 hex digits), or `unknown` when built without git.
pub const GIT_COMMIT: &str = env!("FLOTILLA_GIT_COMMIT");
/// The Rust target triple (`aarch64-unknown-linux-musl` …).
pub const TARGET: &str = env!("FLOTILLA_TARGET");
/// Cargo's profile: `release` or `debug`.
pub const PROFILE: &str = env!("FLOTILLA_PROFILE");

/// The one-line form, for clap's `version`: `0.1.0 (commit 0123abcd4567, aarch64-unknown-linux-musl, release)`.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("FLOTILLA_GIT_COMMIT"),
    ", ",
    env!("FLOTILLA_TARGET"),
    ", ",
    env!("FLOTILLA_PROFILE"),
    ")"
);

/// The multi-line form printed by `edgectl version`, one `key: value` per line.
pub fn report(binary: &str) -> String {
    format!("{binary} {VERSION}\ncommit: {GIT_COMMIT}\ntarget: {TARGET}\nprofile: {PROFILE}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_version_names_every_build_fact() {
        assert!(LONG.starts_with(VERSION));
        assert!(LONG.contains(GIT_COMMIT));
        assert!(LONG.contains(TARGET));
        assert!(LONG.ends_with(&format!("{PROFILE})")));
        assert!(TARGET.contains("linux"), "{TARGET}");
        assert!(["debug", "release"].contains(&PROFILE), "{PROFILE}");
    }

    #[test]
    fn report_has_one_fact_per_line() {
        let r = report("edgectl");
        assert_eq!(r.lines().count(), 4);
        assert!(r.starts_with(&format!("edgectl {VERSION}\n")));
    }
}
