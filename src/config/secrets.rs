//! Values that come from outside the YAML, and keeping secrets out of output.
//!
//! `${NAME}` in a Kafka setting is replaced by the environment variable `NAME`, and
//! `${file:/path}` by the file's contents (trailing newline trimmed), so that passwords need not
//! sit in the config file. Errors name the variable or file, never the value.

use std::borrow::Cow;
use std::io;

/// Why a `${...}` could not be expanded: names the variable or file, never a value.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretError {
    /// A `${` without its `}`; holds the text before the first `${`.
    #[error("unclosed \"${{\" in {0:?}")]
    Unclosed(String),
    #[error("cannot read secret file {path:?}: {source}")]
    File { path: String, source: io::Error },
    #[error("{0:?} is not an environment variable name (expected ${{NAME}} or ${{file:/path}})")]
    BadName(String),
    #[error("environment variable {0} is not set")]
    Unset(String),
}

/// Expands every `${NAME}` / `${file:PATH}` in `text`.
pub(crate) fn expand<'a>(text: &'a str, env: impl Fn(&str) -> Option<String>) -> Result<Cow<'a, str>, SecretError> {
    if !text.contains("${") {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| SecretError::Unclosed(redact_hint(text).into()))?;
        let name = &after[..end];
        let value = match name.strip_prefix("file:") {
            Some(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|source| SecretError::File { path: path.into(), source })?,
            None => {
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(SecretError::BadName(name.into()));
                }
                env(name).ok_or_else(|| SecretError::Unset(name.into()))?
            }
        };
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

fn redact_hint(text: &str) -> &str {
    text.split("${").next().unwrap_or("")
}

/// Property values whose names suggest a credential are never printed.
pub(crate) fn is_secret_property(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "secret", "token"].iter().any(|s| name.contains(s))
}

/// Replaces every occurrence of a secret value in `text` (an error from librdkafka, say).
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 3) {
        out = out.replace(*s, "<redacted>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "KAFKA_PASSWORD").then(|| "s3cr3t".to_string())
    }

    #[test]
    fn expands_environment_and_files() {
        assert_eq!(expand("plain", env).unwrap(), "plain");
        assert_eq!(expand("${KAFKA_PASSWORD}", env).unwrap(), "s3cr3t");
        assert_eq!(expand("a-${KAFKA_PASSWORD}-b", env).unwrap(), "a-s3cr3t-b");
        let path = std::env::temp_dir().join(format!("slostream-secret-{}", std::process::id()));
        std::fs::write(&path, "from-file\n").unwrap();
        assert_eq!(expand(&format!("${{file:{}}}", path.display()), env).unwrap(), "from-file");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn errors_name_the_source_not_a_value() {
        let message = |text: &str| expand(text, env).unwrap_err().to_string();
        assert_eq!(message("${MISSING}"), "environment variable MISSING is not set");
        assert!(message("${file:/nonexistent/x}").starts_with(r#"cannot read secret file "/nonexistent/x": "#));
        assert_eq!(
            message("${A B}"),
            r#""A B" is not an environment variable name (expected ${NAME} or ${file:/path})"#
        );
        assert_eq!(message("x${OPEN"), r#"unclosed "${" in "x""#);
    }

    #[test]
    fn scrubs_secret_values() {
        assert_eq!(scrub("auth failed for s3cr3t at broker", &["s3cr3t"]), "auth failed for <redacted> at broker");
    }
}
