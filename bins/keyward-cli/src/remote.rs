//! `--server URL`: the CLI as a client of a running keyward server's admin API.
//!
//! Every answer is one of `keyward-api`'s types, the same the direct mode makes from its
//! service calls, so both modes print the same. An error answer keeps its stable code, and so
//! its exit code. The token comes from `KEYWARD_TOKEN` or `--token-file`, never from a flag
//! (flags show in process lists), and it is never sent over plain HTTP to another host.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use keyward_api::ErrorBody;
use keyward_service::{ErrorCode, SecretString};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::exit::{self, Failure};

/// How long to wait for the connection; an answer may take as long as the server allows (a
/// sync of a large directory takes minutes).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The query of a `GET` without one.
pub const NO_QUERY: &[(&str, &str)] = &[];

/// The environment variable that holds the token.
pub const TOKEN_VARIABLE: &str = "KEYWARD_TOKEN";

/// Where the server is and how to reach it.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Its base URL, e.g. `https://keyward.example.com:8443`.
    pub url: String,
    /// A PEM file of the CA that signed its certificate (instead of the system's roots).
    pub ca_file: Option<PathBuf>,
    /// A file whose first line is the admin token (when `KEYWARD_TOKEN` is not set).
    pub token_file: Option<PathBuf>,
}

/// A client of one server's admin API.
pub struct Remote {
    http: reqwest::Client,
    base: Url,
    token: SecretString,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// A client for the server `options` names, with the token from the environment or the
    /// token file.
    pub fn new(options: &ServerOptions) -> Result<Self, Failure> {
        let base = parse_base(&options.url)?;
        let token = read_token(options.token_file.as_deref())?;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("keyward-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &options.ca_file {
            let bad = |reason: String| {
                config_failure(format!("--server-ca {}: {reason}", path.display()))
            };
            let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            let roots = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| bad(format!("not a PEM certificate bundle: {e}")))?;
            if roots.is_empty() {
                return Err(bad("holds no PEM certificate".into()));
            }
            builder = builder.tls_built_in_root_certs(false);
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        let http = builder
            .build()
            .map_err(|e| config_failure(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self { http, base, token })
    }

    /// `GET` of `segments` (each percent-encoded) with `query`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &(impl Serialize + ?Sized),
    ) -> Result<T, Failure> {
        let request = self.request(Method::GET, segments).query(query);
        self.answer(request).await
    }

    /// `POST` of `body` as JSON to `segments`.
    pub async fn post<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &impl Serialize,
    ) -> Result<T, Failure> {
        let request = self.request(Method::POST, segments).json(body);
        self.answer(request).await
    }

    /// `POST` without a body to `segments`.
    pub async fn post_empty<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, Failure> {
        self.answer(self.request(Method::POST, segments)).await
    }

    /// `DELETE` of `segments`; the answer has no body.
    pub async fn delete(&self, segments: &[&str]) -> Result<(), Failure> {
        let response = self.send(self.request(Method::DELETE, segments)).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(error_of(response).await)
        }
    }

    fn request(&self, method: Method, segments: &[&str]) -> reqwest::RequestBuilder {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        self.http
            .request(method, url)
            .bearer_auth(self.token.expose())
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Failure> {
        request.send().await.map_err(|e| Failure {
            code: "server_unreachable",
            exit_code: exit::SERVER,
            message: format!(
                "cannot reach the keyward server at {}: {}",
                self.base,
                error_chain(&e)
            ),
        })
    }

    async fn answer<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Failure> {
        let response = self.send(request).await?;
        if !response.status().is_success() {
            return Err(error_of(response).await);
        }
        let status = response.status();
        response.json::<T>().await.map_err(|e| Failure {
            code: "server_unreachable",
            exit_code: exit::SERVER,
            message: format!(
                "the server at {} answered {status} with a body this keyward does not \
                 understand (is it a keyward server of the same version?): {e}",
                self.base
            ),
        })
    }
}

/// The failure an error answer describes: its code, the exit code of that code, its message.
async fn error_of(response: reqwest::Response) -> Failure {
    let status = response.status();
    let body = response.json::<ErrorBody>().await.ok();
    match body.and_then(|b| ErrorCode::parse(&b.error.code).map(|c| (c, b.error.message))) {
        Some((code, message)) => Failure::of_code(code, message),
        None if status == StatusCode::NOT_FOUND => Failure {
            code: "server_unreachable",
            exit_code: exit::SERVER,
            message: "the server answered 404 without a keyward error: is --server the keyward \
                      server's base URL, and is it the same version as this keyward?"
                .into(),
        },
        None => Failure {
            code: "server_unreachable",
            exit_code: exit::SERVER,
            message: format!("the server answered {status} without a keyward error body"),
        },
    }
}

/// The base URL, refused if it would send the token in clear to another host.
fn parse_base(raw: &str) -> Result<Url, Failure> {
    let url = Url::parse(raw.trim())
        .map_err(|e| config_failure(format!("--server {raw:?} is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(config_failure(format!(
                "--server {raw}: refusing to send the admin token over plain HTTP to a host \
                 that is not loopback; use https://"
            )));
        }
        other => {
            return Err(config_failure(format!(
                "--server {raw}: the scheme must be https (or http on loopback), not {other}"
            )));
        }
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(config_failure(format!(
            "--server {raw}: give the base URL only (no user, query or fragment)"
        )));
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    url.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

/// The token: `KEYWARD_TOKEN`, else the first line of the token file.
fn read_token(file: Option<&Path>) -> Result<SecretString, Failure> {
    if let Ok(value) = std::env::var(TOKEN_VARIABLE) {
        let value = value.trim();
        if !value.is_empty() {
            return Ok(SecretString::new(value.to_owned()));
        }
    }
    let Some(path) = file else {
        return Err(Failure {
            code: ErrorCode::Unauthorized.as_str(),
            exit_code: exit::AUTH,
            message: format!(
                "--server needs an admin token: set {TOKEN_VARIABLE} or give --token-file FILE"
            ),
        });
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        config_failure(format!(
            "cannot read the token file {}: {e}",
            path.display()
        ))
    })?;
    let line = text.lines().next().unwrap_or_default().trim().to_owned();
    if line.is_empty() {
        return Err(config_failure(format!(
            "the token file {} is empty",
            path.display()
        )));
    }
    Ok(SecretString::new(line))
}

fn config_failure(message: String) -> Failure {
    Failure {
        code: ErrorCode::InvalidConfig.as_str(),
        exit_code: exit::CONFIG,
        message,
    }
}

/// An error and its sources, on one line (reqwest's own message hides the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::parse_base;

    #[test]
    fn https_and_loopback_http_are_accepted() {
        for ok in [
            "https://keyward.example.com:8443",
            "https://10.0.0.5/",
            "http://127.0.0.1:8080",
            "http://localhost:8080/",
            "http://[::1]:8080",
        ] {
            assert!(parse_base(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn plain_http_to_another_host_and_odd_urls_are_refused() {
        for bad in [
            "http://keyward.example.com",
            "http://10.0.0.5:8080",
            "ftp://127.0.0.1",
            "https://user@keyward.example.com",
            "https://keyward.example.com/?x=1",
            "not a url",
        ] {
            let failure = parse_base(bad).expect_err(bad);
            assert_eq!(failure.exit_code, crate::exit::CONFIG, "{bad}");
        }
    }
}
