//! The key-encryption key (KEK) that seals stored passwords: loaded from `[secrets]` and
//! checked against a value sealed with it the first time, so a wrong key is refused at once
//! with a clear message instead of failing later on every password.

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyward_password::{KDF_ITERATIONS, Kek, SealContext, Sealed, SecretString};
use keyward_store::Store;
use ring::rand::{SecureRandom, SystemRandom};

use crate::{Error, Result, Settings};

/// The setting that holds a known value sealed with the database's KEK.
pub(crate) const CHECK_KEY: &str = "secrets.kek_check";
const SALT_KEY: &str = "secrets.kdf_salt";
pub(crate) const CHECK_PLAINTEXT: &[u8] = b"keyward key-encryption key check";
/// The setting that records a KEK rotation under way: `<from fingerprint> <to fingerprint>`.
pub(crate) const ROTATION_KEY: &str = "secrets.kek_rotation";
/// The setting that holds the activation-code pepper sealed with the KEK, written by the first
/// KEK rotation so that live codes keep working under the new key.
pub(crate) const PEPPER_KEY: &str = "secrets.code_pepper";

/// Loads the KEK `[secrets]` names and checks it against this database.
pub(crate) async fn load_kek(settings: &Settings, store: &Store) -> Result<Kek> {
    let kek = configured_kek(settings, store).await?;
    if let Some(rotation) = store.setting(ROTATION_KEY).await? {
        let to = rotation.split(' ').nth(1).unwrap_or("?");
        return Err(Error::Config(format!(
            "a key-encryption key rotation to the key with fingerprint {to} is unfinished: run \
             `keyward secrets rotate-key NEW_KEY_FILE` again with that key file to finish it"
        )));
    }
    check(&kek, store).await?;
    Ok(kek)
}

/// The KEK `[secrets]` names, not checked against the database.
pub(crate) async fn configured_kek(settings: &Settings, store: &Store) -> Result<Kek> {
    let s = &settings.secrets;
    let kek = match (&s.key_file, &s.passphrase_env) {
        (Some(path), None) => {
            warn_if_readable_by_others(path);
            let contents = std::fs::read_to_string(path).map_err(|e| {
                Error::Config(format!(
                    "key `secrets.key_file`: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            Kek::from_key_file_contents(&contents).map_err(|e| {
                Error::Config(format!("key `secrets.key_file` {}: {e}", path.display()))
            })?
        }
        (None, Some(var)) => {
            let passphrase = std::env::var(var).map_err(|_| {
                Error::Config(format!(
                    "key `secrets.passphrase_env`: the environment variable {var} is not set"
                ))
            })?;
            let salt = salt(store).await?;
            let iterations = NonZeroU32::new(KDF_ITERATIONS).unwrap_or(NonZeroU32::MIN);
            let passphrase = SecretString::new(passphrase);
            // 600,000 PBKDF2 rounds: off the async workers.
            tokio::task::spawn_blocking(move || {
                Kek::derive_from_passphrase(&passphrase, &salt, iterations)
            })
            .await
            .map_err(|e| Error::Internal {
                source: format!("the key derivation task failed: {e}").into(),
            })?
            .map_err(|e| Error::Config(format!("key `secrets.passphrase_env` ({var}): {e}")))?
        }
        (None, None) => {
            return Err(Error::Config(
                "password rotation needs a key-encryption key: set `secrets.key_file` \
                 (make one with `keyward secrets new-key-file PATH`) or `secrets.passphrase_env`"
                    .into(),
            ));
        }
        (Some(_), Some(_)) => {
            return Err(Error::Config(
                "keys `secrets.key_file` and `secrets.passphrase_env`: set one, not both".into(),
            ));
        }
    };
    Ok(kek)
}

/// A key file others may read is a key others may have: said once, at load, with the fix.
fn warn_if_readable_by_others(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the key-encryption key file can be read by other users; chmod 600 it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// The passphrase salt of this database, made on first use.
async fn salt(store: &Store) -> Result<Vec<u8>> {
    let mut fresh = [0u8; 16];
    SystemRandom::new()
        .fill(&mut fresh)
        .map_err(|_| Error::Internal {
            source: "the system random generator failed".into(),
        })?;
    let stored = store
        .setting_insert_if_absent(SALT_KEY, &STANDARD.encode(fresh))
        .await?;
    STANDARD.decode(stored).map_err(|e| Error::Internal {
        source: format!("stored {SALT_KEY} is not base64: {e}").into(),
    })
}

/// Seals a known value on first use; afterwards the KEK must open it.
pub(crate) async fn check(kek: &Kek, store: &Store) -> Result<()> {
    let context = context()?;
    let sealed = kek
        .seal(CHECK_PLAINTEXT, &context, &SystemRandom::new())
        .map_err(internal)?;
    let stored = store
        .setting_insert_if_absent(CHECK_KEY, sealed.as_str())
        .await?;
    match kek.open(&Sealed::from_stored(stored), &context) {
        Ok(opened) if opened.expose() == CHECK_PLAINTEXT => Ok(()),
        _ => Err(Error::Config(format!(
            "the key-encryption key (fingerprint {}) is not the one this database's passwords \
             are sealed with; configure the original `secrets.key_file` or passphrase",
            kek.fingerprint()
        ))),
    }
}

fn context() -> Result<SealContext> {
    setting_context(CHECK_KEY)
}

/// The sealing context of a sealed setting.
pub(crate) fn setting_context(key: &str) -> Result<SealContext> {
    SealContext::new(key, "installation").map_err(internal)
}

pub(crate) fn internal(e: keyward_password::Error) -> Error {
    Error::Internal {
        source: Box::new(e),
    }
}

/// The KEK, loaded once per [`crate::Keyward`] on first use.
#[derive(Clone, Default)]
pub(crate) struct KekCell(std::sync::Arc<tokio::sync::OnceCell<std::sync::Arc<Kek>>>);

impl KekCell {
    /// The KEK, loading and checking it the first time.
    pub(crate) async fn get(
        &self,
        settings: &Settings,
        store: &Store,
    ) -> Result<std::sync::Arc<Kek>> {
        self.0
            .get_or_try_init(|| async { load_kek(settings, store).await.map(std::sync::Arc::new) })
            .await
            .cloned()
    }
}

impl std::fmt::Debug for KekCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KekCell")
    }
}

/// The HKDF purpose of the activation-code pepper; changing it voids every live code.
const CODE_PEPPER_PURPOSE: &str = "keyward activation-code pepper v1";

/// Whether `[secrets]` names a key-encryption key.
pub(crate) fn kek_configured(settings: &Settings) -> bool {
    settings.secrets.key_file.is_some() || settings.secrets.passphrase_env.is_some()
}

/// The pepper of activation-code hashes, derived from the key-encryption key, so that a copy of
/// the database alone does not allow an offline search of live codes. `None` when `[secrets]`
/// is not configured (codes are then hashed without it; the server warns at start).
pub(crate) async fn code_pepper(
    kek: &KekCell,
    settings: &Settings,
    store: &Store,
) -> Result<Option<keyward_keys::CodePepper>> {
    if !kek_configured(settings) {
        return Ok(None);
    }
    let kek = kek.get(settings, store).await?;
    let bytes = current_pepper(&kek, store).await?;
    Ok(Some(keyward_keys::CodePepper::from_bytes(*bytes)))
}

/// The pepper: stored sealed once a KEK rotation has happened, derived from the KEK before.
pub(crate) async fn current_pepper(
    kek: &Kek,
    store: &Store,
) -> Result<zeroize::Zeroizing<[u8; 32]>> {
    let Some(stored) = store.setting(PEPPER_KEY).await? else {
        return derived_pepper(kek);
    };
    let opened = kek
        .open(&Sealed::from_stored(stored), &setting_context(PEPPER_KEY)?)
        .map_err(internal)?;
    let bytes: [u8; 32] = opened.expose().try_into().map_err(|_| Error::Internal {
        source: format!("the stored {PEPPER_KEY} is not 32 bytes").into(),
    })?;
    Ok(zeroize::Zeroizing::new(bytes))
}

/// The pepper derived from `kek` (what every installation uses until its first KEK rotation).
pub(crate) fn derived_pepper(kek: &Kek) -> Result<zeroize::Zeroizing<[u8; 32]>> {
    kek.derive_key(CODE_PEPPER_PURPOSE).map_err(internal)
}

/// 256 bits from the system CSPRNG as URL-safe base64 without padding: the secret part of
/// admin tokens, workstation credentials, key proofs and invitation links.
pub(crate) fn random_token_text() -> Result<SecretString> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Internal {
            source: "the system random number generator failed".into(),
        })?;
    let text = SecretString::new(URL_SAFE_NO_PAD.encode(bytes));
    bytes.fill(0);
    Ok(text)
}

/// The sealing context of an account's password of one version: a ciphertext moved to another
/// account or version does not open.
pub(crate) fn password_context(
    directory: &str,
    object_guid: uuid::Uuid,
    version: i64,
) -> Result<SealContext> {
    SealContext::new(
        "account.password",
        &format!("{directory}/{object_guid}/v{version}"),
    )
    .map_err(internal)
}

/// Seals a password for an account version.
pub(crate) fn seal_password(
    kek: &Kek,
    password: &SecretString,
    directory: &str,
    object_guid: uuid::Uuid,
    version: i64,
) -> Result<String> {
    let context = password_context(directory, object_guid, version)?;
    let sealed = kek
        .seal(password.expose().as_bytes(), &context, &SystemRandom::new())
        .map_err(internal)?;
    Ok(sealed.as_str().to_owned())
}

/// Opens a password sealed for an account version.
pub(crate) fn open_password(
    kek: &Kek,
    sealed: &str,
    directory: &str,
    object_guid: uuid::Uuid,
    version: i64,
) -> Result<SecretString> {
    let context = password_context(directory, object_guid, version)?;
    let opened = kek
        .open(&Sealed::from_stored(sealed.to_owned()), &context)
        .map_err(internal)?;
    opened.into_secret_string().ok_or_else(|| Error::Internal {
        source: "a sealed password is not UTF-8".into(),
    })
}

/// Writes a new random key file at `path` (mode 0600 on Unix); refuses to overwrite a file.
pub fn write_new_key_file(path: &std::path::Path) -> Result<()> {
    use std::io::Write as _;
    let bytes = Kek::generate_key_file_bytes(&SystemRandom::new()).map_err(internal)?;
    let contents = Kek::key_file_contents(&bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        Error::InvalidInput(format!("cannot create key file {}: {e}", path.display()))
    })?;
    file.write_all(contents.expose().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::InvalidInput(format!("cannot write key file {}: {e}", path.display())))
}
