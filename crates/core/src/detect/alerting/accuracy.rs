//! How far a geolocated address may be from the person using it.
//!
//! Geolocation databases place a fixed-line address (home broadband, an office)
//! within tens of kilometres. A mobile carrier's address is placed where the
//! carrier's gateway or address pool is registered, often another city hundreds
//! of kilometres away (a phone in Bengaluru on an address registered in Mumbai),
//! and moves when the phone is handed to another gateway. Satellite and in-flight
//! networks are placed at their ground station, anywhere along the route: Okta
//! does not say which network is which, so a sign-in from a phone or tablet is
//! given the carrier radius, and in-flight sign-ins are judged by the device
//! (the same laptop before and after a flight is one machine, see
//! `windowed::travel`).

use crate::record::ActivityRecord;

/// Kilometres within which a fixed-line address is placed.
pub const FIXED_KM: f64 = 50.0;
/// Kilometres within which a mobile carrier's address is placed.
pub const MOBILE_KM: f64 = 600.0;

/// Whether the client is a phone or tablet, whose address is most likely a carrier's.
pub fn mobile(r: &ActivityRecord) -> bool {
    let device = r.client.device.as_deref().unwrap_or_default();
    let os = r.client.os.as_deref().unwrap_or_default();
    device.eq_ignore_ascii_case("mobile")
        || device.eq_ignore_ascii_case("tablet")
        || os.starts_with("iOS")
        || os.starts_with("iPadOS")
        || os.starts_with("Android")
}

/// The accuracy radius of a sign-in's location, in kilometres: a carrier's
/// only for a phone or tablet on a network the org's data shows to be a mobile
/// carrier's. The user agent is the client's to set; an attacker on a hosting
/// provider claiming to be an iPhone is placed as precisely as any server.
pub fn radius_km(mobile: bool, carrier_network: bool) -> f64 {
    if mobile && carrier_network {
        MOBILE_KM
    } else {
        FIXED_KM
    }
}

/// The shortest distance the person could have moved between two sign-ins whose
/// locations are `km` apart, given each location's accuracy.
pub fn least_distance_km(km: f64, a: f64, b: f64) -> f64 {
    (km - a - b).max(0.0)
}
