//! keyward's secrets at rest: sealing and self-redacting secret types.
//!
//! Place in the layers: a pure crate above `keyward-model`. It does no IO: the caller reads key
//! files and passphrases and hands their contents in. Randomness comes from `ring`'s system RNG
//! through [`SecureRandom`](ring::rand::SecureRandom) parameters so that tests can reason about it.
//!
//! What it must never do: print, log or serialize a secret. [`SecretString`] and [`SecretBytes`]
//! show `[redacted]` in `Debug` and `Display` and zeroize their memory on drop.
//!
//! Sealing is AES-256-GCM (`ring`). The associated data of every ciphertext names its
//! [`SealContext`]: the purpose (such as `directory.bind_password`) and the row it belongs to, so
//! that a ciphertext copied to another row or used for another purpose fails to open instead of
//! being accepted. A wrong key or a changed byte is an [`Error::CannotOpen`], never garbage.
//!
//! Passwords follow a per-directory [`PasswordPolicy`]. [`PasswordPolicy::generate`] draws
//! every character from the policy's alphabet by rejection sampling on CSPRNG bytes, so no
//! character is likelier than another, and throws away whole candidates that miss an enabled
//! class or contain the account's names; at least three classes are always enabled, so
//! generated passwords also meet Active Directory complexity. [`PasswordPolicy::validate`]
//! checks a password a person gives against the minimum length and the complexity rules
//! (three character categories, neither the sAMAccountName nor a display-name token) and
//! reports every broken rule as a [`Violation`] whose message never quotes the password.
//!
//! ```
//! use keyward_password::{Kek, SealContext};
//! use ring::rand::SystemRandom;
//!
//! let rng = SystemRandom::new();
//! let kek = Kek::generate(&rng).unwrap();
//! let ctx = SealContext::new("directory.bind_password", "corp1").unwrap();
//! let sealed = kek.seal(b"Passw0rd!", &ctx, &rng).unwrap();
//! assert_eq!(kek.open(&sealed, &ctx).unwrap().expose(), b"Passw0rd!");
//! let other = SealContext::new("directory.bind_password", "corp2").unwrap();
//! assert!(kek.open(&sealed, &other).is_err());
//! ```

mod error;
mod generate;
mod hex;
mod kek;
mod policy;
mod seal;
mod secret;

pub use error::{Error, Result};
pub use hex::{lower_hex, sha256_hex, sha256_matches};
pub use kek::{KDF_ITERATIONS, Kek, MIN_PASSPHRASE_CHARS};
pub use policy::{
    AccountNames, DirectoryRules, MAX_PASSWORD_CHARS, MIN_GENERATED_CHARS, PasswordPolicy,
    PolicyViolations, SYMBOLS, Violation,
};
pub use seal::{SealContext, Sealed};
pub use secret::{SecretBytes, SecretString};
