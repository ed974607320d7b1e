//! Throwaway PKI for the TLS tests (rcgen on ring): a CA, server certificates for 127.0.0.1
//! and `localhost`, client certificates for mutual TLS, all written as PEM files.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// A CA whose certificate is in `cert_file`.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// PEM of the CA certificate.
    pub cert_file: PathBuf,
}

/// A certificate and its key, as PEM files, and the certificate's DER.
pub struct Issued {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub der: Vec<u8>,
}

impl TestCa {
    /// A new CA named `name`, written to `dir/{name}.pem`.
    pub fn new(dir: &Path, name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let cert_file = dir.join(format!("{name}.pem"));
        std::fs::write(&cert_file, issuer.pem()).unwrap();
        Self { issuer, cert_file }
    }

    /// A server certificate for 127.0.0.1 and `localhost`, as `dir/{name}.pem` and
    /// `dir/{name}-key.pem`.
    pub fn server(&self, dir: &Path, name: &str) -> Issued {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(&params, dir, name)
    }

    /// A client certificate (a workstation's), as `dir/{name}.pem` and `dir/{name}-key.pem`.
    pub fn client(&self, dir: &Path, name: &str) -> Issued {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(&params, dir, name)
    }

    fn issue(&self, params: &CertificateParams, dir: &Path, name: &str) -> Issued {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let cert_file = dir.join(format!("{name}.pem"));
        let key_file = dir.join(format!("{name}-key.pem"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        Issued {
            cert_file,
            key_file,
            der: cert.der().to_vec(),
        }
    }
}

/// A reqwest client that trusts only `ca` (and presents `identity` when given), and returns
/// the server's certificate in each answer's `TlsInfo`. It keeps no idle connection.
pub fn https_client(ca: &TestCa, identity: Option<&Issued>) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(&std::fs::read(&ca.cert_file).unwrap()).unwrap();
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(root)
        .tls_info(true)
        // A new connection (and handshake) per request: a reloaded certificate shows at once.
        .pool_max_idle_per_host(0)
        .timeout(std::time::Duration::from_secs(20));
    if let Some(issued) = identity {
        let mut pem = std::fs::read(&issued.cert_file).unwrap();
        pem.extend(std::fs::read(&issued.key_file).unwrap());
        builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    builder.build().unwrap()
}

/// The DER of the certificate the server presented for `response`.
pub fn peer_certificate(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("an answer over TLS carries the peer certificate")
        .to_vec()
}
