//! The key proof: what lets a workstation take over an Active key from another one.
//!
//! A serial number is printed on the key and is no secret, so "the workstation that last
//! reported the serial" cannot be what decides where passwords go. When a key becomes Active
//! through a workstation (an activation or a resume, both with a code the user typed), the
//! server gives that workstation a random 256-bit proof to store on the key, and keeps only its
//! SHA-256. Another approved workstation takes the Active key over only by presenting that
//! proof, which it can read only from the key in its hands. The holder can ask for a new proof
//! (an agent that crashed before it stored the first one); the old one stops working.

use keyward_keys::{KeySerial, KeyStatus};
use keyward_model::NewAuditRecord;
use keyward_password::{SecretString, sha256_hex};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::{Agent, actor};
use crate::secrets::random_token_text;
use crate::{Error, Result, Workstation};

/// What every key proof starts with, so that one found in a log or a file is recognised.
const PROOF_PREFIX: &str = "kwp_";

/// Whether `presented` is the proof whose SHA-256 is `stored`, compared in constant time. No
/// stored proof (a key activated before proofs existed) matches nothing.
pub(super) fn proof_matches(stored: Option<&str>, presented: Option<&SecretString>) -> bool {
    match (stored, presented) {
        (Some(stored), Some(presented)) => {
            let presented = sha256_hex(presented.expose().as_bytes());
            bool::from(stored.as_bytes().ct_eq(presented.as_bytes()))
        }
        _ => false,
    }
}

impl Agent<'_> {
    /// Makes a new proof for `serial`, held from now on by `ws`, and returns it (shown once).
    pub(super) async fn issue_proof(
        &self,
        ws: &Workstation,
        serial: &KeySerial,
        why: &str,
    ) -> Result<SecretString> {
        let proof = SecretString::new(format!("{PROOF_PREFIX}{}", random_token_text()?.expose()));
        let hash = sha256_hex(proof.expose().as_bytes());
        if !self
            .store
            .set_key_proof(serial, &ws.id.to_string(), &hash)
            .await?
        {
            return Err(Error::NotFound {
                what: "key",
                key: serial.to_string(),
            });
        }
        self.store
            .append_audit(&NewAuditRecord {
                actor: actor(ws).to_string(),
                action: "key.proof_issued".into(),
                subject: format!("key:{serial}"),
                detail: json!({ "workstation": ws.id, "why": why }),
                at: self.clock.now(),
            })
            .await?;
        Ok(proof)
    }

    /// A new proof for an Active key this workstation holds; the previous one stops working.
    pub async fn renew_proof(&self, ws: &Workstation, serial: &str) -> Result<SecretString> {
        let key = self.held(ws, serial).await?;
        if key.status != KeyStatus::Active {
            return Err(Error::InvalidTransition(format!(
                "key {} is {}; only an Active key has a key proof",
                key.serial, key.status
            )));
        }
        self.issue_proof(ws, &key.serial, "renewed").await
    }

    /// Refuses a takeover of an Active key without its proof, and records the attempt.
    pub(super) async fn check_takeover(
        &self,
        ws: &Workstation,
        key: &keyward_keys::Key,
        presented: Option<&SecretString>,
    ) -> Result<()> {
        if key.status != KeyStatus::Active {
            // No password goes to a key that is not Active, and making it Active again needs
            // an activation code, which issues a new proof.
            return Ok(());
        }
        let stored = self.store.key_proof_hash(&key.serial).await?;
        if proof_matches(stored.as_deref(), presented) {
            return Ok(());
        }
        self.store
            .append_audit(&NewAuditRecord {
                actor: actor(ws).to_string(),
                action: "key.takeover_refused".into(),
                subject: format!("key:{}", key.serial),
                detail: json!({
                    "workstation": ws.id,
                    "holder": key.linked_workstation,
                    "proof": if presented.is_some() { "wrong" } else { "missing" },
                }),
                at: self.clock.now(),
            })
            .await?;
        Err(Error::KeyProofRequired(format!(
            "key {} is Active and held by another workstation; taking it over needs the key \
             proof stored on the key (header Keyward-Key-Proof). A key without one moves through \
             suspend and resume",
            key.serial
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_proof_itself_matches_its_hash() {
        let proof = SecretString::new("kwp_abc".into());
        let stored = sha256_hex(b"kwp_abc");
        assert!(proof_matches(Some(&stored), Some(&proof)));
        assert!(!proof_matches(
            Some(&stored),
            Some(&SecretString::new("kwp_abd".into()))
        ));
        assert!(!proof_matches(Some(&stored), None));
        assert!(!proof_matches(None, Some(&proof)));
        // The hash itself is not a proof.
        assert!(!proof_matches(
            Some(&stored),
            Some(&SecretString::new(stored.clone()))
        ));
    }
}
