//! Tickets: the orders as the kitchen screens see them, the changes cooks make to them, and the
//! pure rules that summarise them (all-day counts, ticket times). Storage is in
//! `store::tickets`, HTTP in `http::api`.

mod all_day;
mod change;
mod day;

pub(crate) use all_day::{AllDayRow, all_day};
pub(crate) use change::{Change, ChangeRequest, LineRef, RecallScope};
pub(crate) use day::{DayRange, HourCount, fill_hours};

use serde::Serialize;

/// An order as a ticket: what a screen shows, and what a snapshot and a change carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Ticket {
    /// The order's event id.
    pub(crate) event_id: i64,
    pub(crate) order_id: String,
    pub(crate) otter_order_id: String,
    pub(crate) brand_name: String,
    pub(crate) source: String,
    /// The order's own time, as sent: the board's sort key.
    pub(crate) timestamp: String,
    /// When the kitchen stored it: tickets age from here.
    pub(crate) received_at: String,
    pub(crate) items: Vec<TicketItem>,
    pub(crate) handed_over: bool,
    pub(crate) handed_over_at: Option<String>,
}

/// One item of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TicketItem {
    /// The item's index in the order's items.
    pub(crate) position: i32,
    pub(crate) name: String,
    pub(crate) station: String,
    pub(crate) quantity: i32,
    pub(crate) done: bool,
    pub(crate) done_at: Option<String>,
}

/// A ticket in a recall list: when it left the board.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RecalledTicket {
    #[serde(flatten)]
    pub(crate) ticket: Ticket,
    pub(crate) bumped_at: String,
}

/// Which board a recall list is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Board {
    /// Every station's items.
    AllStations,
    Station(String),
    Expo,
}

/// How many bumped tickets a recall list holds.
pub(crate) const RECALL_LIMIT: i64 = 20;

/// Ticket time at one station over a range: received to the station's last item done.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct StationTicketTimes {
    pub(crate) station: String,
    pub(crate) tickets: i64,
    pub(crate) median_secs: f64,
    pub(crate) p90_secs: f64,
}
