//! `exporter.basic_auth`: one user and a bcrypt hash of its password, as in Prometheus's web
//! config (`basic_auth_users`), so a hash made for Prometheus or with `htpasswd -B` works here
//! unchanged. The hash is checked when the config loads and is never shown: `Debug` redacts it,
//! errors describe it without quoting it, and [`super::Config::secret_values`] lists it for
//! scrubbing.

use std::fmt;

use bcrypt::HashParts;

/// A checked `exporter.basic_auth`.
#[derive(Clone)]
pub struct BasicAuthConfig {
    /// The one user name accepted.
    pub username: String,
    password_hash: String,
}

impl BasicAuthConfig {
    /// The bcrypt hash of the password (`$2a$`, `$2b$`, `$2x$` or `$2y$`, cost, salt and hash).
    pub(crate) fn password_hash(&self) -> &str {
        &self.password_hash
    }
}

impl fmt::Debug for BasicAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuthConfig")
            .field("username", &self.username)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

/// Which of the two keys a [`check`] error belongs to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AuthKey {
    Username,
    PasswordHash,
}

/// The bcrypt costs the `bcrypt` crate computes.
const COSTS: std::ops::RangeInclusive<u32> = 4..=31;

/// Checks both values (after `${...}` expansion); an error never quotes the hash.
pub(super) fn check(username: String, password_hash: String) -> Result<BasicAuthConfig, (AuthKey, String)> {
    if username.is_empty() {
        return Err((AuthKey::Username, "empty (expected the user name scrapers send)".into()));
    }
    if username.contains(':') || username.chars().any(char::is_control) {
        return Err((
            AuthKey::Username,
            format!("{username:?} contains \":\" or a control character, which Basic authentication cannot carry"),
        ));
    }
    let how = "make one with: htpasswd -nbBC 10 \"\" PASSWORD | tr -d ':\\n'";
    if password_hash.is_empty() {
        return Err((AuthKey::PasswordHash, format!("empty (expected a bcrypt hash; {how})")));
    }
    let parts: HashParts =
        password_hash.parse().map_err(|e| (AuthKey::PasswordHash, format!("not a bcrypt hash ({e}); {how}")))?;
    if !COSTS.contains(&parts.get_cost()) {
        let cost = parts.get_cost();
        return Err((AuthKey::PasswordHash, format!("bcrypt cost {cost} is out of range (expected 4 to 31)")));
    }
    Ok(BasicAuthConfig { username, password_hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hunter2` at cost 4, as `htpasswd -nbBC 4 "" hunter2` prints it (`$2y$`).
    const HASH: &str = "$2y$04$AOgl9VdymsrQW/EQIYm.LOSsK7B3ddoRUBQUDTcax2Sykh5ruJXqq";

    fn error(username: &str, hash: &str) -> (AuthKey, String) {
        check(username.into(), hash.into()).expect_err("invalid")
    }

    #[test]
    fn a_user_and_an_htpasswd_hash_load_and_verify() {
        let auth = check("prometheus".into(), HASH.into()).unwrap();
        assert_eq!(auth.username, "prometheus");
        assert!(bcrypt::verify("hunter2", auth.password_hash()).unwrap());
        assert!(!bcrypt::verify("hunter3", auth.password_hash()).unwrap());
        let shown = format!("{auth:?}");
        assert_eq!(shown, r#"BasicAuthConfig { username: "prometheus", password_hash: "<redacted>" }"#);
    }

    #[test]
    fn bad_values_name_their_key_and_never_quote_the_hash() {
        assert_eq!(error("", HASH).0, AuthKey::Username);
        assert_eq!(error("a:b", HASH).0, AuthKey::Username);
        assert_eq!(error("a\nb", HASH).0, AuthKey::Username);
        let cases = [
            ("", "empty (expected a bcrypt hash"),
            ("hunter2", "not a bcrypt hash (Invalid hash: the hash format is malformed; expected 60 ASCII bytes)"),
            (&HASH[..59], "expected 60 ASCII bytes"),
            (&HASH.replace("$2y$", "$3y$"), "the hash prefix is not a bcrypt prefix"),
            (&HASH.replace("$04$", "$xx$"), "the cost value is not a number"),
            (&HASH.replace("$04$", "$03$"), "bcrypt cost 3 is out of range (expected 4 to 31)"),
            (&HASH.replace("$04$", "$32$"), "bcrypt cost 32 is out of range (expected 4 to 31)"),
            (&HASH.replace('.', "!"), "the salt part is not valid base64"),
        ];
        for (hash, want) in cases {
            let (key, message) = error("prometheus", hash);
            assert_eq!(key, AuthKey::PasswordHash, "{hash}");
            assert!(message.contains(want), "{hash}: {message}");
            assert!(hash.len() < 3 || !message.contains(hash), "{message}");
            assert!(message.contains("htpasswd") || message.contains("cost"), "says how to make one: {message}");
        }
    }
}
