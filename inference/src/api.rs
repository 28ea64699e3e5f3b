//! HTTP routes.
//!
//! The main port serves every route but `/metrics`, which has a port of its own
//! ([`metrics_router`]). Probes: `/healthz` answers whenever the process does (liveness must not depend on the
//! model); `/readyz` is 200 only with a valid model. `/predict?x=` is the simple API; `/v2/…`
//! is the Open Inference Protocol v2 REST API that KServe, Triton and MLServer speak. Every
//! error is a JSON `{"error": "…"}` with a status that says whose fault it is: 400 bad input,
//! 404 unknown model or route, 413 body too large, 503 no model.

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use model::Model;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::metrics::TrackLayer;
use crate::state::{AppState, ModelGuard};

/// Largest accepted request body. 1 MiB holds a batch of about 50 000 FP64 inputs.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The `platform` reported in model metadata.
const PLATFORM: &str = "mlops-lab-linear";

pub fn router(state: &'static AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"live": true})) }))
        .route("/readyz", get(readyz))
        .route("/predict", get(predict))
        .route("/v2", get(server_metadata))
        .route(
            "/v2/health/live",
            get(|| async { Json(json!({"live": true})) }),
        )
        .route("/v2/health/ready", get(v2_ready))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TrackLayer(&state.metrics))
        .with_state(state)
}

/// The metrics port's routes: `/metrics` alone. It is not on the main port, which the Ingress
/// exposes to the LAN.
pub fn metrics_router(state: &'static AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(no_route)
        .layer(TrackLayer(&state.metrics))
        .with_state(state)
}

async fn no_route(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
}

/// A JSON error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    fn unavailable(reason: String) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("model not ready: {reason}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

fn current(state: &AppState) -> Result<ModelGuard, ApiError> {
    state.model().map_err(ApiError::unavailable)
}

async fn readyz(State(state): State<&'static AppState>) -> Response {
    match state.model() {
        Ok(m) => Json(json!({
            "ready": true,
            "model_version": m.version,
            "trained_at": m.trained_at,
            "r2": m.metrics.r2,
        }))
        .into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "error": reason})),
        )
            .into_response(),
    }
}

#[derive(Debug, Serialize)]
struct Prediction<'a> {
    x: f64,
    y: f64,
    model_version: &'a str,
}

/// Parses one finite number; `what` names it in the error.
fn parse_finite(what: &str, raw: &str) -> Result<f64, ApiError> {
    match raw.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(ApiError::bad_request(format!(
            "{what} must be a finite number, got {raw:?}"
        ))),
        Err(_) => Err(ApiError::bad_request(format!(
            "{what} must be a number, got {raw:?}"
        ))),
    }
}

async fn predict(State(state): State<&'static AppState>, RawQuery(query): RawQuery) -> Response {
    answer_predict(state, query.as_deref())
}

/// `GET /predict?x=…`: the whole answer, success or error. The server calls this directly for
/// the hot path (see `server::Connection`); the router's route (HEAD, and the tests that drive
/// the router alone) calls it too, so both give the same answer.
pub fn answer_predict(state: &AppState, query: Option<&str>) -> Response {
    match prediction_body(state, query) {
        Ok(body) => ([(header::CONTENT_TYPE, JSON)], body).into_response(),
        Err(e) => e.into_response(),
    }
}

const JSON: &str = "application/json";

fn prediction_body(state: &AppState, query: Option<&str>) -> Result<Vec<u8>, ApiError> {
    let raw = query
        .and_then(|q| query_param(q, "x"))
        .ok_or_else(|| ApiError::bad_request("missing query parameter x, e.g. /predict?x=4.2"))?;
    let x = parse_finite("x", &raw)?;
    let model = current(state)?;
    if model.n_features() != 1 {
        return Err(ApiError::bad_request(format!(
            "model {} takes {} features; /predict takes one: use POST /v2/models/{}/infer",
            model.version,
            model.n_features(),
            state.model_name
        )));
    }
    let prediction = Prediction {
        x,
        y: model.predict(&[x]),
        model_version: &model.version,
    };
    // An answer is about 80 bytes: one allocation, no growth.
    let mut body = Vec::with_capacity(128);
    serde_json::to_writer(&mut body, &prediction).expect("a struct of numbers and a string");
    Ok(body)
}

/// The first value of `name` in a query string, percent-decoded. Hand-rolled because this is
/// the hot path: the usual serde route allocates a map per request.
fn query_param<'q>(query: &'q str, name: &str) -> Option<Cow<'q, str>> {
    let value = query
        .split('&')
        .find_map(|pair| match pair.split_once('=') {
            Some((k, v)) if k == name => Some(v),
            None if pair == name => Some(""),
            _ => None,
        })?;
    if !value.contains(['%', '+']) {
        return Some(Cow::Borrowed(value));
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match (
                    bytes.get(i + 1).and_then(|b| hex(*b)),
                    bytes.get(i + 2).and_then(|b| hex(*b)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(Cow::Owned(String::from_utf8_lossy(&out).into_owned()))
}

async fn metrics(State(state): State<&'static AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn server_metadata() -> Json<Value> {
    Json(
        json!({"name": "mlops-lab-inference", "version": env!("CARGO_PKG_VERSION"), "extensions": ["binary_tensor_data"]}),
    )
}

async fn v2_ready(State(state): State<&'static AppState>) -> Response {
    match state.model() {
        Ok(_) => Json(json!({"ready": true})).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "error": reason})),
        )
            .into_response(),
    }
}

/// 404 for a model name this server does not serve.
fn check_name(state: &AppState, name: &str) -> Result<(), ApiError> {
    if name == state.model_name {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "unknown model {name:?}; this server serves {:?}",
                state.model_name
            ),
        ))
    }
}

/// The input tensor shape the model accepts: a batch of scalars, or a batch of feature rows.
fn input_shape(model: &Model) -> Vec<i64> {
    if model.n_features() == 1 {
        vec![-1]
    } else {
        vec![-1, model.n_features() as i64]
    }
}

async fn model_metadata(
    State(state): State<&'static AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_name(state, &name)?;
    let model = current(state)?;
    Ok(Json(json!({
        "name": state.model_name,
        "versions": [model.version],
        "platform": PLATFORM,
        "inputs": [{"name": "x", "datatype": "FP64", "shape": input_shape(&model)}],
        "outputs": [{"name": "y", "datatype": "FP64", "shape": [-1]}],
    })))
}

async fn model_ready(
    State(state): State<&'static AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    check_name(state, &name)?;
    Ok(v2_ready(State(state)).await)
}

#[derive(Debug, Deserialize)]
struct InferRequest {
    id: Option<String>,
    inputs: Vec<InferInput>,
    #[serde(default)]
    outputs: Vec<RequestedOutput>,
    #[serde(default)]
    parameters: RequestParameters,
}

#[derive(Debug, Deserialize)]
struct InferInput {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    /// Absent when the tensor comes as binary data after the JSON.
    data: Option<Value>,
    #[serde(default)]
    parameters: InputParameters,
}

/// The binary tensor data extension's parameters; others are accepted and ignored.
#[derive(Debug, Default, Deserialize)]
struct InputParameters {
    binary_data_size: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: OutputParameters,
}

#[derive(Debug, Default, Deserialize)]
struct OutputParameters {
    binary_data: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct RequestParameters {
    /// Every output as binary data unless the output says otherwise (what Triton's client
    /// sends when no output is named).
    #[serde(default)]
    binary_data_output: bool,
}

/// The binary tensor data extension's header: the length of the JSON part of a body whose
/// rest is raw tensor bytes.
const INFERENCE_HEADER_CONTENT_LENGTH: &str = "inference-header-content-length";

async fn infer(
    State(state): State<&'static AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    check_name(state, &name)?;
    let body = body.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                format!("request body larger than {MAX_BODY_BYTES} bytes"),
            )
        } else {
            ApiError::new(status, e.body_text())
        }
    })?;
    let (json, binary) = split_binary(&headers, &body)?;
    let request: InferRequest = serde_json::from_slice(json)
        .map_err(|e| ApiError::bad_request(format!("invalid inference request: {e}")))?;
    let binary_output = binary_output(&request)?;
    let model = current(state)?;
    let rows = validate_input(&request.inputs, model.n_features(), binary)?;
    let y: Vec<f64> = rows
        .chunks_exact(model.n_features())
        .map(|x| model.predict(x))
        .collect();
    let output = if binary_output {
        json!({"name": "y", "shape": [y.len()], "datatype": "FP64",
               "parameters": {"binary_data_size": y.len() * 8}})
    } else {
        json!({"name": "y", "shape": [y.len()], "datatype": "FP64", "data": y})
    };
    let mut answer = json!({
        "model_name": state.model_name,
        "model_version": model.version,
        "outputs": [output],
    });
    if let Some(id) = request.id {
        answer["id"] = Value::String(id);
    }
    if !binary_output {
        return Ok(Json(answer).into_response());
    }
    let mut body = serde_json::to_vec(&answer).expect("JSON values serialize");
    let json_length = body.len();
    body.reserve_exact(y.len() * 8);
    for v in &y {
        body.extend_from_slice(&v.to_le_bytes());
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                HeaderName::from_static(INFERENCE_HEADER_CONTENT_LENGTH),
                json_length.to_string(),
            ),
        ],
        body,
    )
        .into_response())
}

/// Splits a body into its JSON and its binary tensor data: with `Inference-Header-Content-Length`
/// the JSON is that many bytes and raw tensors follow; without it the body is all JSON.
fn split_binary<'b>(headers: &HeaderMap, body: &'b [u8]) -> Result<(&'b [u8], &'b [u8]), ApiError> {
    let Some(value) = headers.get(INFERENCE_HEADER_CONTENT_LENGTH) else {
        return Ok((body, &[]));
    };
    let length = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Inference-Header-Content-Length must be a number of bytes, got {value:?}"
            ))
        })?;
    if length > body.len() {
        return Err(ApiError::bad_request(format!(
            "Inference-Header-Content-Length is {length} but the body has {} bytes",
            body.len()
        )));
    }
    Ok(body.split_at(length))
}

/// Whether `y` is answered as binary data: as the requested output says, else as the request's
/// `binary_data_output` says. The model has one output; naming another is an error.
fn binary_output(request: &InferRequest) -> Result<bool, ApiError> {
    let mut binary = request.parameters.binary_data_output;
    for output in &request.outputs {
        if output.name != "y" {
            return Err(ApiError::bad_request(format!(
                "unknown output {:?}; the model's output is \"y\"",
                output.name
            )));
        }
        if let Some(b) = output.parameters.binary_data {
            binary = b;
        }
    }
    Ok(binary)
}

/// Checks the one input tensor and returns its values row-major. `binary` is the body after the
/// JSON: the input's raw bytes when it has `binary_data_size`, else nothing.
fn validate_input(
    inputs: &[InferInput],
    features: usize,
    binary: &[u8],
) -> Result<Vec<f64>, ApiError> {
    let [input] = inputs else {
        return Err(ApiError::bad_request(format!(
            "expected exactly one input tensor \"x\", got {}",
            inputs.len()
        )));
    };
    if input.name != "x" {
        return Err(ApiError::bad_request(format!(
            "unknown input {:?}; the model's input is \"x\"",
            input.name
        )));
    }
    if input.datatype != "FP64" {
        return Err(ApiError::bad_request(format!(
            "input x has datatype {:?}; the model takes FP64",
            input.datatype
        )));
    }
    let batch = match input.shape.as_slice() {
        [n] if features == 1 => *n,
        [n, f] if *f == features as i64 => *n,
        other => {
            let want = if features == 1 {
                "[n] or [n, 1]".to_owned()
            } else {
                format!("[n, {features}]")
            };
            return Err(ApiError::bad_request(format!(
                "input x has shape {other:?}; the model takes {want}"
            )));
        }
    };
    if batch < 0 {
        return Err(ApiError::bad_request(format!(
            "input x has a negative dimension: {:?}",
            input.shape
        )));
    }
    let expected = usize::try_from(batch)
        .ok()
        .and_then(|b| b.checked_mul(features))
        .ok_or_else(|| {
            ApiError::bad_request(format!("input x has shape {:?}: too large", input.shape))
        })?;
    let values = match (&input.data, input.parameters.binary_data_size) {
        (None, Some(size)) => binary_values(binary, size, expected, &input.shape)?,
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "input x has both data and binary_data_size; send one",
            ));
        }
        (data, None) => {
            if !binary.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "{} bytes of binary data after the JSON, but no input has binary_data_size",
                    binary.len()
                )));
            }
            let data = data
                .as_ref()
                .ok_or_else(|| ApiError::bad_request("input x has no data"))?;
            let mut values = Vec::new();
            flatten(data, &mut values)?;
            values
        }
    };
    if values.len() != expected {
        return Err(ApiError::bad_request(format!(
            "input x has {} values but shape {:?} needs {expected}",
            values.len(),
            input.shape
        )));
    }
    Ok(values)
}

/// The binary tensor data extension: FP64 little-endian, row-major, no padding. The one input
/// owns all the binary data, so its size must be the whole of it.
fn binary_values(
    binary: &[u8],
    size: u64,
    expected: usize,
    shape: &[i64],
) -> Result<Vec<f64>, ApiError> {
    if size != binary.len() as u64 {
        return Err(ApiError::bad_request(format!(
            "input x has binary_data_size {size} but {} bytes follow the JSON",
            binary.len()
        )));
    }
    if expected.checked_mul(8) != Some(binary.len()) {
        return Err(ApiError::bad_request(format!(
            "input x has {size} bytes of binary data but shape {shape:?} needs {} FP64 (8 bytes each)",
            expected
        )));
    }
    binary
        .chunks_exact(8)
        .map(|b| {
            let v = f64::from_le_bytes(b.try_into().expect("chunks of 8"));
            if v.is_finite() {
                Ok(v)
            } else {
                Err(ApiError::bad_request(format!(
                    "input x holds {v}, not a finite FP64"
                )))
            }
        })
        .collect()
}

/// OIP allows the data flat or nested by row; both are read row-major.
fn flatten(data: &Value, out: &mut Vec<f64>) -> Result<(), ApiError> {
    match data {
        Value::Array(items) => items.iter().try_for_each(|v| flatten(v, out)),
        Value::Number(n) => match n.as_f64() {
            Some(v) if v.is_finite() => {
                out.push(v);
                Ok(())
            }
            _ => Err(ApiError::bad_request(format!(
                "input x holds {n}, not a finite FP64"
            ))),
        },
        other => Err(ApiError::bad_request(format!(
            "input x holds {other}, not a number"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_param_finds_and_decodes() {
        let cases = [
            ("x=4.2", Some("4.2")),
            ("a=1&x=-3e2&x=9", Some("-3e2")),
            ("x", Some("")),
            ("xx=1", None),
            ("", None),
            ("x=%2B4.5", Some("+4.5")),
            ("x=1+2", Some("1 2")),
            ("x=%zz%4", Some("%zz%4")),
        ];
        for (query, expected) in cases {
            assert_eq!(query_param(query, "x").as_deref(), expected, "{query}");
        }
    }
}
