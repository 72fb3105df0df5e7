//! Drives the engine over the stores.
