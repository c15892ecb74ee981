//! HTTP routers.

pub mod orders_router;
