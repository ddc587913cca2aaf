//! Load generation: many concurrent terminals against the qualification system.
