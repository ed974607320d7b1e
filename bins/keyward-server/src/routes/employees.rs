//! `/api/v1/employees`.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_model::EmployeeId;

use crate::auth::Authenticated;
use crate::dto::{
    AccountDto, ApiJson, ApiPath, ApiQuery, CreateEmployeeRequest, EmployeeDetailDto, EmployeeDto,
    EmployeePage, ErrorBody, PageParams,
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
    let page = state
        .keyward
        .employees()
        .list(params.after, params.limit)
        .await?;
    Ok(Json(EmployeePage {
        items: page.items.into_iter().map(EmployeeDto::from).collect(),
        next_cursor: page.next_cursor.map(|c| c.as_str().to_owned()),
    }))
}

/// Creates an employee for a person in no directory.
#[utoipa::path(post, path = "/api/v1/employees", tag = "employees",
    request_body = CreateEmployeeRequest,
    security(("admin_token" = ["sync"])),
    responses(
        (status = 201, description = "Created", body = EmployeeDto),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 409, description = "An employee with this e-mail exists", body = ErrorBody),
        (status = 422, description = "Invalid e-mail or display name", body = ErrorBody),
    ))]
pub(crate) async fn create_employee(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiJson(body): ApiJson<CreateEmployeeRequest>,
) -> Result<(StatusCode, Json<EmployeeDto>), ApiError> {
    let employee = state
        .keyward
        .employees()
        .create(&body.email, &body.display_name, &auth.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(employee.into())))
}

/// One employee with its directory accounts.
#[utoipa::path(get, path = "/api/v1/employees/{id}", tag = "employees",
    params(("id" = uuid::Uuid, Path, description = "Employee id")),
    security(("admin_token" = ["read"])),
    responses(
        (status = 200, description = "The employee", body = EmployeeDetailDto),
        (status = 401, description = "No valid admin token", body = ErrorBody),
        (status = 404, description = "No such employee", body = ErrorBody),
        (status = 422, description = "The id is not a UUID", body = ErrorBody),
    ))]
pub(crate) async fn get_employee(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EmployeeDetailDto>, ApiError> {
    let id: EmployeeId = id
        .parse()
        .map_err(|_| ApiError::invalid_input(format!("{id:?} is not an employee id (a UUID)")))?;
    let employees = state.keyward.employees();
    let employee = employees.get(id).await?;
    let accounts = employees.accounts(id).await?;
    Ok(Json(EmployeeDetailDto {
        employee: employee.into(),
        accounts: accounts.into_iter().map(AccountDto::from).collect(),
    }))
}
