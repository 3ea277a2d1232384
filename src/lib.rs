//! roost: a small peer-to-peer daemon that lets Slips instances on one LAN share what they
//! detect about attackers and decide together, through a trust model, what to believe.
//!
//! The crate is organised in rooms (see `ARCHITECTURE.md`): pure, sans-IO logic (`ioc`,
//! `wire`, `node`, `trust`, `sim`, `arena`) and the only modules allowed to touch the outside
//! world (`net` for sockets, `store` for SQLite, `slips` for Redis, `control` for the CLI
//! socket, `runtime` for threads and signals).

pub mod arena;
pub mod config;
pub mod control;
pub mod identity;
pub mod ioc;
pub mod logs;
pub mod net;
pub mod node;
pub mod runtime;
pub mod sim;
pub mod slips;
pub mod store;
pub mod trust;
pub mod wire;
