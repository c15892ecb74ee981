//! Orders drawn from the menu with a seeded random generator: the same seed gives the same
//! orders, in the same sequence.

use crate::menu::{BRANDS, Brand, Dish, STATIONS, pick_weighted};
use mongodb::bson::{Document, doc};

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The item's name.
    pub name: &'static str,
    /// The station that cooks it.
    pub station: &'static str,
    /// How many.
    pub quantity: i32,
}

/// An order as a delivery brand sends it, before MongoDB gives it an `_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedOrder {
    /// The aggregator's id (Otter's are UUIDs).
    pub otter_order_id: String,
    /// The brand the customer ordered from.
    pub brand_name: &'static str,
    /// The lines, grouped by station in [`STATIONS`] order, as the kitchen lists them.
    pub lines: Vec<Line>,
}

impl SimulatedOrder {
    /// The document the order service's extractor reads: `OtterOrderId`, `BrandName` and
    /// `StationOrders[].OwnStationName` / `.OrderItems[].Name` / `.Quantity`.
    pub fn to_document(&self) -> Document {
        let station_orders: Vec<Document> = STATIONS
            .iter()
            .filter_map(|station| {
                let items: Vec<Document> = self
                    .lines
                    .iter()
                    .filter(|line| line.station == *station)
                    .map(|line| doc! { "Name": line.name, "Quantity": line.quantity })
                    .collect();
                (!items.is_empty())
                    .then(|| doc! { "OwnStationName": *station, "OrderItems": items })
            })
            .collect();
        doc! {
            "OtterOrderId": &self.otter_order_id,
            "BrandName": self.brand_name,
            "StationOrders": station_orders,
        }
    }
}

/// How many different dishes an order holds: mostly one to three.
const LINE_COUNT_WEIGHTS: [(usize, u32); 4] = [(1, 30), (2, 35), (3, 25), (4, 10)];
/// How many of a dish: mostly one, sometimes two.
const QUANTITY_WEIGHTS: [(i32, u32); 3] = [(1, 75), (2, 20), (3, 5)];

/// Draws orders from the built-in menu.
#[derive(Debug, Clone)]
pub struct OrderGenerator {
    rng: fastrand::Rng,
}

impl OrderGenerator {
    /// A generator whose orders are determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The next order.
    pub fn next_order(&mut self) -> SimulatedOrder {
        let brand: &Brand = pick_weighted(&mut self.rng, &BRANDS, |brand| brand.weight)
            .expect("the menu has brands");
        let wanted = pick_weighted(&mut self.rng, &LINE_COUNT_WEIGHTS, |(_, weight)| *weight)
            .map_or(1, |(count, _)| *count);
        let mut left: Vec<Dish> = brand.dishes.to_vec();
        let mut chosen: Vec<Line> = Vec::with_capacity(wanted);
        while chosen.len() < wanted {
            let Some(dish) = pick_weighted(&mut self.rng, &left, |dish| dish.weight).copied()
            else {
                break;
            };
            left.retain(|other| other.name != dish.name);
            let quantity = pick_weighted(&mut self.rng, &QUANTITY_WEIGHTS, |(_, weight)| *weight)
                .map_or(1, |(quantity, _)| *quantity);
            chosen.push(Line {
                name: dish.name,
                station: dish.station,
                quantity,
            });
        }
        // The kitchen lists an order station by station; the stable sort keeps the picking order.
        chosen.sort_by_key(|line| STATIONS.iter().position(|station| *station == line.station));
        SimulatedOrder {
            otter_order_id: self.otter_order_id(),
            brand_name: brand.name,
            lines: chosen,
        }
    }

    /// A UUID-shaped id (version 4 layout), from the generator's own stream.
    fn otter_order_id(&mut self) -> String {
        let high = self.rng.u64(..);
        let low = self.rng.u64(..);
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xffff,
            high & 0x0fff,
            0x8000 | ((low >> 48) & 0x3fff),
            low & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::Bson;
    use std::collections::HashSet;

    #[test]
    fn the_same_seed_gives_the_same_orders() {
        let mut first = OrderGenerator::new(42);
        let mut second = OrderGenerator::new(42);
        let mut other = OrderGenerator::new(43);
        let a: Vec<SimulatedOrder> = (0..50).map(|_| first.next_order()).collect();
        let b: Vec<SimulatedOrder> = (0..50).map(|_| second.next_order()).collect();
        let c: Vec<SimulatedOrder> = (0..50).map(|_| other.next_order()).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn orders_are_realistic() {
        let mut generator = OrderGenerator::new(7);
        let orders: Vec<SimulatedOrder> = (0..2_000).map(|_| generator.next_order()).collect();
        let brands: HashSet<&str> = orders.iter().map(|order| order.brand_name).collect();
        assert_eq!(brands.len(), BRANDS.len(), "every brand gets orders");
        let lines: Vec<&Line> = orders.iter().flat_map(|order| &order.lines).collect();
        let small = lines.iter().filter(|line| line.quantity <= 2).count();
        assert!(small * 100 >= lines.len() * 90, "quantities are mostly 1-2");
        assert!(lines.iter().all(|line| (1..=3).contains(&line.quantity)));
        let ids: HashSet<&str> = orders
            .iter()
            .map(|order| order.otter_order_id.as_str())
            .collect();
        assert_eq!(ids.len(), orders.len(), "Otter ids are unique");
        for order in &orders {
            assert!((1..=4).contains(&order.lines.len()), "{order:?}");
            let brand = BRANDS
                .iter()
                .find(|brand| brand.name == order.brand_name)
                .unwrap();
            let names: HashSet<&str> = order.lines.iter().map(|line| line.name).collect();
            assert_eq!(names.len(), order.lines.len(), "no dish twice: {order:?}");
            for line in &order.lines {
                assert!(
                    brand
                        .dishes
                        .iter()
                        .any(|dish| dish.name == line.name && dish.station == line.station),
                    "{line:?} is on {}'s menu",
                    brand.name
                );
            }
            assert_eq!(order.otter_order_id.len(), 36);
        }
        let multi_station = orders
            .iter()
            .filter(|order| {
                let stations: HashSet<&str> = order.lines.iter().map(|line| line.station).collect();
                stations.len() > 1
            })
            .count();
        assert!(multi_station > 100, "many orders span stations");
    }

    #[test]
    fn the_document_has_the_shape_the_extractor_reads() {
        let order = SimulatedOrder {
            otter_order_id: "0a1b2c3d-0000-4000-8000-000000000001".into(),
            brand_name: "Smash Burger Co.",
            lines: vec![
                Line {
                    name: "Classic Smash Burger",
                    station: crate::menu::GRILL,
                    quantity: 2,
                },
                Line {
                    name: "French Fries",
                    station: crate::menu::FRYER,
                    quantity: 1,
                },
                Line {
                    name: "Onion Rings",
                    station: crate::menu::FRYER,
                    quantity: 1,
                },
            ],
        };
        assert_eq!(
            order.to_document(),
            doc! {
                "OtterOrderId": "0a1b2c3d-0000-4000-8000-000000000001",
                "BrandName": "Smash Burger Co.",
                "StationOrders": [
                    { "OwnStationName": "Grill Station", "OrderItems": [
                        { "Name": "Classic Smash Burger", "Quantity": 2 },
                    ] },
                    { "OwnStationName": "Fryer Station", "OrderItems": [
                        { "Name": "French Fries", "Quantity": 1 },
                        { "Name": "Onion Rings", "Quantity": 1 },
                    ] },
                ],
            }
        );
        let quantity = order.to_document().get_array("StationOrders").unwrap()[0]
            .as_document()
            .unwrap()
            .get_array("OrderItems")
            .unwrap()[0]
            .as_document()
            .unwrap()
            .get("Quantity")
            .cloned();
        assert_eq!(
            quantity,
            Some(Bson::Int32(2)),
            "an int32, as the extractor takes"
        );
    }
}
