//! A test CA of the project's own (JPKI-TEST names, never real J-LIS material).
