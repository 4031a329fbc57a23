//! What the container image holds, read from the files that build it:
//! `scripts/build-image` (the binaries) and `docker/Dockerfile` (the user).
//! `tests/e2e/compose.rs` and `kubernetes.rs` check the compose file and the
//! manifests against these; `compose_run.rs` builds and runs the image.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The binaries `scripts/build-image` puts in the image (its
/// `binaries=(...)` line).
pub fn binaries() -> Vec<String> {
    let script = std::fs::read_to_string(repo().join("scripts/build-image")).unwrap();
    let line = script
        .lines()
        .find_map(|l| l.strip_prefix("binaries=("))
        .and_then(|l| l.strip_suffix(')'))
        .expect("a binaries=(...) line in scripts/build-image");
    line.split_whitespace().map(str::to_owned).collect()
}

/// The image's `USER uid:gid`, from `docker/Dockerfile`.
pub fn user() -> (i64, i64) {
    let dockerfile = std::fs::read_to_string(repo().join("docker/Dockerfile")).unwrap();
    let user = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line in docker/Dockerfile");
    let (uid, gid) = user.trim().split_once(':').expect("USER uid:gid");
    (uid.parse().unwrap(), gid.parse().unwrap())
}
