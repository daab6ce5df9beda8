//! The one blocking Ethereum JSON-RPC client of the workspace, used by
//! witness capture (`header-chain`), the EVM commands (`xtask`) and the
//! anvil harness. Synchronous on purpose: the static prover links it.
//!
//! - A call has a deadline (`Policy::timeout`); transport failures and
//!   HTTP 5xx answers are retried with doubling backoff up to
//!   `Policy::attempts`; a node's JSON-RPC error or a malformed answer is
//!   not retried (asking again would not change it).
//! - A transaction is sent once, never retried (a lost answer does not mean
//!   it was not sent), and its receipt is polled for: nodes such as anvil
//!   answer `eth_sendTransaction` before they mine.
//! - Every error names the node's URL and the method.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// Deadline and retries for one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The whole call: connect, send, read the answer.
    pub timeout: Duration,
    /// Tries in all (at least 1) when the node cannot be reached.
    pub attempts: u32,
    /// Wait before the second try; doubled for each later one.
    pub backoff: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(20), attempts: 3, backoff: Duration::from_millis(250) }
    }
}

impl Policy {
    /// One try with this deadline.
    pub fn once(timeout: Duration) -> Self {
        Self { timeout, attempts: 1, backoff: Duration::ZERO }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach the JSON-RPC node at {url} after {attempts} attempts: {last}; check that the node runs and the URL is right")]
    Unreachable { url: String, attempts: u32, last: String },
    /// The node answered with a JSON-RPC error object.
    #[error("the node at {url} answered {method} with an error: {message} (code {code})")]
    Node { url: String, method: String, code: i64, message: String, data: Option<String> },
    #[error("the node at {url} answered {method} with malformed JSON-RPC: {detail}")]
    Malformed { url: String, method: String, detail: String },
    #[error("the node at {url} did not mine transaction {hash} within {seconds} s")]
    NotMined { url: String, hash: String, seconds: u64 },
}

impl Error {
    /// The call ran and the contract reverted (EIP-1474's code 3, or the
    /// "execution reverted" message nodes use without it). Any other error
    /// (rate limit, gas cap, a node fault) says nothing about the contract.
    pub fn is_revert(&self) -> bool {
        match self {
            Error::Node { code, message, .. } => {
                *code == 3 || message.to_ascii_lowercase().contains("execution reverted")
            }
            _ => false,
        }
    }

    /// The node's own message, for a JSON-RPC error.
    pub fn node_message(&self) -> Option<&str> {
        match self {
            Error::Node { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// A node at one URL.
pub struct Client {
    url: String,
    agent: ureq::Agent,
    policy: Policy,
}

impl Client {
    pub fn new(url: &str, policy: Policy) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(policy.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self { url: url.to_string(), agent, policy }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// One call, its result read as `T`; transport failures retried per the policy.
    pub fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, Error> {
        self.call_with(method, params, self.policy.attempts.max(1))
    }

    /// A quantity (`"0x…"`) result, as a number.
    pub fn call_quantity(&self, method: &str, params: Value) -> Result<u64, Error> {
        let value: Value = self.call(method, params)?;
        quantity(&value).map_err(|detail| self.malformed(method, detail))
    }

    /// Sends `tx` with `eth_sendTransaction` once (the node signs with an
    /// account it holds), then polls for the receipt every `poll` until
    /// `wait` has passed. The receipt is returned whatever its status.
    pub fn send_transaction(&self, tx: Value, wait: Duration, poll: Duration) -> Result<Value, Error> {
        let hash: Value = self.call_with("eth_sendTransaction", json!([tx]), 1)?;
        let deadline = Instant::now() + wait;
        loop {
            let receipt: Value = self.call("eth_getTransactionReceipt", json!([hash]))?;
            if !receipt.is_null() {
                return Ok(receipt);
            }
            if Instant::now() > deadline {
                return Err(Error::NotMined { url: self.url.clone(), hash: hash.to_string(), seconds: wait.as_secs() });
            }
            std::thread::sleep(poll);
        }
    }

    fn malformed(&self, method: &str, detail: String) -> Error {
        Error::Malformed { url: self.url.clone(), method: method.to_string(), detail }
    }

    fn call_with<T: DeserializeOwned>(&self, method: &str, params: Value, attempts: u32) -> Result<T, Error> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut last = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                std::thread::sleep(self.policy.backoff * 2u32.pow(attempt - 1));
            }
            let mut response = match self.agent.post(&self.url).send_json(&body) {
                Ok(r) => r,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let status = response.status();
            // ureq caps a body read this way (10 MB): a hostile node cannot
            // make us buffer without bound.
            let text = match response.body_mut().read_to_string() {
                Ok(t) => t,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            if status.is_server_error() {
                last = format!("HTTP {status}");
                continue;
            }
            let answer: Value = serde_json::from_str(&text)
                .map_err(|e| self.malformed(method, format!("HTTP {status}, body is not JSON ({e})")))?;
            if let Some(error) = answer.get("error") {
                return Err(Error::Node {
                    url: self.url.clone(),
                    method: method.to_string(),
                    code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                    message: error.get("message").and_then(Value::as_str).unwrap_or("?").to_string(),
                    data: error.get("data").map(|d| d.to_string()),
                });
            }
            let result = answer.get("result").ok_or_else(|| self.malformed(method, "no `result` field".into()))?;
            return serde_json::from_value(result.clone()).map_err(|e| self.malformed(method, e.to_string()));
        }
        Err(Error::Unreachable { url: self.url.clone(), attempts, last })
    }
}

/// A JSON-RPC quantity (`"0x1a"`) as a number.
pub fn quantity(value: &Value) -> Result<u64, String> {
    let text = value.as_str().ok_or_else(|| format!("expected a hex quantity, got {value}"))?;
    let digits = text.strip_prefix("0x").ok_or_else(|| format!("{text:?} is not a hex quantity (no 0x)"))?;
    u64::from_str_radix(digits, 16).map_err(|_| format!("{text:?} is not a hex quantity"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    /// A one-connection-per-answer HTTP server on loopback answering each
    /// request with the next of `bodies` (status, body); returns its URL and
    /// a counter of requests seen.
    fn serve(answers: Vec<(u16, &'static str)>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = seen.clone();
        std::thread::spawn(move || {
            for (status, body) in answers {
                let Ok((stream, _)) = listener.accept() else { return };
                let mut reader = BufReader::new(stream);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut request = vec![0; length];
                reader.read_exact(&mut request).unwrap();
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut stream = reader.into_inner();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, seen)
    }

    fn quick(attempts: u32) -> Policy {
        Policy { timeout: Duration::from_secs(5), attempts, backoff: Duration::from_millis(1) }
    }

    #[test]
    fn a_result_is_read_and_a_server_error_retried() {
        let (url, seen) = serve(vec![(503, "busy"), (200, r#"{"jsonrpc":"2.0","id":1,"result":"0x2a"}"#)]);
        let client = Client::new(&url, quick(3));
        assert_eq!(client.call_quantity("eth_blockNumber", json!([])).unwrap(), 42);
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn a_node_error_is_not_retried_and_a_revert_is_told_apart() {
        let body = r#"{"jsonrpc":"2.0","id":1,"error":{"code":3,"message":"execution reverted","data":"0x"}}"#;
        let (url, seen) = serve(vec![(200, body), (200, body)]);
        let error = Client::new(&url, quick(3)).call::<Value>("eth_call", json!([])).unwrap_err();
        assert!(error.is_revert(), "{error}");
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(error.to_string().contains(&url) && error.to_string().contains("eth_call"), "{error}");
        let node = |code, message: &str| Error::Node {
            url: url.clone(),
            method: "eth_call".into(),
            code,
            message: message.into(),
            data: None,
        };
        assert!(node(-32000, "execution reverted: no").is_revert());
        assert!(!node(-32005, "rate limit exceeded").is_revert());
        assert!(!node(-32000, "gas required exceeds allowance (30000000)").is_revert());
    }

    #[test]
    fn malformed_answers_are_named() {
        let (url, _) = serve(vec![(200, "<html>"), (200, r#"{"jsonrpc":"2.0","id":1}"#), (200, r#"{"result":"12"}"#)]);
        let client = Client::new(&url, quick(1));
        let error = client.call::<Value>("eth_chainId", json!([])).unwrap_err();
        assert!(matches!(error, Error::Malformed { .. }) && error.to_string().contains("not JSON"), "{error}");
        let error = client.call::<Value>("eth_chainId", json!([])).unwrap_err();
        assert!(error.to_string().contains("no `result`"), "{error}");
        let error = client.call_quantity("eth_chainId", json!([])).unwrap_err();
        assert!(error.to_string().contains("not a hex quantity"), "{error}");
    }

    #[test]
    fn an_unreachable_node_names_its_url_and_attempts() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let error = Client::new(&url, quick(2)).call::<Value>("eth_chainId", json!([])).unwrap_err();
        assert!(matches!(error, Error::Unreachable { attempts: 2, .. }), "{error}");
        assert!(error.to_string().contains(&url), "{error}");
    }

    #[test]
    fn a_transaction_is_sent_once_and_its_receipt_polled() {
        let (url, seen) = serve(vec![
            (200, r#"{"jsonrpc":"2.0","id":1,"result":"0xabc"}"#),
            (200, r#"{"jsonrpc":"2.0","id":1,"result":null}"#),
            (200, r#"{"jsonrpc":"2.0","id":1,"result":{"status":"0x1"}}"#),
        ]);
        let client = Client::new(&url, quick(3));
        let receipt = client.send_transaction(json!({}), Duration::from_secs(5), Duration::from_millis(1)).unwrap();
        assert_eq!(receipt["status"], "0x1");
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3);

        // A send whose answer is a server error is not sent again.
        let (url, seen) = serve(vec![(503, "busy"), (200, r#"{"jsonrpc":"2.0","id":1,"result":"0x1"}"#)]);
        let error = Client::new(&url, quick(3))
            .send_transaction(json!({}), Duration::from_secs(5), Duration::from_millis(1))
            .unwrap_err();
        assert!(matches!(error, Error::Unreachable { attempts: 1, .. }), "{error}");
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn quantities() {
        assert_eq!(quantity(&json!("0x0")), Ok(0));
        assert_eq!(quantity(&json!("0xff")), Ok(255));
        assert!(quantity(&json!("ff")).is_err());
        assert!(quantity(&json!(12)).is_err());
        assert!(quantity(&json!("0x1ffffffffffffffff")).is_err());
    }
}
