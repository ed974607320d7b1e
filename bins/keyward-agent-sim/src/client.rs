//! The HTTP client for `/api/v1/agent/`: one method per call of `docs/agent-api.md`.
//!
//! Every call but `register` carries `Authorization: Bearer <credential>`. Redirects are not
//! followed: an agent has no reason to send its credential anywhere but the configured server.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::secret::Secret;
use crate::wire::{
    Ack, AckAnswer, ActivateRequest, LockRequest, PasswordChange, Pending, RegisterRequest,
    Registered,
};

/// Connect and whole-request timeout.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The code of `403` for a pending or revoked workstation.
const NOT_APPROVED: &str = "workstation_not_approved";

/// The header that carries a key proof on `seen` and on the acknowledgement of a wipe.
const KEY_PROOF_HEADER: &str = "Keyward-Key-Proof";

/// The server and how to reach it.
#[derive(Debug, Clone)]
pub struct Server {
    /// Base URL, `https://…` or `http://…`.
    pub url: Url,
    /// Trust and client certificate for HTTPS.
    pub tls: TlsFiles,
}

/// TLS files from the command line.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// CA(s) to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (mutual TLS).
    pub client_cert: Option<PathBuf>,
    /// Its private key.
    pub client_key: Option<PathBuf>,
}

/// A failed call.
#[derive(Debug)]
pub enum ClientError {
    /// The HTTP client could not be built.
    Setup(reqwest::Error),
    /// A TLS file given on the command line cannot be read or used.
    TlsFile {
        /// The flag that named it.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why (never the file's content: a key file is a secret).
        reason: String,
    },
    /// No answer: connection refused, timeout, broken body.
    Network {
        /// `METHOD /path`.
        call: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    Server {
        /// `METHOD /path`.
        call: String,
        /// The status.
        status: StatusCode,
        /// The error body's `code`, when it had one.
        code: Option<String>,
        /// The error body's `message`, or the start of the body.
        message: String,
    },
    /// A success answer that is not what the contract says.
    Decode {
        /// `METHOD /path`.
        call: String,
        /// Why.
        source: serde_json::Error,
    },
}

impl ClientError {
    /// A bad `--ca-file`, `--client-cert` or `--client-key`: a usage error.
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::TlsFile { .. })
    }

    /// `403 workstation_not_approved`: the workstation is pending or revoked.
    pub fn is_not_approved(&self) -> bool {
        matches!(self, Self::Server { status, code: Some(code), .. }
            if *status == StatusCode::FORBIDDEN && code == NOT_APPROVED)
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Setup(source) => write!(f, "cannot build the HTTP client: {source}"),
            Self::TlsFile { flag, path, reason } => {
                write!(f, "{flag} {}: {reason}", path.display())
            }
            Self::Network { call, source } => {
                write!(f, "{call}: {source}")?;
                // reqwest's own message names only the URL; the cause is in the chain.
                let mut cause = std::error::Error::source(source);
                while let Some(err) = cause {
                    write!(f, ": {err}")?;
                    cause = err.source();
                }
                Ok(())
            }
            Self::Server {
                call,
                status,
                code: Some(code),
                message,
            } => write!(f, "{call} answered {status}: {code}: {message}"),
            Self::Server {
                call,
                status,
                code: None,
                message,
            } => write!(f, "{call} answered {status}: {message}"),
            Self::Decode { call, source } => {
                write!(f, "{call}: unexpected answer: {source}")
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// The server's error body: `{"error": {"code", "message"}}`.
#[derive(serde::Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

/// The error inside the envelope.
#[derive(serde::Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

/// A client for one server, with or without a credential.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    credential: Option<Secret>,
}

impl Client {
    /// A client for `server`; `credential` is `None` only to register.
    pub fn new(server: &Server, credential: Option<Secret>) -> Result<Self, ClientError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("keyward-agent-sim/", env!("CARGO_PKG_VERSION")));
        let tls = &server.tls;
        if let Some(path) = &tls.ca_file {
            let bad = |reason: String| ClientError::TlsFile {
                flag: "--ca-file",
                path: path.clone(),
                reason,
            };
            let pem = read(path).map_err(bad)?;
            let roots = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| bad(format!("not a PEM certificate bundle: {e}")))?;
            if roots.is_empty() {
                return Err(bad("holds no PEM certificate".into()));
            }
            // Only the CA given: a private CA is not mixed with the system's roots.
            builder = builder.tls_built_in_root_certs(false);
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
            let cert_pem = read(cert).map_err(|reason| ClientError::TlsFile {
                flag: "--client-cert",
                path: cert.clone(),
                reason,
            })?;
            let key_pem = read(key).map_err(|reason| ClientError::TlsFile {
                flag: "--client-key",
                path: key.clone(),
                reason,
            })?;
            let mut pem = cert_pem;
            pem.push(b'\n');
            pem.extend_from_slice(&key_pem);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| ClientError::TlsFile {
                flag: "--client-cert/--client-key",
                path: cert.clone(),
                reason: format!("not a PEM certificate and private key: {e}"),
            })?;
            builder = builder.identity(identity);
        }
        let http = builder.build().map_err(ClientError::Setup)?;
        Ok(Self {
            http,
            base: server.url.clone(),
            credential,
        })
    }

    /// `POST /api/v1/agent/register`, with the server's registration secret when it has one.
    pub async fn register(
        &self,
        name: &str,
        registration_secret: Option<&Secret>,
    ) -> Result<Registered, ClientError> {
        let body = RegisterRequest {
            name,
            registration_secret: registration_secret.map(Secret::expose),
        };
        self.call(Method::POST, &["register"], Some(&body)).await
    }

    /// `GET /api/v1/agent/me`.
    pub async fn me(&self) -> Result<Value, ClientError> {
        self.call(Method::GET, &["me"], None::<&()>).await
    }

    /// `POST /api/v1/agent/keys/{serial}/seen`, with the key proof the key holds (needed to
    /// take over an Active key that another workstation holds).
    pub async fn seen(
        &self,
        serial: &str,
        key_proof: Option<&Secret>,
    ) -> Result<Value, ClientError> {
        let header = key_proof.map(|proof| (KEY_PROOF_HEADER, proof.expose()));
        self.send(Method::POST, &["keys", serial, "seen"], None::<&()>, header)
            .await
    }

    /// `POST /api/v1/agent/keys/{serial}/activate`.
    pub async fn activate(&self, serial: &str, code: &str) -> Result<Value, ClientError> {
        self.call(
            Method::POST,
            &["keys", serial, "activate"],
            Some(&ActivateRequest { code }),
        )
        .await
    }

    /// `GET /api/v1/agent/keys/{serial}/pending`.
    pub async fn pending(&self, serial: &str) -> Result<Pending, ClientError> {
        self.call(Method::GET, &["keys", serial, "pending"], None::<&()>)
            .await
    }

    /// `POST /api/v1/agent/keys/{serial}/ack`, with the key proof read before a wipe when the
    /// acknowledgement confirms one.
    pub async fn ack(
        &self,
        serial: &str,
        ack: &Ack,
        wipe_proof: Option<&Secret>,
    ) -> Result<AckAnswer, ClientError> {
        let header = wipe_proof.map(|proof| (KEY_PROOF_HEADER, proof.expose()));
        self.send(Method::POST, &["keys", serial, "ack"], Some(ack), header)
            .await
    }

    /// `POST /api/v1/agent/keys/{serial}/lock`.
    pub async fn lock(&self, serial: &str, reason: &str) -> Result<Value, ClientError> {
        self.call(
            Method::POST,
            &["keys", serial, "lock"],
            Some(&LockRequest { reason }),
        )
        .await
    }

    /// `POST /api/v1/agent/keys/{serial}/proof`.
    pub async fn renew_proof(&self, serial: &str) -> Result<Value, ClientError> {
        self.call(Method::POST, &["keys", serial, "proof"], None::<&()>)
            .await
    }

    /// `POST /api/v1/agent/keys/{serial}/accounts/{directory}/{object_guid}/password`.
    pub async fn change_password(
        &self,
        serial: &str,
        directory: &str,
        object_guid: &str,
        change: &PasswordChange<'_>,
    ) -> Result<Value, ClientError> {
        self.call(
            Method::POST,
            &[
                "keys",
                serial,
                "accounts",
                directory,
                object_guid,
                "password",
            ],
            Some(change),
        )
        .await
    }

    /// `base` + `/api/v1/agent/` + `segments`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        // `parse_server` accepts only http URLs with a host, which can always be a base.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["api", "v1", "agent"])
                .extend(segments);
        }
        url
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        self.send(method, segments, body, None).await
    }

    /// [`Client::call`] with one more header (a secret: it never reaches an error message).
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&impl Serialize>,
        header: Option<(&str, &str)>,
    ) -> Result<T, ClientError> {
        let url = self.url(segments);
        let call = format!("{method} {}", url.path());
        let mut request = self.http.request(method, url);
        if let Some(credential) = &self.credential {
            request = request.bearer_auth(credential.expose());
        }
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let network = |source| ClientError::Network {
            call: call.clone(),
            source,
        };
        let response = request.send().await.map_err(network)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(network)?;
        if !status.is_success() {
            return Err(server_error(call, status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode { call, source })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
}

/// The error of a non-success answer: the server's `{code, message}` when it sent one.
fn server_error(call: String, status: StatusCode, body: &[u8]) -> ClientError {
    if let Ok(ErrorEnvelope {
        error: ErrorBody { code, message },
    }) = serde_json::from_slice(body)
    {
        return ClientError::Server {
            call,
            status,
            code: Some(code),
            message,
        };
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let message = if text.is_empty() {
        "no error body".to_owned()
    } else {
        text.chars().take(200).collect()
    };
    ClientError::Server {
        call,
        status,
        code: None,
        message,
    }
}

#[cfg(test)]
mod tests {
    use reqwest::{StatusCode, Url};

    use super::{Client, Server, TlsFiles, server_error};

    fn server(url: &str) -> Server {
        Server {
            url: Url::parse(url).unwrap(),
            tls: TlsFiles::default(),
        }
    }

    #[test]
    fn urls_keep_a_prefix_and_encode_segments() {
        let client = Client::new(&server("http://127.0.0.1:9/keyward/"), None).unwrap();
        let url = client.url(&["keys", "HK-1", "accounts", "corp1", "a/b c", "password"]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/keyward/api/v1/agent/keys/HK-1/accounts/corp1/a%2Fb%20c/password"
        );
        let client = Client::new(&server("http://127.0.0.1:9"), None).unwrap();
        assert_eq!(
            client.url(&["me"]).as_str(),
            "http://127.0.0.1:9/api/v1/agent/me"
        );
    }

    #[test]
    fn unusable_tls_files_name_the_flag_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not pem at all").unwrap();
        let missing = dir.path().join("missing.pem");
        let with = |tls: TlsFiles| {
            Client::new(
                &Server {
                    tls,
                    ..server("https://127.0.0.1:9")
                },
                None,
            )
        };
        let err = with(TlsFiles {
            ca_file: Some(missing.clone()),
            ..TlsFiles::default()
        })
        .unwrap_err();
        assert!(err.is_usage());
        assert!(err.to_string().starts_with("--ca-file "), "{err}");
        assert!(err.to_string().contains("missing.pem"), "{err}");
        let err = with(TlsFiles {
            ca_file: Some(junk.clone()),
            ..TlsFiles::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        let err = with(TlsFiles {
            client_cert: Some(junk.clone()),
            client_key: Some(junk.clone()),
            ..TlsFiles::default()
        })
        .unwrap_err();
        assert!(
            err.to_string().starts_with("--client-cert/--client-key"),
            "{err}"
        );
        assert!(!err.to_string().contains("not pem at all"), "{err}");
    }

    #[test]
    fn error_bodies_keep_the_server_code() {
        let err = server_error(
            "GET /api/v1/agent/keys/HK-1/pending".into(),
            StatusCode::FORBIDDEN,
            br#"{"error": {"code": "workstation_not_approved", "message": "the workstation is pending"}}"#,
        );
        assert!(err.is_not_approved());
        assert_eq!(
            err.to_string(),
            "GET /api/v1/agent/keys/HK-1/pending answered 403 Forbidden: workstation_not_approved: the workstation is pending"
        );
        let err = server_error("GET /x".into(), StatusCode::BAD_GATEWAY, b"");
        assert!(!err.is_not_approved());
        assert_eq!(
            err.to_string(),
            "GET /x answered 502 Bad Gateway: no error body"
        );
        let err = server_error(
            "POST /x".into(),
            StatusCode::CONFLICT,
            br#"{"error": {"code": "key_not_held", "message": "report the key with seen first"}}"#,
        );
        assert!(!err.is_not_approved());
    }
}
