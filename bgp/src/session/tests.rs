//! Unit tests of the session FSM on a virtual clock.
