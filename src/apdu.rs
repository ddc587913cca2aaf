//! ISO 7816-4 command and response APDUs, status words, short and extended parsing.
