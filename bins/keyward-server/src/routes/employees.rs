//! `/api/v1/employees`.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::auth::Authenticated;
use crate::dto::{
    ApiJson, ApiPath, ApiQuery, CreateEmployeeRequest, EmployeeDetailDto, EmployeePage, ErrorBody,
    PageParams,
};
use crate::error::ApiError;
use crate::state::AppState;

/// Lists employees in creation order, one page at a time.
#[utoipa::path(get, path = "/api/v1/employees", tag = "employees",
    params(PageParams),
    security(("admin_token" = ["read"])),
    responses(
        (status = 200, description = "One page of employees", body = EmployeePage),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 422, description = "Bad cursor or limit", body = ErrorBody),
    ))]
pub(crate) async fn list_employees(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<EmployeePage>, ApiError> {
    let employees = state.keyward.employees();
    let page = employees.list(params.after, params.limit).await?;
    let accounts = employees.accounts_of_page(&page.items).await?;
    Ok(Json(EmployeePage::new(page, accounts)))
}

/// Creates an employee for a person in no directory.
#[utoipa::path(post, path = "/api/v1/employees", tag = "employees",
    request_body = CreateEmployeeRequest,
    security(("admin_token" = ["sync"])),
    responses(
        (status = 201, description = "Created (with no accounts)", body = EmployeeDetailDto),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 409, description = "An employee with this e-mail exists", body = ErrorBody),
        (status = 422, description = "Invalid e-mail or display name", body = ErrorBody),
    ))]
pub(crate) async fn create_employee(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiJson(body): ApiJson<CreateEmployeeRequest>,
) -> Result<(StatusCode, Json<EmployeeDetailDto>), ApiError> {
    let employee = state
        .keyward
        .employees()
        .create(&body.email, &body.display_name, &auth.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(EmployeeDetailDto::new(employee, Vec::new())),
    ))
}

/// One employee with its directory accounts, by id or e-mail address.
#[utoipa::path(get, path = "/api/v1/employees/{employee}", tag = "employees",
    params(("employee" = String, Path, description = "Employee id (a UUID) or e-mail address")),
    security(("admin_token" = ["read"])),
    responses(
        (status = 200, description = "The employee", body = EmployeeDetailDto),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 404, description = "No such employee", body = ErrorBody),
        (status = 422, description = "Neither an id nor an e-mail address", body = ErrorBody),
    ))]
pub(crate) async fn get_employee(
    State(state): State<AppState>,
    ApiPath(employee): ApiPath<String>,
) -> Result<Json<EmployeeDetailDto>, ApiError> {
    let employees = state.keyward.employees();
    let found = employees.find(&employee).await?;
    let accounts = employees.accounts(found.id).await?;
    Ok(Json(EmployeeDetailDto::new(found, accounts)))
}
