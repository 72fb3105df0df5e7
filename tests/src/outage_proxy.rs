//! A DynamoDB outage in front of moto, on the one [`FaultProxy`]: while the
//! outage is on, DynamoDB writes are answered `500 InternalServerError` as
//! DynamoDB does when it is unavailable; everything else goes through. It also
//! counts the PutItem requests that reached DynamoDB, per item key, so a test
//! can show that no key is hot.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::fault_proxy::{Action, FaultProxy};

const WRITES: &[&str] = &[
    "DynamoDB_20120810.PutItem",
    "DynamoDB_20120810.UpdateItem",
    "DynamoDB_20120810.DeleteItem",
    "DynamoDB_20120810.BatchWriteItem",
    "DynamoDB_20120810.TransactWriteItems",
];

const UNAVAILABLE: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#;

#[derive(Default)]
struct State {
    outage: AtomicBool,
    /// (pk, sk) of PutItem requests forwarded to DynamoDB → how many.
    puts: Mutex<HashMap<(String, String), u64>>,
}

pub struct OutageProxy {
    proxy: FaultProxy,
    state: Arc<State>,
}

impl OutageProxy {
    /// Starts a proxy to `upstream` (`http://host:port`) on a free local port.
    pub async fn start(upstream: &str) -> Self {
        let state = Arc::new(State::default());
        let shared = state.clone();
        let proxy = FaultProxy::start(upstream, move |head, body| {
            let target = header(head, "x-amz-target").unwrap_or_default();
            if WRITES.contains(&target) && shared.outage.load(Ordering::SeqCst) {
                return Action::Respond {
                    status: 500,
                    content_type: "application/x-amz-json-1.0",
                    body: UNAVAILABLE.to_owned(),
                };
            }
            if target == "DynamoDB_20120810.PutItem" {
                if let Ok(doc) = serde_json::from_slice::<Value>(body) {
                    let key = |name: &str| {
                        doc["Item"][name]["S"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned()
                    };
                    *shared
                        .puts
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry((key("pk"), key("sk")))
                        .or_default() += 1;
                }
            }
            Action::Forward
        })
        .await;
        OutageProxy { proxy, state }
    }

    /// The endpoint URL to give an SDK client.
    pub fn endpoint(&self) -> &str {
        self.proxy.url()
    }

    /// DynamoDB writes fail while `on`.
    pub fn set_outage(&self, on: bool) {
        self.state.outage.store(on, Ordering::SeqCst);
    }

    /// Writes refused so far.
    pub fn refused(&self) -> u64 {
        self.proxy.refused()
    }

    /// PutItem requests that reached DynamoDB, per (pk, sk).
    pub fn puts_per_key(&self) -> HashMap<(String, String), u64> {
        self.state
            .puts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
