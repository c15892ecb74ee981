//! The order block the kitchen prints to stdout, grouped by station.

use crate::events::OrderEvent;
use crate::order::Order;
use crate::writer::CommitListener;
use std::fmt::Write;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

const HEAVY_RULE: &str =
    "================================================================================";
const LIGHT_RULE: &str =
    "--------------------------------------------------------------------------------";

/// Formats `order` as the design's console block: the header, then each station in the order it
/// first appears in the request, with its items in request order.
pub fn format_order(order: &Order) -> String {
    let mut text = String::with_capacity(512);
    // Writing to a String cannot fail.
    let _ = writeln!(text, "{HEAVY_RULE}");
    let _ = writeln!(text, "📦 NEW ORDER RECEIVED");
    let _ = writeln!(text, "{HEAVY_RULE}");
    let _ = writeln!(text, "Order ID: {}", order.order_id);
    let _ = writeln!(text, "Otter Order ID: {}", order.otter_order_id);
    let _ = writeln!(text, "Brand: {}", order.brand_name);
    let _ = writeln!(text, "Source: {}", order.source);
    let _ = writeln!(text, "Timestamp: {}", order.timestamp);
    let _ = writeln!(text, "Items ({}):", order.items.len());
    let _ = writeln!(text, "{LIGHT_RULE}");
    for station in stations_in_first_seen_order(order) {
        let _ = writeln!(text, "{station}:");
        for item in order.items.iter().filter(|item| item.station == station) {
            let _ = writeln!(text, "  • {} (Qty: {})", item.name, item.quantity);
        }
    }
    let _ = writeln!(text, "{HEAVY_RULE}");
    text
}

fn stations_in_first_seen_order(order: &Order) -> Vec<&str> {
    let mut stations: Vec<&str> = Vec::new();
    for item in &order.items {
        if !stations.contains(&item.station.as_str()) {
            stations.push(&item.station);
        }
    }
    stations
}

/// Prints committed orders to stdout on a thread of its own, so a slow terminal or pipe never
/// slows the write path.
///
/// When the printer falls `capacity` batches behind, further batches are skipped with a warning:
/// the console is for people watching, the orders themselves are safe in the database.
#[derive(Debug)]
pub struct ConsolePrinter {
    sender: SyncSender<Vec<Arc<OrderEvent>>>,
}

impl ConsolePrinter {
    /// Starts the printing thread.
    pub fn spawn(capacity: usize) -> Self {
        let (sender, receiver) = sync_channel::<Vec<Arc<OrderEvent>>>(capacity.max(1));
        std::thread::Builder::new()
            .name("console-printer".into())
            .spawn(move || {
                let stdout = std::io::stdout();
                for batch in receiver {
                    let text: String = batch
                        .iter()
                        .map(|event| format_order(&event.order))
                        .collect();
                    let mut out = stdout.lock();
                    if out
                        .write_all(text.as_bytes())
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        break;
                    }
                }
            })
            .expect("spawn the console printer thread");
        Self { sender }
    }
}

impl CommitListener for ConsolePrinter {
    fn on_commit(&self, events: &[Arc<OrderEvent>]) {
        match self.sender.try_send(events.to_vec()) {
            Ok(()) => {}
            Err(TrySendError::Full(batch)) => {
                for event in batch {
                    tracing::warn!(order_id = %event.order.order_id, "console behind: order not printed");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::warn!("stdout closed: orders are no longer printed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{tests::sample_request, validate};

    const GOLDEN: &str = "\
================================================================================
📦 NEW ORDER RECEIVED
================================================================================
Order ID: 67adcfdc15da8840bc9673bd
Otter Order ID: 019c52aa-1232-307c-b56d-1a3af34b458c
Brand: Desayuna
Source: mongodb_changestream
Timestamp: 2025-02-13T10:56:27.756Z
Items (3):
--------------------------------------------------------------------------------
Burger Plancha Station:
  • Grilled Chicken Sandwich (Qty: 2)
  • Classic Burger (Qty: 1)
Salad Station:
  • Caesar Salad (Qty: 1)
================================================================================
";

    #[test]
    fn matches_the_design_sample_with_stations_in_first_seen_order() {
        // The sample request lists the salad between the two burger-station items: the block
        // still groups by station, stations in the order they first appear.
        let order = validate(sample_request()).unwrap();
        assert_eq!(format_order(&order), GOLDEN);
    }
}
