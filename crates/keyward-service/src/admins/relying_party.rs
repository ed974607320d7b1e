//! The WebAuthn relying party (webauthn-rs): registering credentials and signing in.
//!
//! The browser's side is the console's script: it passes the options answered here to
//! `navigator.credentials.create` / `get` and posts the result back as JSON.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use keyward_model::{Admin, AdminCredential, Email, NewAuditRecord};
use keyward_store::{StoredCeremony, StoredCredential};
use uuid::Uuid;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
};

use super::Admins;
use crate::{Actor, Credential, Error, Result};

/// How long a started ceremony may be finished.
const CEREMONY_MINUTES: i64 = 5;
const REGISTRATION: &str = "registration";
const SIGN_IN: &str = "sign_in";
/// The longest label an admin may give a credential.
const LABEL_MAX: usize = 100;

/// A started ceremony: its id (sent back with the answer) and the options for the browser.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// Names the ceremony when it is finished.
    pub ceremony: Uuid,
    /// `{"publicKey": {...}}` for `navigator.credentials.create` or `get` (binary fields in
    /// URL-safe base64).
    pub options: serde_json::Value,
}

/// Parses `console.public_url` into the origin browsers send and the relying-party id (its host
/// name): a name, not an IP address (WebAuthn refuses those), and `https` except on
/// `localhost`.
pub fn console_origin(public_url: &str) -> Result<(Url, String)> {
    let bad = |why: &str| {
        Error::Config(format!(
            "key `console.public_url`: {public_url:?} {why}; give the address administrators \
             open, such as https://keyward.corp.example:8443"
        ))
    };
    let url = Url::parse(public_url.trim()).map_err(|_| bad("is not a URL"))?;
    let Some(host) = url.domain().map(str::to_owned) else {
        return Err(bad(
            "has no host name (passkeys need a name such as localhost, not an IP address)",
        ));
    };
    match url.scheme() {
        "https" => {}
        "http" if host == "localhost" => {}
        "http" => {
            return Err(bad(
                "uses plain http, which browsers allow only for localhost",
            ));
        }
        _ => return Err(bad("must start with https://")),
    }
    if url.path() != "/" || url.query().is_some() {
        return Err(bad("must be an origin only, without a path"));
    }
    Ok((url, host))
}

impl Admins<'_> {
    fn relying_party(&self) -> Result<Webauthn> {
        let (origin, rp_id) = console_origin(&self.settings.console.public_url)?;
        WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|b| b.rp_name("keyward").build())
            .map_err(|e| Error::Config(format!("key `console.public_url`: {e}")))
    }

    /// Starts registering a credential through an enrollment link (the link stays unused until
    /// the registration finishes).
    pub async fn start_enrollment(&self, link_secret: &str) -> Result<Challenge> {
        let admin = self.enrollment_admin(link_secret).await?;
        self.start_registration(&admin).await
    }

    /// Finishes a registration started with [`Admins::start_enrollment`] and uses the link.
    pub async fn finish_enrollment(
        &self,
        link_secret: &str,
        ceremony: Uuid,
        response: &str,
        label: &str,
    ) -> Result<AdminCredential> {
        let admin = self.enrollment_admin(link_secret).await?;
        let hash = keyward_password::sha256_hex(link_secret.as_bytes());
        self.finish_registration(&admin, ceremony, response, label, Some(&hash))
            .await
    }

    /// Starts registering a further credential for a signed-in admin.
    pub async fn start_registration(&self, admin: &Admin) -> Result<Challenge> {
        let existing = self.passkeys(admin.id).await?;
        let exclude = existing.iter().map(|(_, p)| p.cred_id().clone()).collect();
        let (options, state) = self
            .relying_party()?
            .start_passkey_registration(admin.id, admin.email.as_str(), &admin.name, Some(exclude))
            .map_err(|e| Error::InvalidInput(format!("cannot start the registration: {e}")))?;
        self.save(REGISTRATION, admin.id, &state, &options).await
    }

    /// Finishes a registration: checks the authenticator's answer against the challenge and
    /// stores the credential under `label`, with an audit record naming the admin.
    pub async fn finish_registration(
        &self,
        admin: &Admin,
        ceremony: Uuid,
        response: &str,
        label: &str,
        enrollment_hash: Option<&str>,
    ) -> Result<AdminCredential> {
        let label = label.trim();
        if label.is_empty()
            || label.chars().count() > LABEL_MAX
            || label.chars().any(char::is_control)
        {
            return Err(Error::InvalidInput(format!(
                "give the passkey a name of 1 to {LABEL_MAX} characters, such as \"YubiKey 5\""
            )));
        }
        let state: PasskeyRegistration = self.take(REGISTRATION, ceremony, admin.id).await?;
        let answer: RegisterPublicKeyCredential = serde_json::from_str(response).map_err(|e| {
            Error::InvalidInput(format!("the authenticator's answer is not valid: {e}"))
        })?;
        let passkey = self
            .relying_party()?
            .finish_passkey_registration(&answer, &state)
            .map_err(|e| Error::InvalidInput(format!("the registration was refused: {e}")))?;
        let now = self.clock.now();
        let credential = AdminCredential {
            credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id()),
            admin_id: admin.id,
            label: label.to_owned(),
            created_at: now,
            last_used_at: None,
        };
        let record = NewAuditRecord {
            actor: Actor::Admin(admin.email.clone()).to_string(),
            action: "admin.credential_registered".into(),
            subject: format!("admin:{}", admin.email),
            detail: serde_json::json!({
                "credential": credential.credential_id,
                "label": credential.label,
                "through_enrollment_link": enrollment_hash.is_some(),
            }),
            at: now,
        };
        let stored = StoredCredential {
            credential,
            passkey: serde_json::to_string(&passkey).map_err(internal)?,
        };
        Ok(self
            .store
            .add_admin_credential(&stored, enrollment_hash, &record)
            .await?)
    }

    /// Starts a sign-in for the admin with this e-mail. An unknown or disabled admin, or one
    /// without a credential, is the same [`Error::Unauthorized`] as a failed sign-in.
    pub async fn start_sign_in(&self, email: &str) -> Result<Challenge> {
        let refused = Error::Unauthorized {
            credential: Credential::AdminPasskey,
        };
        let Ok(email) = Email::parse(email) else {
            return Err(refused);
        };
        let Some(admin) = self
            .store
            .admin_by_email(&email)
            .await?
            .filter(Admin::is_active)
        else {
            return Err(refused);
        };
        let passkeys: Vec<Passkey> = self
            .passkeys(admin.id)
            .await?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        if passkeys.is_empty() {
            return Err(refused);
        }
        let (options, state) = self
            .relying_party()?
            .start_passkey_authentication(&passkeys)
            .map_err(|e| Error::InvalidInput(format!("cannot start the sign-in: {e}")))?;
        self.save(SIGN_IN, admin.id, &state, &options).await
    }

    /// Finishes a sign-in: checks the signature against the admin's credentials, records the
    /// use, and opens a session.
    pub async fn finish_sign_in(&self, ceremony: Uuid, response: &str) -> Result<super::SignedIn> {
        let refused = || Error::Unauthorized {
            credential: Credential::AdminPasskey,
        };
        let Some(stored) = self
            .store
            .take_ceremony(ceremony, SIGN_IN, self.clock.now())
            .await?
        else {
            return Err(refused());
        };
        let state: PasskeyAuthentication = serde_json::from_str(&stored.state).map_err(internal)?;
        let admin = self
            .store
            .admin(stored.admin_id)
            .await?
            .filter(Admin::is_active)
            .ok_or_else(refused)?;
        let answer: PublicKeyCredential = serde_json::from_str(response).map_err(|_| refused())?;
        let result = self
            .relying_party()?
            .finish_passkey_authentication(&answer, &state)
            .map_err(|e| {
                tracing::info!(admin = %admin.email, error = %e, "console sign-in refused");
                refused()
            })?;
        let used = URL_SAFE_NO_PAD.encode(result.cred_id());
        let now = self.clock.now();
        if let Some((_, mut passkey)) = self
            .passkeys(admin.id)
            .await?
            .into_iter()
            .find(|(c, _)| c.credential_id == used)
        {
            passkey.update_credential(&result);
            let record = serde_json::to_string(&passkey).map_err(internal)?;
            self.store
                .record_credential_use(&used, &record, now)
                .await?;
        }
        self.open_session(admin, &used).await
    }

    async fn passkeys(&self, admin: Uuid) -> Result<Vec<(AdminCredential, Passkey)>> {
        self.store
            .admin_credentials(admin)
            .await?
            .into_iter()
            .map(|c| {
                let passkey: Passkey =
                    serde_json::from_str(&c.passkey).map_err(|e| Error::Internal {
                        source: format!(
                            "the stored credential {} does not read: {e}",
                            c.credential.credential_id
                        )
                        .into(),
                    })?;
                Ok((c.credential, passkey))
            })
            .collect()
    }

    async fn save(
        &self,
        purpose: &str,
        admin: Uuid,
        state: &impl serde::Serialize,
        options: &impl serde::Serialize,
    ) -> Result<Challenge> {
        let ceremony = Uuid::new_v4();
        let stored = StoredCeremony {
            admin_id: admin,
            state: serde_json::to_string(state).map_err(internal)?,
            expires_at: self.clock.now() + Duration::minutes(CEREMONY_MINUTES),
        };
        self.store.save_ceremony(ceremony, purpose, &stored).await?;
        Ok(Challenge {
            ceremony,
            options: serde_json::to_value(options).map_err(internal)?,
        })
    }

    async fn take<T: serde::de::DeserializeOwned>(
        &self,
        purpose: &str,
        ceremony: Uuid,
        admin: Uuid,
    ) -> Result<T> {
        let stored = self
            .store
            .take_ceremony(ceremony, purpose, self.clock.now())
            .await?
            .filter(|c| c.admin_id == admin)
            .ok_or_else(|| {
                Error::InvalidInput(
                    "this registration has expired or was already finished; start again".into(),
                )
            })?;
        serde_json::from_str(&stored.state).map_err(internal)
    }
}

fn internal(e: serde_json::Error) -> Error {
    Error::Internal {
        source: Box::new(e),
    }
}
