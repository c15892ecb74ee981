//! Test certificates, made when a test runs (no key is ever committed): a CA, server
//! certificates signed by it for given names, and client certificates, written as PEM files in a
//! temporary folder that the services read.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// A certificate authority of a test's own, and the folder its files are written to.
pub struct TestCa {
    name: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: tempfile::TempDir,
}

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

impl TestCa {
    /// A new CA named `name` (its files are named after it too).
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("a CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("the CA certificate");
        let dir = tempfile::Builder::new()
            .prefix("test-pki-")
            .tempdir()
            .expect("a folder for the certificates");
        let ca = Self {
            name: name.to_owned(),
            issuer,
            dir,
        };
        std::fs::write(ca.cert_path(), ca.issuer.pem()).expect("write the CA certificate");
        ca
    }

    /// The CA's certificate (PEM file).
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join(format!("{}-ca.pem", self.name))
    }

    /// The folder holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A server certificate for `names` (DNS names), signed by this CA, written as
    /// `<file_name>.pem` and `<file_name>-key.pem`.
    pub fn server_cert(&self, file_name: &str, names: &[&str]) -> CertFiles {
        self.leaf(file_name, names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate named `name`, signed by this CA.
    pub fn client_cert(&self, name: &str) -> CertFiles {
        self.leaf(name, &[name], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(&self, file_name: &str, names: &[&str], usage: ExtendedKeyUsagePurpose) -> CertFiles {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("certificate params");
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, first);
        }
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &*self.issuer).expect("sign");
        let files = CertFiles {
            cert: self.dir.path().join(format!("{file_name}.pem")),
            key: self.dir.path().join(format!("{file_name}-key.pem")),
        };
        std::fs::write(&files.cert, cert.pem()).expect("write the certificate");
        std::fs::write(&files.key, key.serialize_pem()).expect("write the key");
        files
    }
}
