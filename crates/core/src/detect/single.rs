//! Single-event detections.

use super::{Analysis, DetectConfig, Finding};
use crate::record::ActivityRecord;

pub fn evaluate(_a: &Analysis<'_>) -> Vec<Finding> {
    Vec::new()
}

pub fn matches(_config: &DetectConfig, _detection: &str, _r: &ActivityRecord) -> bool {
    false
}
