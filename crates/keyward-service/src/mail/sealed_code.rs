//! The activation code a key notification carries when `mail.include_activation_code` is set.
//!
//! It travels from the assignment to the outbox worker sealed with the key-encryption key, never
//! in clear in the database. The associated data binds it to its outbox row and key, so a sealed
//! code copied to another message or key does not open.

use keyward_keys::{ActivationCode, KeySerial};
use keyward_password::{Kek, SealContext, Sealed, SecretString};
use ring::rand::SystemRandom;
use uuid::Uuid;

use crate::{Error, Result};

const PURPOSE: &str = "outbox.activation_code";

/// The sealing context of the code the outbox row `message_id` about key `serial` carries.
pub(crate) fn activation_code_context(message_id: Uuid, serial: &str) -> Result<SealContext> {
    SealContext::new(PURPOSE, &format!("{message_id}/{serial}")).map_err(internal)
}

/// Seals `code` for the outbox row `message_id` about key `serial`.
pub(crate) fn seal_activation_code(
    kek: &Kek,
    code: &ActivationCode,
    message_id: Uuid,
    serial: &KeySerial,
) -> Result<String> {
    let sealed = kek
        .seal(
            code.expose().as_bytes(),
            &activation_code_context(message_id, serial.as_str())?,
            &SystemRandom::new(),
        )
        .map_err(internal)?;
    Ok(sealed.as_str().to_owned())
}

/// Opens the code sealed for the outbox row `message_id` about key `serial`.
pub(super) fn open_activation_code(
    kek: &Kek,
    sealed: &str,
    message_id: Uuid,
    serial: &str,
) -> Result<SecretString> {
    kek.open(
        &Sealed::from_stored(sealed.to_owned()),
        &activation_code_context(message_id, serial)?,
    )
    .map_err(internal)?
    .into_secret_string()
    .ok_or_else(|| Error::Internal {
        source: "a sealed activation code is not UTF-8".into(),
    })
}

// The sealing library's errors name what failed (a wrong key, a malformed value), never the
// plaintext, so they may be passed on.
fn internal(e: keyward_password::Error) -> Error {
    Error::Internal {
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek() -> Kek {
        let bytes = Kek::generate_key_file_bytes(&SystemRandom::new()).unwrap();
        Kek::from_key_file_contents(Kek::key_file_contents(&bytes).expose()).unwrap()
    }

    #[test]
    fn a_sealed_code_opens_only_for_its_own_message_and_key() {
        let kek = kek();
        let policy = keyward_keys::ActivationCodePolicy::default();
        let issued = policy
            .issue(chrono::Utc::now(), &SystemRandom::new(), None)
            .unwrap();
        let serial = KeySerial::parse("ST-1").unwrap();
        let message = Uuid::now_v7();
        let sealed = seal_activation_code(&kek, &issued.code, message, &serial).unwrap();
        assert!(!sealed.contains(issued.code.expose()));
        let opened = open_activation_code(&kek, &sealed, message, "ST-1").unwrap();
        assert_eq!(opened.expose(), issued.code.expose());
        assert!(open_activation_code(&kek, &sealed, Uuid::now_v7(), "ST-1").is_err());
        assert!(open_activation_code(&kek, &sealed, message, "ST-2").is_err());
        let error = open_activation_code(&self::kek(), &sealed, message, "ST-1")
            .unwrap_err()
            .to_string();
        assert!(!error.contains(issued.code.expose()), "{error}");
    }
}
