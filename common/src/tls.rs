//! The one place PEM files named by the configuration are read and parsed:
//! the gateway's own certificate, auth-service's certificate and client CA,
//! and the gateway's CA and client certificate for the connection to
//! auth-service. Everything is read and checked while the configuration
//! loads, before any port is bound, so a missing file, a certificate and key
//! swapped, an encrypted key or a key that is not the certificate's stops the
//! binary with a configuration error (exit status 2) naming the key and the
//! path, never the file's content (it may be a private key).
//!
//! The binaries then build their TLS settings from the loaded values: the
//! DER forms for rustls ([`Identity::certified`]) and the PEM text for tonic
//! ([`Identity::pem`], [`CaCertificates::pem`]).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};

/// A TLS file (or pair) that cannot be used: the configuration key and the
/// reason, never the file's content. Becomes a `ConfigError` naming the
/// key, so the binary exits 2 before binding any port.
#[derive(Debug, thiserror::Error)]
#[error("config key `{key}`: {reason}")]
pub struct TlsFileError {
    /// The configuration key naming the file.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl TlsFileError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// A certificate file and its private key file: configured together or not
/// at all (`tls_cert`/`tls_key`, `auth_service_client_cert`/`_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the leaf certificate.
    pub key: PathBuf,
}

/// The full configuration key names of a [`TlsFiles`] pair, for messages.
/// (Public for tools that name their files by flag, as `portcullis-admin`
/// does with `--client-cert`/`--client-key`.)
#[derive(Debug, Clone, Copy)]
pub struct PairKeys<'a> {
    /// E.g. `gateway.tls_cert`.
    pub cert: &'a str,
    /// E.g. `gateway.tls_key`.
    pub key: &'a str,
}

impl TlsFiles {
    /// The pair from two optional keys: both or neither; one alone names
    /// the missing one.
    pub fn pair(
        keys: PairKeys<'_>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    ) -> Result<Option<Self>, TlsFileError> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(Self { cert, key })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(TlsFileError::new(
                keys.key,
                format!("must be set with {} (both or neither)", keys.cert),
            )),
            (None, Some(_)) => Err(TlsFileError::new(
                keys.cert,
                format!("must be set with {} (both or neither)", keys.key),
            )),
        }
    }

    /// Reads and parses both files and checks that the key belongs to the
    /// leaf certificate (with the ring provider every binary uses).
    pub fn load(self, keys: PairKeys<'_>) -> Result<Identity, TlsFileError> {
        let chain_pem = read(keys.cert, &self.cert)?;
        let chain = certificates(keys.cert, &self.cert, &chain_pem)?;
        let key_pem = read(keys.key, &self.key)?;
        let key = private_key(keys.key, &self.key, &key_pem)?;
        let provider = rustls::crypto::ring::default_provider();
        rustls::sign::CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider).map_err(
            |e| {
                TlsFileError::new(
                    keys.key,
                    format!(
                        "{} is not a usable private key of the certificate in {} ({}): {e}",
                        self.key.display(),
                        keys.cert,
                        self.cert.display()
                    ),
                )
            },
        )?;
        Ok(Identity {
            files: self,
            chain_pem,
            key_pem,
            chain,
            key,
        })
    }
}

/// A certificate chain and its private key, read, parsed and checked to
/// belong together.
pub struct Identity {
    files: TlsFiles,
    chain_pem: Vec<u8>,
    key_pem: Vec<u8>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Identity {
    /// The files it was read from.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The certificate chain and key as PEM text, as tonic takes them.
    pub fn pem(&self) -> (&[u8], &[u8]) {
        (&self.chain_pem, &self.key_pem)
    }

    /// The certificate chain and key in DER, as rustls takes them.
    pub fn certified(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (self.chain.clone(), self.key.clone_key())
    }
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            files: self.files.clone(),
            chain_pem: self.chain_pem.clone(),
            key_pem: self.key_pem.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// Paths only: the key's bytes never reach a log.
impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("cert", &self.files.cert)
            .field("key", &self.files.key)
            .finish_non_exhaustive()
    }
}

/// CA certificates that peer certificates must chain to (`client_ca`,
/// `auth_service_ca`), each one checked to be usable as a trust anchor.
#[derive(Clone)]
pub struct CaCertificates {
    path: PathBuf,
    pem: Vec<u8>,
}

impl CaCertificates {
    /// Reads the file `key` names; every certificate in it must parse and be
    /// usable as a trust anchor (tonic would otherwise skip it silently and
    /// fail every handshake with "unknown issuer").
    pub fn load(key: &str, path: PathBuf) -> Result<Self, TlsFileError> {
        let pem = read(key, &path)?;
        let mut roots = rustls::RootCertStore::empty();
        for certificate in certificates(key, &path, &pem)? {
            roots.add(certificate).map_err(|e| {
                TlsFileError::new(
                    key,
                    format!("{}: not a usable CA certificate: {e}", path.display()),
                )
            })?;
        }
        Ok(Self { path, pem })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The certificates as PEM text, as tonic takes them.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }
}

impl std::fmt::Debug for CaCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CaCertificates").field(&self.path).finish()
    }
}

/// Reads the file `key` names.
fn read(key: &str, path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path)
        .map_err(|e| TlsFileError::new(key, format!("cannot read {}: {e}", path.display())))
}

/// The `CERTIFICATE` blocks of `pem`: at least one, every one parsed.
fn certificates(
    key: &str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    match CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>() {
        Ok(certificates) if !certificates.is_empty() => Ok(certificates),
        _ => Err(TlsFileError::new(
            key,
            format!(
                "{} does not contain a PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ),
        )),
    }
}

/// The private key of `pem` (PKCS#8, PKCS#1 RSA or SEC1 EC), unencrypted.
fn private_key(key: &str, path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    // Only the encrypted form is recognised by its label, to say so; the
    // rest is parsed by rustls' PEM reader.
    let encrypted = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";
    if pem.windows(encrypted.len()).any(|w| w == encrypted) {
        return Err(TlsFileError::new(
            key,
            format!(
                "{} holds an encrypted private key; the key must be unencrypted PEM \
                 (protect it with file permissions)",
                path.display()
            ),
        ));
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|_| {
        TlsFileError::new(
            key,
            format!(
                "{} does not contain a PEM private key (-----BEGIN PRIVATE KEY-----)",
                path.display()
            ),
        )
    })
}
