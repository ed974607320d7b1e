//! The server's own TLS (rustls on ring): the certificate and key files, an optional client CA
//! for the agent API (mutual TLS), reloading the files without a restart, the rule that a
//! non-loopback address needs TLS, and the accept loop that serves the router over TLS with
//! graceful shutdown.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use keyward_service::Settings;
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tower::ServiceExt as _;

/// How long a client may take for the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Put in every request that came over TLS by the server's own TLS: the security headers add
/// HSTS for it, and the agent API's client-certificate rule reads it. An embedder that
/// terminates TLS itself may insert it.
#[derive(Debug, Clone, Copy)]
pub struct TlsConnection {
    /// The client presented a certificate that `tls.client_ca_file` signed (rustls verified
    /// it during the handshake; an invalid one ends the handshake).
    pub client_certificate: bool,
}

/// How the server listens, decided from the settings before anything is opened.
pub(crate) enum Transport {
    /// Plain HTTP: on loopback, or anywhere with `insecure_http = true`.
    Http {
        /// `insecure_http` on a non-loopback address: warned on every start.
        insecure: bool,
    },
    /// HTTPS with the files of `[tls]`.
    Https(Arc<TlsFiles>),
}

/// The transport `settings` ask for, or a one-line configuration error: a non-loopback address
/// without `[tls]` or `insecure_http`, a file that cannot be read or parsed (named with its key).
pub(crate) fn transport(settings: &Settings) -> Result<Transport, String> {
    let tls = &settings.tls;
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        let files = TlsFiles {
            cert_file: cert.clone(),
            key_file: key.clone(),
            client_ca_file: tls.client_ca_file.clone(),
        };
        files.load()?;
        return Ok(Transport::Https(Arc::new(files)));
    }
    let loopback = settings.listen.ip().is_loopback();
    if !loopback && !settings.insecure_http {
        return Err(format!(
            "configuration error: key `listen`: {} is not a loopback address and `[tls]` is not \
             set: set `tls.cert_file` and `tls.key_file` to serve HTTPS, or `insecure_http = true` \
             if a TLS proxy in front of the server terminates TLS",
            settings.listen
        ));
    }
    Ok(Transport::Http {
        insecure: !loopback,
    })
}

/// The files of `[tls]`.
#[derive(Debug)]
#[allow(clippy::struct_field_names)] // named as their settings
pub(crate) struct TlsFiles {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
}

impl TlsFiles {
    /// Whether agents must present a client certificate.
    pub(crate) fn mutual(&self) -> bool {
        self.client_ca_file.is_some()
    }

    /// Reads and checks every file and builds the rustls configuration.
    fn load(&self) -> Result<Arc<ServerConfig>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = read_certificates("tls.cert_file", &self.cert_file)?;
        let key = read_private_key(&self.key_file)?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let builder = match &self.client_ca_file {
            Some(path) => builder.with_client_cert_verifier(client_verifier(path, provider)?),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| {
            format!(
                "configuration error: keys `tls.cert_file` and `tls.key_file`: {} and {} do not \
                 make a usable certificate: {e}",
                self.cert_file.display(),
                self.key_file.display()
            )
        })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Modification time and length of each file: a change of any means a reload.
    fn stamp(&self) -> Vec<Option<(SystemTime, u64)>> {
        let mut paths = vec![&self.cert_file, &self.key_file];
        paths.extend(&self.client_ca_file);
        paths
            .into_iter()
            .map(|p| {
                std::fs::metadata(p)
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len())))
            })
            .collect()
    }
}

/// Client certificates signed by the CA(s) in `path` are accepted, and none is also accepted
/// by the handshake: the agent API refuses a request without one (see
/// [`crate::hardening`]), the admin API and the enrollment page do not ask for one.
fn client_verifier(
    path: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates("tls.client_ca_file", path)? {
        roots.add(cert).map_err(|e| {
            format!(
                "configuration error: key `tls.client_ca_file`: {}: not a usable CA certificate: {e}",
                path.display()
            )
        })?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| {
            format!(
                "configuration error: key `tls.client_ca_file`: {}: {e}",
                path.display()
            )
        })
}

fn read_file(key: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| {
        format!(
            "configuration error: key `{key}`: cannot read {}: {e}",
            path.display()
        )
    })
}

fn read_certificates(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_file(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "configuration error: key `{key}`: {}: not PEM: {e}",
                path.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "configuration error: key `{key}`: {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_file("tls.key_file", path)?;
    // The error never quotes the file: it holds the private key.
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        format!(
            "configuration error: key `tls.key_file`: {} holds no PEM private key \
             (PKCS#8, PKCS#1 or SEC1)",
            path.display()
        )
    })
}

/// The configuration in use and how to replace it when the files change.
pub(crate) struct Reloader {
    files: Arc<TlsFiles>,
    current: RwLock<Arc<ServerConfig>>,
    stamp: Mutex<Vec<Option<(SystemTime, u64)>>>,
}

impl Reloader {
    /// Loads the files (they were checked at start; a change since is an error here too).
    pub(crate) fn new(files: Arc<TlsFiles>) -> Result<Arc<Self>, String> {
        let stamp = files.stamp();
        let config = files.load()?;
        Ok(Arc::new(Self {
            files,
            current: RwLock::new(config),
            stamp: Mutex::new(stamp),
        }))
    }

    /// The configuration for the next connection.
    fn current(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Loads the files again when `force` or when any of them changed since the last attempt.
    /// A file that cannot be used keeps the configuration in use and logs an error (once per
    /// change of the files); connections in progress keep theirs.
    fn reload(&self, force: bool) {
        let stamp = self.files.stamp();
        {
            let mut last = self.stamp.lock().unwrap_or_else(PoisonError::into_inner);
            if !force && *last == stamp {
                return;
            }
            *last = stamp;
        }
        match self.files.load() {
            Ok(config) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = config;
                tracing::info!(
                    cert_file = %self.files.cert_file.display(),
                    "TLS certificate and key reloaded"
                );
            }
            Err(e) => tracing::error!(
                "TLS reload failed, the certificate in use is kept: {}",
                e.trim_start_matches("configuration error: ")
            ),
        }
    }

    /// Reloads on SIGHUP, and every `interval` when the files changed (`0`: never).
    pub(crate) fn spawn_watch(self: &Arc<Self>, interval_secs: u64) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .map_err(|e| tracing::error!(error = %e, "cannot listen for SIGHUP"))
                .ok();
            let mut tick = (interval_secs > 0).then(|| {
                let mut t = tokio::time::interval(Duration::from_secs(interval_secs));
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            loop {
                let poll = async {
                    match tick.as_mut() {
                        Some(t) => {
                            t.tick().await;
                        }
                        None => std::future::pending().await,
                    }
                };
                #[cfg(unix)]
                let hup = async {
                    match hangup.as_mut() {
                        Some(h) => {
                            h.recv().await;
                        }
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let hup = std::future::pending::<()>();
                let force = tokio::select! {
                    () = poll => false,
                    () = hup => {
                        tracing::info!("SIGHUP received, reloading the TLS certificate and key");
                        true
                    }
                };
                let reloader = this.clone();
                // Reading files is blocking IO.
                let _ = tokio::task::spawn_blocking(move || reloader.reload(force)).await;
            }
        })
    }
}

/// Serves `app` over TLS on `listener` until `shutdown` completes, then stops accepting and
/// waits for the connections in progress to finish their requests.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    reloader: Arc<Reloader>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::error!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(reloader.current());
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let connection = TlsConnection {
                client_certificate: stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .is_some_and(|certs| !certs.is_empty()),
            };
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(connection);
                    request.extensions_mut().insert(ConnectInfo(peer));
                    app.clone().oneshot(request)
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The address for log lines and URLs.
pub(crate) fn scheme(transport: &Transport) -> &'static str {
    match transport {
        Transport::Http { .. } => "http",
        Transport::Https(_) => "https",
    }
}
