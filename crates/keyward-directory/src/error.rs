//! The one error type of this crate. Each variant says what to do, in one line; the ldap3 error
//! stays in `#[source]`.

/// What went wrong talking to a directory.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory configuration cannot be used.
    #[error("directory {directory}: invalid configuration: {reason}")]
    Config {
        /// The directory's name.
        directory: String,
        /// What is wrong.
        reason: String,
    },
    /// No configured URL could be reached.
    #[error("directory {directory}: cannot connect to any of {urls}: {last}")]
    Unreachable {
        /// The directory's name.
        directory: String,
        /// The URLs tried, comma-separated.
        urls: String,
        /// The last failure, in one line.
        last: String,
    },
    /// The URL of a pinned domain controller reached another controller (a load-balanced or
    /// re-pointed name): that one may not hold what was written on the pinned one.
    #[error(
        "{url} answered as domain controller {found:?}, but this step must go to {pinned:?} \
         (the controller its first write was tried on); retried until that controller answers \
         there, or release the pin (docs/operations.md, Password rotation, \"Several domain controllers\")"
    )]
    WrongController {
        /// The pinned URL.
        url: String,
        /// The pinned controller's dnsHostName.
        pinned: String,
        /// What answered instead.
        found: String,
    },
    /// TLS failed (certificate not trusted, name mismatch, handshake).
    #[error(
        "{url}: TLS failed: {detail}; check ca_file and that the URL's host is in the certificate"
    )]
    Tls {
        /// The URL.
        url: String,
        /// What the TLS layer said.
        detail: String,
    },
    /// The bind was refused.
    #[error("bind as {who} refused: {reason}")]
    Bind {
        /// The DN or name that tried to bind.
        who: String,
        /// AD's reason, decoded (wrong password, disabled, must change password …).
        reason: String,
    },
    /// The service account's Kerberos (GSSAPI) bind failed.
    #[error("directory {directory}: Kerberos bind as {principal} failed: {problem} ({detail})")]
    Kerberos {
        /// The directory's name.
        directory: String,
        /// The principal that tried to bind.
        principal: String,
        /// What went wrong, with what to do.
        problem: crate::KerberosProblem,
        /// What the Kerberos library or the server said, in one line (never a key).
        detail: String,
    },
    /// An operation that needs an encrypted connection was attempted without one.
    #[error(
        "{operation} needs an encrypted connection (ldaps:// or StartTLS); refusing to send it in clear"
    )]
    NeedsTls {
        /// What was refused.
        operation: &'static str,
    },
    /// A password operation on a directory whose certificate is not verified
    /// (`insecure_skip_tls_verify`): whoever sits on the path could read the password.
    #[error(
        "{operation} is refused for directory {directory}: insecure_skip_tls_verify is on, so the \
         server's certificate is not verified and anyone on the path could read the password; \
         configure ca_file instead"
    )]
    NeedsVerifiedTls {
        /// What was refused.
        operation: &'static str,
        /// The directory.
        directory: String,
    },
    /// A group name or DN matched no group.
    #[error("group {group:?} not found under {base}; check the name (or give its DN)")]
    GroupNotFound {
        /// The name or DN given.
        group: String,
        /// Where it was searched.
        base: String,
    },
    /// A group name matched several groups.
    #[error("group name {group:?} is ambiguous: {matches}; give the group's DN instead")]
    GroupAmbiguous {
        /// The name given.
        group: String,
        /// The DNs found, `; `-separated.
        matches: String,
    },
    /// The server lacks something keyward needs and has no correct fallback.
    #[error("the directory does not support {what}: {hint}")]
    Unsupported {
        /// The missing feature.
        what: &'static str,
        /// What to do.
        hint: &'static str,
    },
    /// A search ended in an error: the whole read is void (never a short result).
    #[error("search failed ({code}): {detail}; nothing read in this search may be used")]
    Search {
        /// The LDAP result code.
        code: u32,
        /// The server's text, in one line.
        detail: String,
    },
    /// The connection broke or an operation timed out.
    #[error("directory connection failed: {source}")]
    Connection {
        /// The ldap3 error.
        #[source]
        source: ldap3::LdapError,
    },
    /// AD refused a password because of its policy (length, complexity, history, age).
    #[error("the password does not meet the domain's policy ({code}): {detail}")]
    PasswordPolicy {
        /// AD's 8-hex-digit code, e.g. `0000052D`.
        code: String,
        /// AD's text.
        detail: String,
    },
    /// The old password given for a user change is wrong.
    #[error("the old password is wrong")]
    WrongOldPassword,
    /// The bound account may not change that password.
    #[error(
        "insufficient access to change the password of {dn}: the bind account needs the Reset Password right"
    )]
    InsufficientAccess {
        /// The account.
        dn: String,
    },
    /// AD is unwilling to perform the operation.
    #[error(
        "the directory is unwilling to perform the operation ({detail}); on Windows AD this usually means the connection is not encrypted"
    )]
    Unwilling {
        /// AD's text.
        detail: String,
    },
    /// The LDIF input is not valid.
    #[error("LDIF line {line}: {reason}")]
    Ldif {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Reading a local file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl From<ldap3::LdapError> for Error {
    fn from(source: ldap3::LdapError) -> Self {
        Self::Connection { source }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Folds a server message into one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
