//! The HTTP handlers, one module per part of the API.

pub mod auth;
pub mod commands;
pub mod events;
pub mod params;
pub mod queries;
