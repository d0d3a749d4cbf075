//! `netpol-isolation` probe: is a destination reachable from the sources that should reach it,
//! and from no source that should not? Static verdicts from the NetworkPolicy evaluator.

pub mod world;
