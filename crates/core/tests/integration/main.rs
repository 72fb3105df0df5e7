//! The core's integration tests, in one binary: as thirteen, each compiled its
//! own copy of the generic code it shares with the others and was linked on its
//! own, which took longer than running most of them.

mod backfill;
mod benign_org;
mod correlations;
mod custom_rules;
mod delivery;
mod detector_run;
mod fast_path;
mod late_chain;
mod never_panics;
mod normalize_samples;
mod panther_corpus;
mod poll_backfill;
mod realistic_org;
