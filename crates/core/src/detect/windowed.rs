//! Windowed and stateful detections.

use super::{Analysis, DetectConfig, Finding, HistoryRequest};
use crate::record::ActivityRecord;
use crate::time::Hour;

pub fn evaluate(_a: &Analysis<'_>) -> Vec<Finding> {
    Vec::new()
}

pub fn counts(_config: &DetectConfig, _detection: &str, _r: &ActivityRecord) -> bool {
    false
}

pub fn history_requests(
    _config: &DetectConfig,
    _hour: Hour,
    _records: &[ActivityRecord],
) -> Vec<HistoryRequest> {
    Vec::new()
}
