//! The built-in menu: four delivery brands sharing one kitchen's stations.

/// The kitchen's stations, as the screen names them (`?station=Grill%20Station`).
pub const GRILL: &str = "Grill Station";
/// Fries, wings, anything from the fryer.
pub const FRYER: &str = "Fryer Station";
/// Salads and bowls.
pub const SALAD: &str = "Salad Station";
/// Desserts and shakes.
pub const DESSERT: &str = "Dessert Station";

/// Every station the menu cooks at, in the order an order lists them.
pub const STATIONS: [&str; 4] = [GRILL, FRYER, SALAD, DESSERT];

/// A dish: its name on the ticket, where it is cooked, and how often it is ordered relative to
/// the brand's other dishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dish {
    /// The item's name, as the kitchen prints and batches it.
    pub name: &'static str,
    /// The station that cooks it (one of [`STATIONS`]).
    pub station: &'static str,
    /// Relative popularity within the brand.
    pub weight: u32,
}

/// A delivery brand and its dishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Brand {
    /// The brand's name, as the kitchen shows it.
    pub name: &'static str,
    /// Relative share of the kitchen's orders.
    pub weight: u32,
    /// What it sells.
    pub dishes: &'static [Dish],
}

const fn dish(name: &'static str, station: &'static str, weight: u32) -> Dish {
    Dish {
        name,
        station,
        weight,
    }
}

/// The brands the feed orders from.
pub static BRANDS: [Brand; 4] = [
    Brand {
        name: "Smash Burger Co.",
        weight: 40,
        dishes: &[
            dish("Classic Smash Burger", GRILL, 30),
            dish("Double Cheeseburger", GRILL, 20),
            dish("Bacon BBQ Burger", GRILL, 12),
            dish("Grilled Chicken Sandwich", GRILL, 10),
            dish("Veggie Burger", GRILL, 6),
            dish("French Fries", FRYER, 35),
            dish("Onion Rings", FRYER, 12),
            dish("Sweet Potato Fries", FRYER, 10),
            dish("Chocolate Milkshake", DESSERT, 8),
        ],
    },
    Brand {
        name: "Wing Republic",
        weight: 25,
        dishes: &[
            dish("Buffalo Wings (10)", FRYER, 30),
            dish("Garlic Parmesan Wings (10)", FRYER, 15),
            dish("Chicken Tenders", FRYER, 15),
            dish("Mozzarella Sticks", FRYER, 10),
            dish("Cajun Fries", FRYER, 20),
            dish("Coleslaw", SALAD, 10),
            dish("Grilled Corn", GRILL, 6),
        ],
    },
    Brand {
        name: "Green Bowl",
        weight: 20,
        dishes: &[
            dish("Chicken Caesar Salad", SALAD, 25),
            dish("Greek Salad", SALAD, 15),
            dish("Quinoa Power Bowl", SALAD, 20),
            dish("Salmon Poke Bowl", SALAD, 15),
            dish("Grilled Chicken Breast", GRILL, 10),
            dish("Falafel Wrap", FRYER, 10),
            dish("Fruit Cup", DESSERT, 6),
        ],
    },
    Brand {
        name: "Desayuna",
        weight: 15,
        dishes: &[
            dish("Breakfast Burrito", GRILL, 30),
            dish("Huevos Rancheros", GRILL, 15),
            dish("Pancake Stack", GRILL, 15),
            dish("Hash Browns", FRYER, 20),
            dish("Avocado Toast", SALAD, 12),
            dish("Churros", FRYER, 10),
            dish("Tres Leches Cake", DESSERT, 6),
        ],
    },
];

/// One of `choices` at random, in proportion to `weight`. `None` only when `choices` is empty or
/// every weight is zero.
pub(crate) fn pick_weighted<'a, T>(
    rng: &mut fastrand::Rng,
    choices: &'a [T],
    weight: impl Fn(&T) -> u32,
) -> Option<&'a T> {
    let total: u64 = choices.iter().map(|choice| u64::from(weight(choice))).sum();
    if total == 0 {
        return None;
    }
    let mut ticket = rng.u64(0..total);
    for choice in choices {
        let share = u64::from(weight(choice));
        if ticket < share {
            return Some(choice);
        }
        ticket -= share;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn every_dish_is_cooked_at_a_known_station_and_can_be_ordered() {
        for brand in &BRANDS {
            assert!(brand.weight > 0, "{}", brand.name);
            assert!(brand.dishes.len() >= 4, "{} has a real menu", brand.name);
            let mut names = HashSet::new();
            for dish in brand.dishes {
                assert!(STATIONS.contains(&dish.station), "{dish:?}");
                assert!(dish.weight > 0, "{dish:?}");
                assert!(
                    names.insert(dish.name),
                    "{} twice in {}",
                    dish.name,
                    brand.name
                );
            }
        }
        let names: HashSet<&str> = BRANDS.iter().map(|brand| brand.name).collect();
        assert_eq!(names.len(), BRANDS.len());
    }

    #[test]
    fn every_station_cooks_something() {
        for station in STATIONS {
            assert!(
                BRANDS
                    .iter()
                    .flat_map(|brand| brand.dishes)
                    .any(|dish| dish.station == station),
                "{station}"
            );
        }
    }

    #[test]
    fn weighted_picks_follow_the_weights() {
        let mut rng = fastrand::Rng::with_seed(1);
        let choices = [("rare", 1), ("common", 9), ("never", 0)];
        let mut counts: HashMap<&str, u32> = HashMap::new();
        for _ in 0..10_000 {
            let (name, _) = pick_weighted(&mut rng, &choices, |choice| choice.1).unwrap();
            *counts.entry(name).or_default() += 1;
        }
        assert_eq!(counts.get("never"), None);
        let rare = counts["rare"];
        assert!((800..1_200).contains(&rare), "{rare} of 10,000");
        assert!(pick_weighted(&mut rng, &[("none", 0)], |choice| choice.1).is_none());
        assert!(pick_weighted(&mut rng, &[] as &[(&str, u32)], |choice| choice.1).is_none());
    }
}
