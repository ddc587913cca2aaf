//! The emulated マイナンバーカード IC: pure, synchronous, no I/O — (state, C-APDU) → R-APDU.
