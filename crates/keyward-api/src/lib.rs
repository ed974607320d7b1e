//! The admin REST API's wire types: every request and answer body of `/api/v1` that an
//! administrator's tool sends or reads, with its OpenAPI schema and the conversion from
//! `keyward-service`'s types.
//!
//! Two programs use them. The server answers with them. The CLI prints them: in direct mode it
//! makes them from the same service calls the server makes, and with `--server` it reads them
//! from the server's answers. One type per answer is what makes the two modes print the same
//! thing.
//!
//! This crate must never do IO: no HTTP, no database, no directory. It holds data shapes and
//! pure conversions only. The agent API's bodies are the server's own business and stay there.

mod admins;
mod audit;
mod directories;
mod employees;
mod error;
mod health;
mod invitations;
mod keys;
mod passwords;
mod sync;
mod tokens;
mod workstations;

pub use admins::{
    AdminCredentialDto, AdminDetailDto, AdminDto, CreateAdminRequest, EnrollmentLinkDto,
};
pub use audit::{AuditListParams, AuditPage, AuditRecordDto};
pub use directories::{
    DirectoryDto, DirectoryGroupDto, DirectorySupportDto, DirectoryTestDto, PasswordPoliciesDto,
    PasswordPolicyDto, SampledMemberDto, ServiceAccountDto,
};
pub use employees::{
    AccountDto, CreateEmployeeRequest, EmployeeDetailDto, EmployeeDto, EmployeePage, PageParams,
};
pub use error::{ErrorBody, ErrorDetail};
pub use health::HealthDto;
pub use invitations::{InvitationDto, MailSendDto};
pub use keys::{
    ActivationCodeRequest, AssignKeyRequest, ImportKeysRequest, KeyDto, KeyListParams, KeyOwnerDto,
    KeyPage, KeyWithCodeDto, ReasonRequest, SuspendKeyRequest,
};
pub use passwords::{
    AdvanceReportDto, PasswordStatusDto, PasswordStatusParams, RotateRequest, SetPasswordRequest,
};
pub use sync::{RunChangesDto, RunListParams, RunSummary, SyncRequest};
pub use tokens::{CreateTokenRequest, CreatedTokenDto, TokenDto};
pub use workstations::{WorkstationDto, WorkstationPage};

/// What `Debug` prints in place of a secret.
pub const REDACTED: &str = "[redacted]";
