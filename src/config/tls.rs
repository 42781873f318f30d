//! `exporter.tls`: the certificate and key the HTTP listener serves with.
//!
//! Both files are read and the rustls server config is built when the config loads, so a
//! missing file, a file that holds no PEM certificate or key, or a key that does not belong to
//! the certificate is a config error at `slostream check` and at start (exit code 2, naming the
//! key), not a listener that fails every handshake later. The files are read once: a renewed
//! certificate takes a restart.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// A checked `exporter.tls`: where the files are, and the rustls server config built from them.
#[derive(Clone)]
pub struct TlsConfig {
    /// `exporter.tls.cert_file`: the certificate chain, leaf first (PEM).
    pub cert_file: PathBuf,
    /// `exporter.tls.key_file`: the leaf's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// What every handshake is served with.
    pub(crate) server: Arc<ServerConfig>,
}

/// The file names only: the server config holds the private key.
impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig").field("cert_file", &self.cert_file).field("key_file", &self.key_file).finish()
    }
}

/// Which of the two keys a [`load`] error belongs to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TlsFile {
    Cert,
    Key,
}

/// Reads both files and builds the server config (TLS 1.2 and 1.3, HTTP/1.1 only, as served).
/// An error names the file it is about and never shows key material.
pub(super) fn load(cert_file: &str, key_file: &str) -> Result<TlsConfig, (TlsFile, String)> {
    let cert_pem = read(cert_file).map_err(|m| (TlsFile::Cert, m))?;
    let key_pem = read(key_file).map_err(|m| (TlsFile::Key, m))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| (TlsFile::Cert, format!("{cert_file:?} is not PEM: {e}")))?;
    if chain.is_empty() {
        return Err((TlsFile::Cert, format!("{cert_file:?} holds no PEM certificate (expected BEGIN CERTIFICATE)")));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        (TlsFile::Key, format!("{key_file:?} holds no PEM private key (expected PKCS#8, PKCS#1 or SEC1): {e}"))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| (TlsFile::Cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                (TlsFile::Key, format!("{key_file:?} is not the key of the certificate in {cert_file:?}"))
            }
            other => (TlsFile::Key, format!("{key_file:?} cannot serve {cert_file:?}: {other}")),
        })?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConfig { cert_file: cert_file.into(), key_file: key_file.into(), server: Arc::new(server) })
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    if path.trim().is_empty() {
        return Err("empty (expected the path of a PEM file)".into());
    }
    std::fs::read(path).map_err(|e| format!("cannot read {path:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    /// A scratch directory with a fresh self-signed certificate for `localhost` and its key.
    fn scratch(name: &str) -> (PathBuf, String, String) {
        let dir = std::env::temp_dir().join(format!("slostream-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = self_signed();
        let cert_file = write(&dir, "cert.pem", &cert);
        let key_file = write(&dir, "key.pem", &key);
        (dir, cert_file, key_file)
    }

    fn self_signed() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    fn write(dir: &Path, name: &str, text: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn error(cert: &str, key: &str) -> (TlsFile, String) {
        load(cert, key).expect_err("an invalid pair")
    }

    #[test]
    fn a_certificate_and_its_key_load() {
        let (dir, cert, key) = scratch("ok");
        let tls = load(&cert, &key).unwrap();
        assert_eq!(tls.server.alpn_protocols, [b"http/1.1".to_vec()]);
        let shown = format!("{tls:?}");
        assert!(shown.contains("cert.pem") && shown.contains("key.pem"), "{shown}");
        assert!(!shown.contains("PRIVATE"), "{shown}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn each_bad_file_is_named() {
        let (dir, cert, key) = scratch("bad");
        let missing = dir.join("missing.pem").display().to_string();
        let (file, message) = error(&missing, &key);
        assert_eq!(file, TlsFile::Cert);
        assert!(message.starts_with(&format!("cannot read {missing:?}: ")), "{message}");
        assert_eq!(error(&cert, &missing).0, TlsFile::Key);
        assert_eq!(error("", &key), (TlsFile::Cert, "empty (expected the path of a PEM file)".into()));

        // The files swapped: a key where the certificate belongs, and the other way round.
        let (file, message) = error(&key, &cert);
        assert_eq!(file, TlsFile::Cert);
        assert!(message.contains("holds no PEM certificate"), "{message}");
        let (file, message) = error(&cert, &cert);
        assert_eq!(file, TlsFile::Key);
        assert!(message.contains("holds no PEM private key"), "{message}");

        // Another certificate's key.
        let other = write(&dir, "other-key.pem", &self_signed().1);
        let (file, message) = error(&cert, &other);
        assert_eq!(file, TlsFile::Key);
        assert_eq!(message, format!("{other:?} is not the key of the certificate in {cert:?}"));

        let garbage = write(&dir, "garbage.pem", "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n");
        let (file, message) = error(&garbage, &key);
        assert_eq!(file, TlsFile::Cert);
        assert!(message.contains("is not PEM"), "{message}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
