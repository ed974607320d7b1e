//! The SMTP transport the settings describe, and how long one message may take.

use std::time::Duration;

use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use crate::{Error, MailSettings, Result, SmtpSecurity};

/// The longest an SMTP exchange of one message may take: half the claim a sender holds on it
/// (so the sender records its outcome before another sender may take the message over), at
/// most 30 seconds and at least one.
pub(super) fn timeout(claim_secs: u64) -> Duration {
    Duration::from_secs((claim_secs / 2).clamp(1, 30))
}

/// The transport for `mail`: TLS as configured (with the extra CA, if any) and login.
pub(super) fn transport(mail: &MailSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>> {
    let tls_parameters = || -> Result<TlsParameters> {
        let mut builder = TlsParameters::builder(mail.smtp_host.clone());
        if let Some(ca) = &mail.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| Error::Config(format!("mail.ca_file {}: {e}", ca.display())))?;
            let cert = lettre::transport::smtp::client::Certificate::from_pem(&pem)
                .map_err(|e| Error::Config(format!("mail.ca_file {}: {e}", ca.display())))?;
            builder = builder.add_root_certificate(cert);
        }
        builder
            .build_rustls()
            .map_err(|e| Error::Config(format!("mail TLS: {e}")))
    };
    let tls = match mail.security {
        SmtpSecurity::None => Tls::None,
        SmtpSecurity::Starttls => Tls::Required(tls_parameters()?),
        SmtpSecurity::Tls => Tls::Wrapper(tls_parameters()?),
    };
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(mail.smtp_host.clone())
            .port(mail.smtp_port)
            .tls(tls)
            .timeout(Some(timeout(mail.claim_secs)));
    if let (Some(user), Some(var)) = (&mail.username, &mail.password_env) {
        builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
            user.clone(),
            password(var)?,
        ));
    }
    Ok(builder.build())
}

/// The SMTP password from the environment variable `var` (`mail.password_env`). An empty value
/// is refused like a missing one, as for `bind_password_env`: it is a deployment mistake, and
/// sending it would only earn an authentication failure on every message.
fn password(var: &str) -> Result<String> {
    let problem = match std::env::var(var) {
        Ok(value) if !value.is_empty() => return Ok(value),
        Ok(_) => "is empty",
        Err(std::env::VarError::NotPresent) => "is not set",
        Err(std::env::VarError::NotUnicode(_)) => "is not valid UTF-8",
    };
    Err(Error::Config(format!(
        "the environment variable {var} (mail.password_env) {problem}"
    )))
}

/// Whether the SMTP server refused the login: 535, "authentication credentials invalid"
/// (RFC 4954). lettre reports it like any other refused command, so the worker says what it
/// means.
pub(super) fn is_login_refused(error: &lettre::transport::smtp::Error) -> bool {
    error.status().map(u16::from) == Some(535)
}

#[cfg(test)]
mod tests {
    use super::timeout;

    #[test]
    fn the_smtp_timeout_is_half_the_claim_at_most_30_s_and_at_least_1_s() {
        for (claim_secs, expected) in [
            (1, 1),
            (2, 1),
            (3, 1),
            (10, 5),
            (60, 30),
            (61, 30),
            (600, 30),
        ] {
            assert_eq!(
                timeout(claim_secs).as_secs(),
                expected,
                "claim {claim_secs} s"
            );
        }
    }
}
