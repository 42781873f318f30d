//! The house rules of the module tree, checked on the source so a change that bends them fails
//! CI: imports run one way along [`ORDER`], nothing imports `pipeline`, and the pure stages
//! never read a clock.

use std::path::{Path, PathBuf};

/// Top-level modules, each allowed to import only modules before it. `openslo` comes right after
/// `config`: it translates config definitions to and from OpenSLO and needs nothing that counts.
const ORDER: &[&str] = &[
    "time", "names", "loadgen", "config", "openslo", "decode", "classify", "window", "report", "state", "count",
    "ingest", "slo", "export", "alert", "rules", "pipeline",
];

/// Modules that take time as an argument.
const CLOCK_FREE: &[&str] = &["count", "window", "report", "slo"];

/// Calls that read a clock.
const CLOCK_READS: &[&str] =
    &["SystemTime::now", "Instant::now", "wall_ms(", "UNIX_EPOCH", "Timestamp::now", "Zoned::now"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every source file of a top-level module, with its text.
fn files(module: &str) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let single = src().join(format!("{module}.rs"));
    if single.exists() {
        out.push((single.clone(), std::fs::read_to_string(&single).unwrap()));
    }
    let mut dirs = vec![src().join(module)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.map(Result::unwrap) {
            let path = e.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    assert!(!out.is_empty(), "module {module} has no source under src/");
    out
}

/// The code of a file without its comments (doc links may name any module).
fn code(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(|l| l.split("//").next().unwrap_or("")).filter(|l| !l.trim().is_empty())
}

/// The top-level modules a file's code names through `crate::`.
fn imports(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in code(text) {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.push(name);
            }
            // `use crate::{a, b}` names several.
            if rest.starts_with('{') {
                let group = &rest[1..rest.find('}').unwrap_or(rest.len())];
                out.extend(group.split(',').filter_map(|p| p.trim().split("::").next()).map(str::to_string));
            }
        }
    }
    out
}

/// Rule breaks of `module`'s file `text`, as messages.
fn violations(module: &str, text: &str) -> Vec<String> {
    let rank = |m: &str| ORDER.iter().position(|o| *o == m);
    let own = rank(module).expect("a module of ORDER");
    let mut out = Vec::new();
    for dep in imports(text) {
        match rank(&dep) {
            Some(r) if r > own => out.push(format!("{module} imports {dep}, which comes after it")),
            _ => {}
        }
    }
    if CLOCK_FREE.contains(&module) {
        for line in code(text) {
            if let Some(call) = CLOCK_READS.iter().find(|c| line.contains(*c)) {
                out.push(format!("{module} reads the clock ({call}): take the time as an argument"));
            }
        }
    }
    out
}

#[test]
fn every_module_imports_only_modules_before_it_and_pure_stages_read_no_clock() {
    let mut found = Vec::new();
    for module in ORDER {
        for (path, text) in files(module) {
            found.extend(violations(module, &text).into_iter().map(|v| format!("{}: {v}", path.display())));
        }
    }
    assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
}

#[test]
fn every_top_level_module_is_ranked() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    for line in code(&lib) {
        let Some(name) = line.trim().strip_prefix("pub mod ").and_then(|r| r.strip_suffix(';')) else { continue };
        assert!(ORDER.contains(&name), "src/lib.rs declares `{name}`, which src/layering.rs does not rank");
    }
}

#[test]
fn the_checker_catches_what_it_guards() {
    assert_eq!(
        violations("window", "use crate::{config::Config, count::Tally};"),
        ["window imports count, which comes after it"]
    );
    assert_eq!(
        violations("export", "let x = crate::pipeline::run;"),
        ["export imports pipeline, which comes after it"]
    );
    assert_eq!(
        violations("slo", "    let now = std::time::Instant::now();"),
        ["slo reads the clock (Instant::now): take the time as an argument"]
    );
    assert!(violations("slo", "/// [`crate::pipeline`] evaluates; Instant::now() is read there").is_empty());
    assert!(violations("pipeline", "use crate::count::Tally; let t = Instant::now();").is_empty());
}
