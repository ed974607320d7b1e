//! The one error type of this crate, with stable codes for people and scripts.

use std::fmt;

use keyward_model::WorkstationStatus;
use uuid::Uuid;

/// A stable, machine-readable error code, the same in API bodies and CLI output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Input that breaks a rule (bad e-mail, bad name, bad cursor).
    InvalidInput,
    /// The thing asked for does not exist.
    NotFound,
    /// A uniqueness rule would be broken.
    Conflict,
    /// No credential, or one that is wrong, revoked or unknown; the message names which kind
    /// of credential was wanted.
    Unauthorized,
    /// The admin API token is right but has expired.
    TokenExpired,
    /// The admin API token lacks the scope the route needs.
    InsufficientScope,
    /// A workstation registration without the right registration secret.
    RegistrationRefused,
    /// Too many requests from one address; retry later.
    RateLimited,
    /// The configuration cannot be used.
    InvalidConfig,
    /// The database cannot be reached.
    Unavailable,
    /// The key's status does not allow the operation (docs/product.md §2).
    InvalidTransition,
    /// Another process holds the lease of the work (a sync of the directory is running).
    LeaseBusy,
    /// The workstation's status does not allow the change (approve a revoked one, say).
    WorkstationState,
    /// The invitation was already used, or its link expired.
    InvitationState,
    /// Another operation changed the record first.
    ConcurrentChange,
    /// The activation code is wrong; attempts remain.
    WrongActivationCode,
    /// The activation code has expired.
    ActivationCodeExpired,
    /// The last attempt was wrong: the key is now Locked.
    ActivationAttemptsExhausted,
    /// A directory (LDAP/AD) could not be reached or refused an operation.
    Directory,
    /// The workstation is registered but not (or no longer) approved.
    WorkstationNotApproved,
    /// The key is held by another workstation (or by none).
    KeyNotHeld,
    /// Taking over an Active key needs the key proof, read from the key itself.
    KeyProofRequired,
    /// The account already has a password rotation under way.
    RotationInFlight,
    /// A given password breaks the directory's password policy.
    PasswordPolicy,
    /// The operation is not supported.
    NotSupported,
    /// The database's schema is older than this keyward, or absent: run `keyward migrate`.
    SchemaBehind,
    /// The database's schema was migrated by a newer keyward.
    SchemaAhead,
    /// Anything else; details are in the log, not in the message.
    Internal,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [Self; 28] = [
        Self::InvalidInput,
        Self::NotFound,
        Self::Conflict,
        Self::Unauthorized,
        Self::TokenExpired,
        Self::InsufficientScope,
        Self::RegistrationRefused,
        Self::RateLimited,
        Self::InvalidConfig,
        Self::Unavailable,
        Self::InvalidTransition,
        Self::LeaseBusy,
        Self::WorkstationState,
        Self::InvitationState,
        Self::ConcurrentChange,
        Self::WrongActivationCode,
        Self::ActivationCodeExpired,
        Self::ActivationAttemptsExhausted,
        Self::Directory,
        Self::WorkstationNotApproved,
        Self::KeyNotHeld,
        Self::KeyProofRequired,
        Self::RotationInFlight,
        Self::PasswordPolicy,
        Self::NotSupported,
        Self::SchemaBehind,
        Self::SchemaAhead,
        Self::Internal,
    ];

    /// The code named `code` (as [`ErrorCode::as_str`] writes it), e.g. from an API answer.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// The code as text, e.g. `not_found`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Unauthorized => "unauthorized",
            Self::TokenExpired => "token_expired",
            Self::InsufficientScope => "insufficient_scope",
            Self::RegistrationRefused => "registration_refused",
            Self::RateLimited => "rate_limited",
            Self::InvalidConfig => "invalid_config",
            Self::Unavailable => "unavailable",
            Self::InvalidTransition => "invalid_transition",
            Self::LeaseBusy => "lease_busy",
            Self::WorkstationState => "workstation_state",
            Self::InvitationState => "invitation_state",
            Self::ConcurrentChange => "concurrent_change",
            Self::WrongActivationCode => "wrong_activation_code",
            Self::ActivationCodeExpired => "activation_code_expired",
            Self::ActivationAttemptsExhausted => "activation_attempts_exhausted",
            Self::Directory => "directory_error",
            Self::WorkstationNotApproved => "workstation_not_approved",
            Self::KeyNotHeld => "key_not_held",
            Self::KeyProofRequired => "key_proof_required",
            Self::RotationInFlight => "rotation_in_flight",
            Self::PasswordPolicy => "password_policy",
            Self::NotSupported => "not_supported",
            Self::SchemaBehind => "schema_behind",
            Self::SchemaAhead => "schema_ahead",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of credential a refused request needed. An [`Error::Unauthorized`] names it, and
/// never the value presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credential {
    /// An admin API token (`Authorization: Bearer kw_…`).
    AdminToken,
    /// A workstation's credential on the agent API (`Authorization: Bearer kww_…`).
    Workstation,
    /// A client certificate signed by the server's client CA (the agent API under mutual TLS).
    ClientCertificate,
    /// A console session (the cookie set at sign-in).
    ConsoleSession,
    /// A registered passkey or security key of an active console admin (sign-in).
    AdminPasskey,
    /// A console enrollment link that is valid, unused and not expired.
    EnrollmentLink,
}

impl Credential {
    /// The stable name, e.g. `admin_token`, for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AdminToken => "admin_token",
            Self::Workstation => "workstation_credential",
            Self::ClientCertificate => "client_certificate",
            Self::ConsoleSession => "console_session",
            Self::AdminPasskey => "admin_passkey",
            Self::EnrollmentLink => "enrollment_link",
        }
    }

    /// What the caller must present, in one line.
    const fn wanted(self) -> &'static str {
        match self {
            Self::AdminToken => {
                "a valid admin API token is required (Authorization: Bearer <token>)"
            }
            Self::Workstation => {
                "a valid workstation credential is required (Authorization: Bearer kww_…); \
                 register with POST /api/v1/agent/register"
            }
            Self::ClientCertificate => {
                "the agent API needs a client certificate signed by the server's client CA \
                 (mutual TLS, tls.client_ca_file)"
            }
            Self::ConsoleSession => {
                "sign in to the console: the session is missing, has ended or has expired"
            }
            Self::AdminPasskey => {
                "sign-in failed: use a passkey or security key registered to an active admin \
                 with this e-mail"
            }
            Self::EnrollmentLink => {
                "this enrollment link is not valid: it is unknown, used or expired; ask for a \
                 new one with `keyward admins link`"
            }
        }
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an invitation cannot be used or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvitationProblem {
    /// It was accepted already, through this link or another one; it stays accepted.
    AlreadyUsed,
    /// Its links have expired.
    Expired,
}

/// The message of [`Error::InvitationState`]: the invitation by id for an administrator, "this
/// invitation link" for the person who opened one.
fn invitation_message(invitation: Option<&Uuid>, problem: InvitationProblem) -> String {
    let what = invitation.map_or_else(
        || "this invitation link".to_owned(),
        |id| format!("invitation {id}"),
    );
    match problem {
        InvitationProblem::AlreadyUsed => format!("{what} was already used"),
        InvitationProblem::Expired if invitation.is_some() => {
            format!("{what} has expired; resend it")
        }
        InvitationProblem::Expired => format!("{what} has expired; ask for a new one"),
    }
}

/// Migration names for a one-line message: the first three, then how many more.
fn names(list: &[String]) -> String {
    const SHOWN: usize = 3;
    let shown = list
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > SHOWN {
        format!("{shown} and {} more", list.len() - SHOWN)
    } else {
        shown
    }
}

/// The message of [`Error::SchemaBehind`].
fn schema_behind_message(pending: &[String]) -> String {
    let count = match pending.len() {
        1 => "1 migration".to_owned(),
        n => format!("{n} migrations"),
    };
    format!(
        "the database schema is {count} behind this keyward ({}): run `keyward migrate` first",
        names(pending)
    )
}

/// What went wrong in an operation, said so that a person knows what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that breaks a rule.
    #[error("{0}")]
    InvalidInput(String),
    /// The thing asked for does not exist.
    #[error("{what} {key} not found")]
    NotFound {
        /// What kind of thing.
        what: &'static str,
        /// How it was named.
        key: String,
    },
    /// A uniqueness rule would be broken.
    #[error("{what} {key} already exists")]
    Conflict {
        /// What kind of thing.
        what: &'static str,
        /// The clashing value.
        key: String,
    },
    /// One request names the same thing twice (a serial in one import).
    #[error("{what} {key} is given twice")]
    GivenTwice {
        /// What kind of thing.
        what: &'static str,
        /// The value given twice, normalized.
        key: String,
    },
    /// The admin is disabled: no link, no sign-in.
    #[error("the admin {email} is disabled")]
    AdminDisabled {
        /// The admin's e-mail.
        email: String,
    },
    /// The credential is missing, malformed, unknown or revoked. Names the kind of credential
    /// wanted and deliberately says no more: never the value presented, nor which part of it
    /// was wrong.
    #[error("{}", credential.wanted())]
    Unauthorized {
        /// The credential that was wanted.
        credential: Credential,
    },
    /// The token is right (its holder presented its secret) but expired; says when, never the
    /// secret.
    #[error(
        "the admin API token {name} expired at {}; create a new one with `keyward token create`",
        at.to_rfc3339()
    )]
    TokenExpired {
        /// The token's name.
        name: keyward_model::TokenName,
        /// When it expired.
        at: chrono::DateTime<chrono::Utc>,
    },
    /// The token may not do what the route does.
    #[error(
        "the admin API token {token} has the scopes {has}; this route needs the scope `{needed}` \
         (or `admin`)"
    )]
    InsufficientScope {
        /// The token's name.
        token: keyward_model::TokenName,
        /// The scope the route needs.
        needed: keyward_model::Scope,
        /// What the token has.
        has: keyward_model::Scopes,
    },
    /// A registration that needs the registration secret came without the right one.
    #[error("{0}")]
    RegistrationRefused(String),
    /// The configuration cannot be used; the message names the key and the file.
    #[error("configuration error: {0}")]
    Config(String),
    /// The database cannot be reached.
    #[error("database unavailable: {source}; check database_url and that the server is running")]
    Unavailable {
        /// The store's error.
        #[source]
        source: keyward_store::Error,
    },
    /// A configured limit would be exceeded (e.g. keys per employee).
    #[error("{0}")]
    LimitReached(String),
    /// The key's status does not allow the operation.
    #[error("{0}")]
    InvalidTransition(String),
    /// Another process holds the lease of the directory's sync.
    #[error(
        "a sync of {directory} is already running (another process holds its lease); try again \
         later"
    )]
    LeaseBusy {
        /// The directory.
        directory: String,
    },
    /// `keyward-server` instances hold live leases on the database, and the operation must not
    /// run beside them.
    #[error(
        "{count} keyward-server instance(s) use this database: {list}; stop them first (a \
         killed server's lease ends within a minute)"
    )]
    ServersRunning {
        /// How many.
        count: usize,
        /// Host, pid and lease end of each.
        list: String,
    },
    /// The workstation's status does not allow the change.
    #[error("workstation {id} is {status} and cannot become {to}")]
    WorkstationState {
        /// The workstation.
        id: Uuid,
        /// Its status.
        status: WorkstationStatus,
        /// The status asked for.
        to: WorkstationStatus,
    },
    /// The invitation was already used, or its link expired.
    #[error("{}", invitation_message(invitation.as_ref(), *problem))]
    InvitationState {
        /// The invitation, when an administrator named it; `None` for a link token (the
        /// person holding the link is not told the invitation's id).
        invitation: Option<Uuid>,
        /// What is wrong.
        problem: InvitationProblem,
    },
    /// Another operation changed the record first.
    #[error("{0}")]
    ConcurrentChange(String),
    /// Wrong activation code.
    #[error("wrong activation code; {attempts_left} attempt(s) left before the key locks")]
    WrongActivationCode {
        /// Attempts left.
        attempts_left: u8,
    },
    /// Expired activation code.
    #[error("the activation code has expired; an administrator must issue a new one")]
    ActivationCodeExpired,
    /// The last attempt was wrong and the key is now Locked.
    #[error(
        "wrong activation code and no attempts left: the key is now locked; an administrator must unlock it"
    )]
    ActivationAttemptsExhausted,
    /// A directory operation failed; the message says what to do.
    #[error("{0}")]
    Directory(#[from] keyward_directory::Error),
    /// The workstation may not use the agent API (yet).
    #[error("{0}")]
    WorkstationNotApproved(String),
    /// The key is not held by the calling workstation.
    #[error("{0}")]
    KeyNotHeld(String),
    /// Another workstation holds the Active key, and the key proof was missing or wrong.
    #[error("{0}")]
    KeyProofRequired(String),
    /// The account already has a rotation under way.
    #[error("{0}")]
    RotationInFlight(String),
    /// A given password breaks the policy; the message lists each broken rule.
    #[error("{0}")]
    PasswordPolicy(String),
    /// The operation is not supported.
    #[error("{0}")]
    NotSupported(String),
    /// The database has no keyward schema yet (no table at all).
    #[error(
        "the database has no keyward schema yet: run `keyward migrate` first (keyward-server \
         creates it on its first start)"
    )]
    SchemaEmpty,
    /// The schema is older than this keyward: some of its migrations are not applied.
    #[error("{}", schema_behind_message(pending))]
    SchemaBehind {
        /// The migrations `keyward migrate` would apply, oldest first.
        pending: Vec<String>,
    },
    /// The schema was migrated by a newer keyward: migrations this build does not know are
    /// applied.
    #[error(
        "the database schema was migrated by a newer keyward (unknown {}): upgrade this keyward \
         or use the matching version",
        names(unknown)
    )]
    SchemaAhead {
        /// The applied migrations this build does not know, sorted.
        unknown: Vec<String>,
    },
    /// Anything else.
    #[error("internal error: {source}")]
    Internal {
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Conflict { .. }
            | Self::LimitReached(_)
            | Self::GivenTwice { .. }
            | Self::AdminDisabled { .. } => ErrorCode::Conflict,
            Self::Unauthorized { .. } => ErrorCode::Unauthorized,
            Self::TokenExpired { .. } => ErrorCode::TokenExpired,
            Self::InsufficientScope { .. } => ErrorCode::InsufficientScope,
            Self::RegistrationRefused(_) => ErrorCode::RegistrationRefused,
            Self::Config(_) => ErrorCode::InvalidConfig,
            Self::Unavailable { .. } => ErrorCode::Unavailable,
            Self::InvalidTransition(_) => ErrorCode::InvalidTransition,
            Self::LeaseBusy { .. } | Self::ServersRunning { .. } => ErrorCode::LeaseBusy,
            Self::WorkstationState { .. } => ErrorCode::WorkstationState,
            Self::InvitationState { .. } => ErrorCode::InvitationState,
            Self::ConcurrentChange(_) => ErrorCode::ConcurrentChange,
            Self::WrongActivationCode { .. } => ErrorCode::WrongActivationCode,
            Self::ActivationCodeExpired => ErrorCode::ActivationCodeExpired,
            Self::ActivationAttemptsExhausted => ErrorCode::ActivationAttemptsExhausted,
            Self::Directory(_) => ErrorCode::Directory,
            Self::WorkstationNotApproved(_) => ErrorCode::WorkstationNotApproved,
            Self::KeyNotHeld(_) => ErrorCode::KeyNotHeld,
            Self::KeyProofRequired(_) => ErrorCode::KeyProofRequired,
            Self::RotationInFlight(_) => ErrorCode::RotationInFlight,
            Self::PasswordPolicy(_) => ErrorCode::PasswordPolicy,
            Self::NotSupported(_) => ErrorCode::NotSupported,
            Self::SchemaEmpty | Self::SchemaBehind { .. } => ErrorCode::SchemaBehind,
            Self::SchemaAhead { .. } => ErrorCode::SchemaAhead,
            Self::Internal { .. } => ErrorCode::Internal,
        }
    }
}

impl From<keyward_store::Error> for Error {
    fn from(err: keyward_store::Error) -> Self {
        use keyward_store::Error as S;
        match err {
            S::NotFound { what, key } => Self::NotFound { what, key },
            S::Conflict { what, key } => Self::Conflict { what, key },
            S::InvalidCursor { .. } | S::Backup { .. } => Self::InvalidInput(err.to_string()),
            S::Stale { .. } | S::LeaseLost { .. } => Self::ConcurrentChange(err.to_string()),
            S::Unavailable { .. } | S::InvalidUrl { .. } => Self::Unavailable { source: err },
            S::Schema { .. } => Self::Config(err.to_string()),
            other => Self::Internal {
                source: Box::new(other),
            },
        }
    }
}

impl From<keyward_keys::Error> for Error {
    fn from(err: keyward_keys::Error) -> Self {
        use keyward_keys::Error as K;
        match err {
            K::InvalidTransition { .. } | K::GuardFailed { .. } => {
                Self::InvalidTransition(err.to_string())
            }
            K::InvalidReason { .. } | K::InvalidInput(_) | K::SerialList(_) => {
                Self::InvalidInput(err.to_string())
            }
            K::InvalidPolicy(_) | K::PepperMissing => Self::Config(err.to_string()),
            K::Random => Self::Internal {
                source: Box::new(err),
            },
        }
    }
}

impl From<keyward_keys::SerialListError> for Error {
    fn from(err: keyward_keys::SerialListError) -> Self {
        Self::InvalidInput(err.to_string())
    }
}

impl From<keyward_model::Error> for Error {
    fn from(err: keyward_model::Error) -> Self {
        Self::InvalidInput(err.to_string())
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_parses_back_from_its_text_and_the_texts_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            assert!(seen.insert(code.as_str()), "{code} twice");
        }
        assert_eq!(ErrorCode::parse("no_such_code"), None);
    }

    #[test]
    fn the_new_variants_have_their_own_codes_and_the_old_messages() {
        let id = Uuid::nil();
        let cases = [
            (
                Error::LeaseBusy {
                    directory: "corp1".into(),
                },
                "lease_busy",
                "a sync of corp1 is already running (another process holds its lease); try \
                 again later",
            ),
            (
                Error::WorkstationState {
                    id,
                    status: WorkstationStatus::Revoked,
                    to: WorkstationStatus::Approved,
                },
                "workstation_state",
                "workstation 00000000-0000-0000-0000-000000000000 is revoked and cannot become \
                 approved",
            ),
            (
                Error::InvitationState {
                    invitation: Some(id),
                    problem: InvitationProblem::AlreadyUsed,
                },
                "invitation_state",
                "invitation 00000000-0000-0000-0000-000000000000 was already used",
            ),
            (
                Error::InvitationState {
                    invitation: None,
                    problem: InvitationProblem::AlreadyUsed,
                },
                "invitation_state",
                "this invitation link was already used",
            ),
            (
                Error::InvitationState {
                    invitation: None,
                    problem: InvitationProblem::Expired,
                },
                "invitation_state",
                "this invitation link has expired; ask for a new one",
            ),
        ];
        for (err, code, message) in cases {
            assert_eq!(err.code().as_str(), code, "{err}");
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn unauthorized_names_the_credential_and_nothing_else() {
        for (credential, names) in [
            (Credential::AdminToken, "admin API token"),
            (Credential::Workstation, "workstation credential"),
            (Credential::ClientCertificate, "client certificate"),
        ] {
            let err = Error::Unauthorized { credential };
            assert_eq!(err.code(), ErrorCode::Unauthorized);
            let message = err.to_string();
            assert!(message.contains(names), "{credential}: {message}");
        }
        assert_eq!(
            Error::Unauthorized {
                credential: Credential::AdminToken
            }
            .to_string(),
            "a valid admin API token is required (Authorization: Bearer <token>)"
        );
    }

    #[test]
    fn a_schema_mismatch_is_one_line_that_names_what_to_run() {
        let list = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let cases = [
            (
                Error::SchemaBehind {
                    pending: list(&["m0009_a"]),
                },
                "schema_behind",
                "the database schema is 1 migration behind this keyward (m0009_a): run \
                 `keyward migrate` first",
            ),
            (
                Error::SchemaBehind {
                    pending: list(&["m1", "m2", "m3", "m4", "m5"]),
                },
                "schema_behind",
                "the database schema is 5 migrations behind this keyward (m1, m2, m3 and 2 \
                 more): run `keyward migrate` first",
            ),
            (
                Error::SchemaEmpty,
                "schema_behind",
                "the database has no keyward schema yet: run `keyward migrate` first \
                 (keyward-server creates it on its first start)",
            ),
            (
                Error::SchemaAhead {
                    unknown: list(&["m0011_x"]),
                },
                "schema_ahead",
                "the database schema was migrated by a newer keyward (unknown m0011_x): upgrade \
                 this keyward or use the matching version",
            ),
        ];
        for (err, code, message) in cases {
            assert_eq!(err.code().as_str(), code, "{err}");
            assert_eq!(err.to_string(), message);
        }
    }
}
