//! The all-day counts: every open item's total quantity across open tickets, per station, with
//! the split per brand, so that a cook cooks the same item once, as a batch.

use serde::Serialize;
use std::collections::BTreeMap;

/// Open quantity of one item of one brand at one station, over that brand's open tickets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AllDayRow {
    pub(crate) station: String,
    pub(crate) item: String,
    pub(crate) brand: String,
    pub(crate) quantity: i64,
    /// Open tickets holding it.
    pub(crate) tickets: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct StationTotals {
    pub(crate) station: String,
    pub(crate) items: Vec<ItemTotal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ItemTotal {
    pub(crate) name: String,
    pub(crate) quantity: i64,
    pub(crate) tickets: i64,
    pub(crate) brands: Vec<BrandQuantity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct BrandQuantity {
    pub(crate) brand_name: String,
    pub(crate) quantity: i64,
}

/// Groups `rows` by station (by name), then item (largest quantity first, then by name), with
/// brands largest first. A ticket has one brand, so an item's tickets are the sum of its
/// brands'.
pub(crate) fn all_day(rows: impl IntoIterator<Item = AllDayRow>) -> Vec<StationTotals> {
    let mut stations: BTreeMap<String, BTreeMap<String, ItemTotal>> = BTreeMap::new();
    for row in rows {
        let item = stations
            .entry(row.station)
            .or_default()
            .entry(row.item.clone())
            .or_insert_with(|| ItemTotal {
                name: row.item,
                quantity: 0,
                tickets: 0,
                brands: Vec::new(),
            });
        item.quantity += row.quantity;
        item.tickets += row.tickets;
        match item
            .brands
            .iter_mut()
            .find(|brand| brand.brand_name == row.brand)
        {
            Some(brand) => brand.quantity += row.quantity,
            None => item.brands.push(BrandQuantity {
                brand_name: row.brand,
                quantity: row.quantity,
            }),
        }
    }
    stations
        .into_iter()
        .map(|(station, items)| {
            let mut items: Vec<ItemTotal> = items.into_values().collect();
            for item in &mut items {
                item.brands.sort_by(|a, b| {
                    b.quantity
                        .cmp(&a.quantity)
                        .then_with(|| a.brand_name.cmp(&b.brand_name))
                });
            }
            items.sort_by(|a, b| {
                b.quantity
                    .cmp(&a.quantity)
                    .then_with(|| a.name.cmp(&b.name))
            });
            StationTotals { station, items }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(station: &str, item: &str, brand: &str, quantity: i64, tickets: i64) -> AllDayRow {
        AllDayRow {
            station: station.into(),
            item: item.into(),
            brand: brand.into(),
            quantity,
            tickets,
        }
    }

    #[test]
    fn items_are_summed_per_station_with_the_split_per_brand() {
        let totals = all_day([
            row("Grill", "Burger", "Burger Kiosk", 3, 1),
            row("Fryer", "Fries", "Desayuna", 2, 2),
            row("Grill", "Hot Dog", "Desayuna", 4, 2),
            row("Grill", "Burger", "Desayuna", 6, 3),
        ]);
        let json = serde_json::to_value(&totals).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"station": "Fryer", "items": [
                    {"name": "Fries", "quantity": 2, "tickets": 2,
                     "brands": [{"brand_name": "Desayuna", "quantity": 2}]}]},
                {"station": "Grill", "items": [
                    {"name": "Burger", "quantity": 9, "tickets": 4, "brands": [
                        {"brand_name": "Desayuna", "quantity": 6},
                        {"brand_name": "Burger Kiosk", "quantity": 3}]},
                    {"name": "Hot Dog", "quantity": 4, "tickets": 2,
                     "brands": [{"brand_name": "Desayuna", "quantity": 4}]}]}
            ])
        );
    }

    #[test]
    fn equal_quantities_are_ordered_by_name_and_nothing_open_is_empty() {
        let totals = all_day([
            row("Grill", "Wrap", "A", 2, 1),
            row("Grill", "Burger", "B", 2, 1),
            row("Grill", "Burger", "A", 0, 0),
        ]);
        let names: Vec<&str> = totals[0].items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["Burger", "Wrap"]);
        let brands: Vec<&str> = totals[0].items[0]
            .brands
            .iter()
            .map(|b| b.brand_name.as_str())
            .collect();
        assert_eq!(brands, ["B", "A"]);
        assert!(all_day([]).is_empty());
    }
}
