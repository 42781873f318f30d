//! The Dockerfile checked by reading it, since no Docker engine runs here: the builder's Rust is
//! at least Cargo.toml's `rust-version`, base images are pinned and of one Debian release, the
//! build stage copies every file cargo needs, the runtime stage installs every shared library
//! `ldd` lists for the binary, and the image runs as a numeric non-root user whose only writable
//! directory is the state volume of the config it starts with.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::scratch_dir;

/// One `FROM` stage: its image (or earlier stage) and its instructions, continuation lines
/// joined, comments dropped.
struct Stage {
    image: String,
    instructions: Vec<(String, String)>,
}

impl Stage {
    fn args<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a str> {
        self.instructions.iter().filter(move |(k, _)| k == keyword).map(|(_, a)| a.as_str())
    }

    /// Packages named by `apt-get install` in this stage's `RUN`s.
    fn installs(&self) -> BTreeSet<String> {
        let mut packages = BTreeSet::new();
        for run in self.args("RUN") {
            for command in run.split("&&") {
                let words: Vec<&str> = command.split_whitespace().collect();
                if let Some(at) = words.windows(2).position(|w| w == ["apt-get", "install"]) {
                    packages.extend(words[at + 2..].iter().filter(|w| !w.starts_with('-')).map(|w| w.to_string()));
                }
            }
        }
        packages
    }
}

fn stages() -> Vec<Stage> {
    let text = std::fs::read_to_string("Dockerfile").unwrap();
    let mut stages: Vec<Stage> = Vec::new();
    let mut logical = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && logical.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => logical.push_str(part),
            None => {
                logical.push_str(line);
                let (keyword, args) = logical.trim().split_once(' ').unwrap_or((logical.trim(), ""));
                let (keyword, args) = (keyword.to_ascii_uppercase(), args.trim().to_string());
                if keyword == "FROM" {
                    let image = args.split_whitespace().next().unwrap().to_string();
                    stages.push(Stage { image, instructions: Vec::new() });
                } else {
                    stages.last_mut().expect("an instruction before FROM").instructions.push((keyword, args));
                }
                logical.clear();
            }
        }
    }
    stages
}

/// A JSON-array (exec form) instruction's words.
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("{args}: not in exec form: {e}"))
}

/// Cargo.toml's `rust-version`, as cargo reads it.
fn rust_version() -> String {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    metadata["packages"][0]["rust_version"].as_str().expect("Cargo.toml sets rust-version").to_string()
}

/// `1.89.0` ≥ `1.89`: numeric components, a missing one counts as 0.
fn at_least(version: &str, minimum: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap()).collect() };
    let (mut v, mut m) = (parse(version), parse(minimum));
    let len = v.len().max(m.len());
    v.resize(len, 0);
    m.resize(len, 0);
    v >= m
}

/// Debian releases by major version, to tell that two tags are the same release.
const DEBIAN_RELEASES: &[(&str, &str)] = &[("12", "bookworm"), ("13", "trixie")];

/// The Debian release an image tag names, by codename (`1.89.0-bookworm`) or version (`12.11-slim`).
fn debian_release(image: &str) -> &'static str {
    let tag = image.rsplit_once(':').unwrap().1;
    DEBIAN_RELEASES
        .iter()
        .find(|(major, codename)| tag.contains(codename) || tag.split(['.', '-']).next() == Some(major))
        .unwrap_or_else(|| panic!("{image}: no Debian release in its tag"))
        .1
}

#[test]
fn builder_rust_is_at_least_rust_version_and_base_images_are_pinned() {
    let stages = stages();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    let exact = regex::Regex::new(r"^\d+\.\d+(\.\d+)?(-[a-z0-9.-]+)?$").unwrap();
    for stage in &stages {
        let tag = stage.image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(exact.is_match(tag), "{}: pin the base image to an exact version (major.minor at least)", stage.image);
    }
    let rust = stages[0].image.strip_prefix("rust:").expect("the build stage is the official rust image");
    let rust = rust.split('-').next().unwrap();
    let required = rust_version();
    assert!(
        at_least(rust, &required),
        "the builder has Rust {rust}, Cargo.toml's rust-version is {required}: `cargo build --locked` would refuse"
    );
    assert!(!at_least("1.85.0", "1.89") && at_least("1.89", "1.89.0") && at_least("1.90.1", "1.89"));
    assert_eq!(
        debian_release(&stages[0].image),
        debian_release(&stages[1].image),
        "the binary links the builder's glibc: both stages must be the same Debian release"
    );
}

/// What `ldd` can list for slostream, and the Debian bookworm packages holding each library:
/// the runtime package and the headers the builder needs to link it (`None`: glibc and the
/// compiler's own, always there).
const LIBRARIES: &[(&str, &str, Option<&str>)] = &[
    ("libssl.so.3", "libssl3", Some("libssl-dev")),
    ("libcrypto.so.3", "libssl3", Some("libssl-dev")),
    ("libz.so.1", "zlib1g", Some("zlib1g-dev")),
    ("libgcc_s.so.1", "libgcc-s1", None),
    ("libm.so.6", "libc6", None),
    ("libc.so.6", "libc6", None),
    ("ld-linux-x86-64.so.2", "libc6", None),
];

/// The shared libraries `ldd` resolves for a binary, by file name.
fn linked_libraries(binary: &str) -> BTreeSet<String> {
    let out = Command::new("ldd").arg(binary).output().expect("ldd");
    assert!(out.status.success(), "ldd {binary}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|lib| lib.rsplit('/').next().unwrap().to_string())
        .filter(|lib| !lib.starts_with("linux-vdso"))
        .collect()
}

#[test]
fn runtime_stage_installs_every_library_the_binary_links() {
    let stages = stages();
    let (build, runtime) = (stages[0].installs(), stages[1].installs());
    let linked = linked_libraries(env!("CARGO_BIN_EXE_slostream"));
    assert!(linked.contains("libssl.so.3"), "rdkafka's ssl feature links OpenSSL: {linked:?}");
    let mut missing = Vec::new();
    for lib in &linked {
        let (_, package, dev) = LIBRARIES.iter().find(|(so, ..)| so == lib).unwrap_or_else(|| {
            panic!("slostream now links {lib}: add its bookworm package to LIBRARIES here and install it in the Dockerfile")
        });
        if *package != "libc6" && !runtime.contains(*package) {
            missing.push(format!("runtime stage: {package} (for {lib})"));
        }
        if let Some(dev) = dev.filter(|d| !build.contains(*d)) {
            missing.push(format!("build stage: {dev} (to link {lib})"));
        }
    }
    assert!(missing.is_empty(), "the Dockerfile does not install: {missing:?}");
}

/// Copies what the build stage's `COPY` lines copy, as the image build would.
fn build_context(stage: &Stage, into: &Path) {
    for args in stage.args("COPY") {
        let words: Vec<&str> = args.split_whitespace().filter(|w| !w.starts_with("--")).collect();
        let (dest, sources) = words.split_last().unwrap();
        for source in sources {
            let to = if dest.ends_with('/') { into.join(source) } else { into.join(dest) };
            let status = Command::new("cp").args(["-r", source]).arg(&to).status().unwrap();
            assert!(status.success(), "COPY {source}: cannot copy it");
        }
    }
}

/// Every Rust file under `dir`.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// A file's text outside inline `#[cfg(test)] mod ... { }` blocks, and the paths of the test
/// modules it declares in files of their own (`#[cfg(test)] mod tests;`).
fn production_text(file: &Path) -> (String, Vec<PathBuf>) {
    let text = std::fs::read_to_string(file).unwrap();
    // A `mod m;` in lib.rs or mod.rs lives beside it, in any other file below its stem.
    let stem = file.file_stem().unwrap();
    let home =
        if stem == "lib" || stem == "mod" { file.parent().unwrap().to_path_buf() } else { file.with_extension("") };
    let (mut production, mut test_modules) = (String::new(), Vec::new());
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let next = lines.peek().copied().filter(|_| line.trim_end() == "#[cfg(test)]");
        match next.and_then(|n| n.strip_prefix("mod ")) {
            Some(module) if module.ends_with(';') => test_modules.push(home.join(module.trim_end_matches(';'))),
            Some(_) => lines.by_ref().take_while(|l| *l != "}").for_each(drop),
            None => production.push_str(line),
        }
    }
    (production, test_modules)
}

/// Every `include_str!`/`include_bytes!` path the release build compiles in from the Rust files
/// under `dir`, resolved. Test modules are left out: their fixtures need not be in the image.
fn included_files(dir: &Path) -> Vec<PathBuf> {
    let include = regex::Regex::new(r#"include_(?:str|bytes)!\("([^"]+)"\)"#).unwrap();
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    let scanned: Vec<(PathBuf, (String, Vec<PathBuf>))> =
        files.into_iter().map(|f| (f.clone(), production_text(&f))).collect();
    let test_modules: Vec<&PathBuf> = scanned.iter().flat_map(|(_, (_, t))| t).collect();
    let mut found = Vec::new();
    for (file, (text, _)) in &scanned {
        if test_modules.iter().any(|m| file.with_extension("") == **m || file.starts_with(m)) {
            continue;
        }
        found.extend(include.captures_iter(text).map(|c| file.parent().unwrap().join(&c[1])));
    }
    found
}

#[test]
fn build_stage_copies_every_file_cargo_needs() {
    let stages = stages();
    let context = scratch_dir("image-build-context");
    build_context(&stages[0], &context);
    // `cargo fetch` parses the manifest with every declared target and checks the lock file,
    // without compiling: a target file left out of the COPY lines fails here as in the build.
    let out =
        Command::new(env!("CARGO")).args(["fetch", "--locked", "--offline"]).current_dir(&context).output().unwrap();
    assert!(out.status.success(), "cargo in the build stage's files: {}", String::from_utf8_lossy(&out.stderr));
    let included = included_files(&context.join("src"));
    assert!(!included.is_empty(), "src/ includes config/example.yaml");
    for file in included {
        assert!(file.exists(), "{} is compiled in but not copied into the build stage", file.display());
    }
}

/// The runtime stage's `USER` as numbers (uid, gid): runAsNonRoot cannot verify a user name.
pub fn runtime_user() -> (u32, u32) {
    let stages = stages();
    let user = stages[1].args("USER").last().expect("the runtime stage sets USER").to_string();
    let (uid, gid) = user.split_once(':').unwrap_or((&user, &user));
    (uid.parse().expect("a numeric user"), gid.parse().expect("a numeric group"))
}

#[test]
fn image_runs_as_non_root_with_its_state_on_a_volume() {
    let stages = stages();
    let runtime = &stages[1];
    let (uid, _) = runtime_user();
    assert_ne!(uid, 0, "the image must not run as root");

    // The default command's config, found through the COPY that put it in the image.
    let cmd = exec_form(runtime.args("CMD").last().unwrap());
    assert_eq!(exec_form(runtime.args("ENTRYPOINT").last().unwrap()), ["slostream"]);
    let at = cmd.iter().position(|a| a == "--config").unwrap();
    let in_image = Path::new(&cmd[at + 1]);
    let source = runtime
        .args("COPY")
        .filter(|a| !a.starts_with("--from"))
        .find_map(|a| {
            let (source, dest) = a.split_once(' ')?;
            Some(Path::new(source).join(in_image.strip_prefix(dest.trim()).ok()?))
        })
        .unwrap_or_else(|| panic!("{}: no COPY puts it in the image", in_image.display()));
    let check =
        Command::new(env!("CARGO_BIN_EXE_slostream")).arg("check").arg("--config").arg(&source).output().unwrap();
    assert!(check.status.success(), "the image's default config: {}", String::from_utf8_lossy(&check.stderr));
    let version = Command::new(env!("CARGO_BIN_EXE_slostream")).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), concat!("slostream ", env!("CARGO_PKG_VERSION")));

    // Its state directory is the volume, created for that user: the only place it writes.
    let config = slostream::config::Config::load(&source).unwrap();
    let state = config.state.dir.to_str().unwrap();
    assert!(
        runtime.args("VOLUME").any(|v| v.split_whitespace().any(|p| p == state)),
        "state.dir {state} is not a VOLUME: with a read-only root filesystem nothing could be saved"
    );
    let owned = format!("chown {uid}:");
    assert!(
        runtime.args("RUN").any(|r| r.split("&&").any(|c| c.trim().starts_with(&owned) && c.trim().ends_with(state))),
        "{state} must belong to user {uid}, or the first checkpoint fails"
    );
}
