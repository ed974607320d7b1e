//! Request and response bodies of the REST API: the admin API's live in `keyward-api` (the
//! CLI prints the same types); here are the extractors that turn a bad request into an
//! [`ApiError`].

use axum::extract::{FromRequest, FromRequestParts};
pub use keyward_api::*;

use crate::error::ApiError;

/// `axum::Json` whose rejections are [`ApiError`]s (JSON bodies, stable codes).
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct ApiJson<T>(pub T);

/// `axum::extract::Query` whose rejections are [`ApiError`]s.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct ApiQuery<T>(pub T);

/// `axum::extract::Path` whose rejections are [`ApiError`]s.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct ApiPath<T>(pub T);
