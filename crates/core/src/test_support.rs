//! The test kit's event builders for this crate's unit tests. The test kit
//! links the core as a library, so its types are not this build's: an event is
//! made this build's types here, from its JSON.

pub use okta_itdr_testkit::{at, Ev};

use crate::event::LogEvent;
use crate::normalize::{Normalizer, UsernameHasher};
use crate::record::ActivityRecord;

pub fn normalizer() -> Normalizer {
    Normalizer::new(
        UsernameHasher::new(okta_itdr_testkit::TEST_KEY).expect("test key is long enough"),
    )
}

/// [`okta_itdr_testkit::Typed`], for this build's types.
pub trait Typed {
    fn event(&self) -> LogEvent;
    fn records(&self) -> Vec<ActivityRecord>;
    fn record(&self) -> ActivityRecord {
        self.records().remove(0)
    }
}

impl Typed for Ev {
    fn event(&self) -> LogEvent {
        LogEvent::from_value(self.json.clone()).expect("test event is a LogEvent")
    }

    fn records(&self) -> Vec<ActivityRecord> {
        normalizer().normalize(&self.event())
    }
}
