//! A realistic demo feed for the order pipeline: orders of several delivery brands, cooked at the
//! kitchen's stations, inserted into MongoDB's `orders` collection at a steady rate or along a
//! lunch-rush curve, reproducibly from a seed.
//!
//! The pure parts ([`menu`], [`order`], [`rate`], [`units`]) decide what is ordered and when;
//! [`feed`] does the inserting.

pub mod feed;
pub mod menu;
pub mod order;
pub mod rate;
pub mod units;

pub use feed::{FeedConfig, FeedError, FeedObserver, FeedReport, IntervalSummary, run_feed};
pub use order::{OrderGenerator, SimulatedOrder};
pub use rate::{Arrivals, RateCurve};
