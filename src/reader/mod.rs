//! The face-authentication card reader and terminal flow, as a state machine.
