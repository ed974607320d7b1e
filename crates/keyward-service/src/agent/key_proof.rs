//! The key proof: how a workstation proves it has a key in hand.
//!
//! A serial number is printed on the key and is no secret, so "the workstation that last
//! reported the serial" cannot be what decides where passwords go. When a key becomes Active
//! through a workstation (an activation or a resume, both with a code the user typed there),
//! the same write makes that workstation the holder and gives it a random 256-bit proof to
//! store on the key; the server keeps only its SHA-256. Every later status change releases the
//! holder (see [`keyward_keys::holder_rule`]); a workstation becomes the holder again only by
//! presenting the proof, which it can read only from the key in its hands. The holder can ask
//! for a new proof (an agent that crashed before it stored the first one); the old one stops
//! working.

use keyward_keys::KeyStatus;
use keyward_model::NewAuditRecord;
use keyward_password::{SecretString, sha256_hex, sha256_matches};
use keyward_store::HolderChange;
use serde_json::json;

use super::{Agent, actor};
use crate::secrets::random_token_text;
use crate::{Error, Result, Workstation};

/// What every key proof starts with, so that one found in a log or a file is recognised.
const PROOF_PREFIX: &str = "kwp_";

/// Whether `presented` is the proof whose SHA-256 is `stored`, compared in constant time. No
/// stored proof (a key activated before proofs existed) matches nothing.
pub(super) fn proof_matches(stored: Option<&str>, presented: Option<&SecretString>) -> bool {
    match (stored, presented) {
        (Some(stored), Some(presented)) => sha256_matches(stored, presented.expose().as_bytes()),
        _ => false,
    }
}

/// A new key proof (shown once) and its SHA-256 (stored).
pub(crate) fn new_key_proof() -> Result<(SecretString, String)> {
    let proof = SecretString::new(format!("{PROOF_PREFIX}{}", random_token_text()?.expose()));
    let hash = sha256_hex(proof.expose().as_bytes());
    Ok((proof, hash))
}

impl Agent<'_> {
    /// A new proof for an Active key this workstation holds; the previous one stops working.
    pub async fn renew_proof(&self, ws: &Workstation, serial: &str) -> Result<SecretString> {
        let key = self.held(ws, serial).await?;
        if key.status != KeyStatus::Active {
            return Err(Error::InvalidTransition(format!(
                "key {} is {}; only an Active key's proof is renewed",
                key.serial, key.status
            )));
        }
        let (proof, hash) = new_key_proof()?;
        self.change_holder(ws, &key, Some(hash), "key.proof_issued", "renewed")
            .await?;
        Ok(proof)
    }

    /// Makes `ws` the holder of `key` (and stores a new proof's hash, if given), compare-and-set
    /// on the key's version, with its audit record.
    pub(super) async fn change_holder(
        &self,
        ws: &Workstation,
        key: &keyward_keys::Key,
        new_proof_hash: Option<String>,
        action: &str,
        why: &str,
    ) -> Result<keyward_keys::Key> {
        let now = self.ctx.clock.now();
        Ok(self
            .ctx
            .store
            .change_key_holder(&HolderChange {
                serial: key.serial.clone(),
                expected_version: key.version,
                holder: ws.id.to_string(),
                new_proof_hash,
                audit: NewAuditRecord {
                    actor: actor(ws).to_string(),
                    action: action.into(),
                    subject: format!("key:{}", key.serial),
                    detail: json!({
                        "workstation": ws.id,
                        "previous": key.linked_workstation,
                        "status": key.status.as_str(),
                        "why": why,
                    }),
                    at: now,
                },
                now,
            })
            .await?)
    }

    /// Records a refused proof of possession and returns the refusal.
    pub(super) async fn refuse_proof(
        &self,
        ws: &Workstation,
        key: &keyward_keys::Key,
        presented: Option<&SecretString>,
        what: &str,
    ) -> Error {
        let record = NewAuditRecord {
            actor: actor(ws).to_string(),
            action: "key.takeover_refused".into(),
            subject: format!("key:{}", key.serial),
            detail: json!({
                "workstation": ws.id,
                "holder": key.linked_workstation,
                "status": key.status.as_str(),
                "proof": if presented.is_some() { "wrong" } else { "missing" },
                "for": what,
            }),
            at: self.ctx.clock.now(),
        };
        if let Err(e) = self.ctx.store.append_audit(&record).await {
            return e.into();
        }
        Error::KeyProofRequired(format!(
            "{what} key {} needs the key proof stored on the key (header Keyward-Key-Proof);              a serial number alone proves nothing. A key without a proof gets one when the user              types an activation code on the workstation",
            key.serial
        ))
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
